"""Turn measured rows into what users read: per-quality averages, BD-rates, RD plots and files.

BD-rate is :func:`aecodec.metrics.bd_rate_percent` (PCHIP interpolation of log-rate over PSNR, over the PSNR range
both curves cover, as the bjontegaard package's "pchip"): the average bit-rate difference, in percent, of a codec
against an anchor at equal PSNR.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from statistics import mean, median

from ..metrics import bd_rate_percent, bd_rate_window_percent  # noqa: F401 (the one BD-rate; re-exported)

from .harness import ROW_FIELDS

# figures averaged over images (the convention of published Kodak curves); times are medians per image
MEAN_KEYS = ("bpp", "psnr_db", "ms_ssim")
MEDIAN_KEYS = ("enc_s", "dec_s")


def summarize(rows: list[dict]) -> dict[str, list[dict]]:
    """codec -> [per-quality averages], sorted by rate."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["codec"], row["quality"]), []).append(row)
    summary: dict[str, list[dict]] = {}
    for (name, quality), group in groups.items():
        point = {"quality": quality, "images": len(group)}
        for key in MEAN_KEYS:
            values = [r[key] for r in group]
            point[key] = math.nan if any(map(math.isnan, values)) else mean(values)
        point.update({key: median(r[key] for r in group) for key in MEDIAN_KEYS})
        summary.setdefault(name, []).append(point)
    for points in summary.values():
        points.sort(key=lambda p: p["bpp"])
    return summary


def curve(points: list[dict]) -> tuple[list[float], list[float]]:
    return [p["bpp"] for p in points], [p["psnr_db"] for p in points]


def load_published(path: str | Path, names: list[str]) -> dict[str, dict]:
    """Published curves from a JSON file of the form of shared/anchors/kodak_rd.json (name -> bpp/psnr lists)."""
    data = json.loads(Path(path).read_text())
    missing = [n for n in names if n not in data]
    if missing:
        raise ValueError(f"{path} has no curve named {', '.join(missing)}; it has: {', '.join(data)}")
    return {n: data[n] for n in names}


def bd_table(summary: dict[str, list[dict]], published: dict[str, dict] | None = None) -> dict[str, dict]:
    """test codec -> anchor -> BD-rate %, for every pair of measured codecs and every published curve."""
    anchors = {name: curve(points) for name, points in summary.items()}
    for name, pub in (published or {}).items():
        anchors[f"published:{name}"] = (pub["bpp"], pub["psnr"])
    return {
        test: {anchor: bd_rate_percent(ref, curve(points)) for anchor, ref in anchors.items() if anchor != test}
        for test, points in summary.items()
    }


def plot(summary: dict[str, list[dict]], path: Path, metric: str, published: dict[str, dict] | None, title: str):
    """One RD figure with every codec; MS-SSIM is drawn in dB (-10 log10(1 - MS-SSIM)) to spread the top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    to_y = (lambda v: v) if metric == "psnr_db" else (lambda v: -10 * math.log10(max(1 - v, 1e-12)))
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    for name, points in summary.items():
        ys = [to_y(p[metric]) for p in points]
        width = 2 if name.startswith("aecodec") else 1.2
        ax.plot([p["bpp"] for p in points], ys, marker="o", markersize=3, linewidth=width, label=name)
    for name, pub in (published or {}).items():
        key = "psnr" if metric == "psnr_db" else "ms-ssim"
        if pub.get(key):
            ax.plot(pub["bpp"], [to_y(v) for v in pub[key]], linestyle="--", linewidth=1, label=f"{name} (published)")
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel("PSNR (dB, 8-bit RGB)" if metric == "psnr_db" else "MS-SSIM (dB)")
    ax.set_xlim(0, min(3.5, max(p["bpp"] for pts in summary.values() for p in pts) * 1.05))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.1f}%"


def bd_markdown(table: dict[str, dict], summary: dict[str, list[dict]]) -> str:
    """BD-rate against every anchor (columns), with each codec's median time per image."""
    anchors = sorted({a for row in table.values() for a in row}, key=lambda a: (a.startswith("published:"), a))
    lines = ["| codec | " + " | ".join(f"vs {a}" for a in anchors) + " | enc s/image | dec s/image |",
             "|---" * (len(anchors) + 3) + "|"]  # fmt: skip
    for test, row in table.items():
        times = summary[test]
        enc, dec = median(p["enc_s"] for p in times), median(p["dec_s"] for p in times)
        cells = ["—" if a == test else _fmt(row.get(a)) for a in anchors]
        lines.append(f"| {test} | " + " | ".join(cells) + f" | {enc:.3f} | {dec:.3f} |")
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict], meta: dict, published: dict[str, dict] | None = None) -> dict:
    """Write per_image.csv, summary.json, bd_rate.{json,md} and rd_psnr.png / rd_ms_ssim.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["codec"], r["quality"], r["image"]))
    with open(out / "per_image.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items() if k in ROW_FIELDS})
    summary = summarize(rows)
    table = bd_table(summary, published)
    (out / "summary.json").write_text(json.dumps({"meta": meta, "codecs": summary}, indent=2) + "\n")
    (out / "bd_rate.json").write_text(
        json.dumps({"metric": "psnr_db", "method": "bjontegaard pchip", "bd_rate_percent": table}, indent=2) + "\n"
    )
    (out / "bd_rate.md").write_text(bd_markdown(table, summary))
    title = f"{meta.get('dataset', '')}: {meta.get('images', '?')} images"
    plot(summary, out / "rd_psnr.png", "psnr_db", published, title)
    plot(summary, out / "rd_ms_ssim.png", "ms_ssim", published, title)
    return {"summary": summary, "bd_rate": table}


def save_result(result: dict, out: Path | None) -> None:
    """Print a benchmark's result as JSON, and write it to ``out`` (its folder made) when given."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
