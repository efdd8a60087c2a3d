"""Per-domain adapters measured: for each domain of benchmarks/adapt_domains.py, render its images (seeded), split
them (held-out groups whole), fit an adapter of each kind for a CPU-time budget with the same code as
``aecodec adapt``, and record its held-out BD-rate against the base model, its size and its time.

One JSON per domain and kind goes to ``--out`` (``<domain>-<kind>.json``); ``--summarize`` gathers every JSON
there into ``summary.md`` and ``adapt.png`` (held-out RD curves, base against adapted). Run domains in parallel
processes, one thread each, for the acceptance figures:

    OMP_NUM_THREADS=1 python -m aecodec.benchmarks.adapt --domain charts --minutes 20 &
    OMP_NUM_THREADS=1 python -m aecodec.benchmarks.adapt --domain text-ui --minutes 20 &
    wait; python -m aecodec.benchmarks.adapt --summarize
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from aecodec.adapter import KINDS, SUFFIX
from aecodec.files import atomic_path
from aecodec.training.adapt import AdaptConfig, make_adapter
from aecodec.training.adapt_report import DEFAULT_QUALITIES

from .adapt_domains import DOMAINS, write_domain

RESULTS = Path(__file__).resolve().parent / "results" / "adapt"


def run(domain: str, kind: str, args: argparse.Namespace) -> dict:
    """Render, split, adapt and measure one domain with one kind; returns the result written to JSON."""
    folder = args.work / f"{domain}-seed{args.seed}"
    train, heldout = write_domain(domain, folder, args.count, args.seed, args.heldout)
    config = AdaptConfig(kind=kind, rank=args.rank, minutes=args.minutes, seed=args.seed, lr=args.lr,
                         full_lr_ratio=args.full_lr_ratio, crop_size=args.crop)  # fmt: skip
    bar = tqdm(total=100, desc=f"{domain} {kind}", unit="%", file=sys.stderr, disable=None)

    def progress(fraction: float, step: int, ratio: float) -> None:
        bar.update(int(100 * fraction) - bar.n)
        bar.set_postfix(step=step, loss_ratio=f"{ratio:.3f}", refresh=False)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = make_adapter(train, heldout, folder / f"{domain}-{kind}{SUFFIX}", args.model, config, args.qualities,
                          on_progress=progress)  # fmt: skip
    bar.close()
    return {"domain": domain, "started": started, "images": {"count": args.count, "seed": args.seed,
            "train": len(train), "heldout": len(heldout)}, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "command": " ".join(sys.argv), **result}  # fmt: skip


def summarize(out: Path) -> str:
    """summary.md and adapt.png from every result JSON in ``out``; returns the markdown."""
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    if not results:
        raise FileNotFoundError(f"no results in {out}")
    lines = ["| domain | kind | held-out BD-rate vs base | adapter bytes | CPU min | steps | train / held-out images |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        bd = r["heldout"]["bd_rate_percent"]
        lines.append(f"| {r['domain']} | {r['kind']} | {'n/a' if bd is None else f'{bd:+.1f}%'} | {r['bytes']:,} | "
                     f"{r['cpu_minutes']:.1f} | {r['steps']} | {r['training_images']} / {r['heldout']['images']} |")
    text = "\n".join(lines) + "\n"
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(text)
    _plot(results, out / "adapt.png")
    return text


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    domains = sorted({r["domain"] for r in results})
    figure, axes = plt.subplots(1, len(domains), figsize=(5 * len(domains), 4), squeeze=False)
    for ax, domain in zip(axes[0], domains):
        runs = [r for r in results if r["domain"] == domain]
        base = runs[0]["heldout"]["base"]
        ax.plot([p["bpp"] for p in base], [p["psnr_db"] for p in base], "k-o", label=f"{runs[0]['base_model_id']}")
        for r in runs:
            points = r["heldout"]["adapted"]
            bd = r["heldout"]["bd_rate_percent"]
            label = f"+ {r['kind']} adapter ({'n/a' if bd is None else f'{bd:+.1f}%'}, {r['cpu_minutes']:.0f} CPU min)"
            ax.plot([p["bpp"] for p in points], [p["psnr_db"] for p in points], "-o", label=label)
        ax.set(title=f"{domain}: held-out images", xlabel="bpp", ylabel="PSNR (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--domain", action="append", choices=sorted(DOMAINS), help="domain(s) to run (default: all)")
    p.add_argument("--kind", action="append", choices=sorted(KINDS), help="adapter kind(s) (default: all)")
    p.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training per adapter")
    p.add_argument("--rank", type=int, default=AdaptConfig.rank)
    p.add_argument("--lr", type=float, default=AdaptConfig.lr)
    p.add_argument("--crop", type=int, default=AdaptConfig.crop_size, help="side of the training crops")
    p.add_argument("--full-lr-ratio", type=float, default=AdaptConfig.full_lr_ratio)
    p.add_argument("--model", default="hyperprior-vr", help="the variable-rate model to adapt")
    p.add_argument("--qualities", type=lambda s: tuple(float(q) for q in s.split(",")), default=DEFAULT_QUALITIES)
    p.add_argument("--count", type=int, default=100, help="images per domain")
    p.add_argument("--heldout", type=float, default=0.2, help="share of each domain's groups held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("out/adapt"), help="where images and adapters go")
    p.add_argument("--out", type=Path, default=RESULTS, help="where the result JSONs, summary and plot go")
    p.add_argument("--summarize", action="store_true", help="only gather the JSONs in --out")
    args = p.parse_args()
    if not args.summarize:
        for domain in args.domain or sorted(DOMAINS):
            for kind in args.kind or sorted(KINDS):
                result = run(domain, kind, args)
                with atomic_path(args.out / f"{domain}-{kind}.json") as tmp:
                    tmp.write_text(json.dumps(result, indent=2) + "\n")
                bd = result["heldout"]["bd_rate_percent"]
                print(f"{domain} {kind}: BD-rate {bd}% vs base, {result['bytes']:,} bytes, "
                      f"{result['cpu_minutes']} CPU min, {result['steps']} steps", flush=True)  # fmt: skip
    print(summarize(args.out))


if __name__ == "__main__":
    main()
