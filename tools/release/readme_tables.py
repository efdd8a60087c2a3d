"""Print the README's per-quality tables from the committed figures, so they are pasted, not retyped.

    python tools/release/readme_tables.py                      # ladder table (MANIFEST) and Kodak RD table (bench)
    python tools/release/readme_tables.py --results benchmarks/results/skimage

The ladder table comes from checkpoints/MANIFEST.json (lambda, Kodak bpp/PSNR measured when shipping, steps and
training time including what a model inherited; a retired family's from its record in the "retired" table, as
docs/models.md keeps the factorized ladder's history); the RD table from the benchmark's summary.json (the same
models, measured by `aecodec bench`, plain and with --refine). The BD-rate table is bd_rate.md, as written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FAMILIES = ("hyperprior", "factorized")


def ladder_table(manifest: dict) -> str:
    lines = [
        "| quality | lambda | hyperprior Kodak bpp | PSNR dB | M | steps | CPU min "
        "| factorized Kodak bpp | PSNR dB | M | steps | CPU min |",
        "|---" * 12 + "|",
    ]
    records = {**manifest.get("retired", {}), **manifest["models"]}  # a retired model's record keeps its ladder
    qualities = records[FAMILIES[0]]["qualities"]
    for q in sorted(qualities, key=int):
        cells = [q, f"{qualities[q]['lambda']:g}"]
        for family in FAMILIES:
            entry = records[family]["qualities"][q]
            cells += [
                f"{entry['kodak']['bpp']:.3f}",
                f"{entry['kodak']['psnr_db']:.2f}",
                str(entry["config"]["M"]),
                str(entry["steps"]),
                str(round(entry["train_seconds"] / 60)),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rd_table(summary: dict) -> str:
    codecs = [f"aecodec-{family}{suffix}" for family in FAMILIES for suffix in ("", "-refined")]
    codecs = [c for c in codecs if c in summary]
    header = " | ".join(f"{c.removeprefix('aecodec-')} bpp | PSNR dB" for c in codecs)
    lines = [f"| quality | {header} |", "|---" * (1 + 2 * len(codecs)) + "|"]
    by_quality = {c: {p["quality"]: p for p in summary[c]} for c in codecs}
    for q in sorted({q for points in by_quality.values() for q in points}):
        cells = [f"q{q}"]
        for c in codecs:
            point = by_quality[c].get(q)
            cells += [f"{point['bpp']:.3f}", f"{point['psnr_db']:.2f}"] if point else ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "checkpoints" / "MANIFEST.json")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "kodak")
    args = parser.parse_args()
    print(ladder_table(json.loads(args.manifest.read_text())))
    print()
    print(rd_table(json.loads((args.results / "summary.json").read_text())["codecs"]))


if __name__ == "__main__":
    main()
