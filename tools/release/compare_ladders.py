"""Compare two benchmark runs of aecodec's ladders: what did retraining some models buy?

A BD-rate against JPEG averages over the PSNR range both curves cover, so a ladder whose top model got
better *and* reached a higher PSNR can look worse against JPEG (JPEG is strongest at high rates). This prints,
for each aecodec codec in both runs: the new ladder against the old one directly (their common range), both
against JPEG the usual way, both against JPEG over one fixed PSNR window, and each point against JPEG at its
own PSNR.

    python tools/release/compare_ladders.py --old-rev HEAD                 # committed Kodak results vs the working tree
    python tools/release/compare_ladders.py --old old/summary.json --new benchmarks/results/kodak/summary.json
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from pathlib import Path

from aecodec.benchmarks.report import bd_rate_percent, bd_rate_window_percent, curve

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_NEW = ROOT / "benchmarks" / "results" / "kodak" / "summary.json"


def rate_vs_anchor_at_equal_psnr(anchor: list[dict], point: dict) -> float:
    """Percent more (+) or fewer (-) bits than ``anchor`` needs for ``point``'s PSNR (log-rate interpolated)."""
    from scipy.interpolate import PchipInterpolator

    ordered = sorted(anchor, key=lambda p: p["psnr_db"])
    log_rate = PchipInterpolator([p["psnr_db"] for p in ordered], [math.log(p["bpp"]) for p in ordered])
    return 100 * (point["bpp"] / math.exp(float(log_rate(point["psnr_db"]))) - 1)


def common_psnr_window(ladders: list[list[dict]]) -> tuple[float, float]:
    """The PSNR range every ladder covers, so one fixed window compares them all (ladders grow and shrink)."""
    lows = [min(p["psnr_db"] for p in ladder) for ladder in ladders]
    highs = [max(p["psnr_db"] for p in ladder) for ladder in ladders]
    return math.ceil(max(lows) * 10) / 10, math.floor(min(highs) * 10) / 10


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--old", type=Path, help="summary.json of the earlier run")
    source.add_argument("--old-rev", help="git revision whose committed --new file is the earlier run")
    parser.add_argument("--new", type=Path, default=DEFAULT_NEW)
    parser.add_argument("--anchor", default="jpeg")
    parser.add_argument("--window", type=float, nargs=2, metavar=("LO", "HI"),
                        help="PSNR window (dB) for the fixed-window BD-rate (default: what every ladder covers)")
    args = parser.parse_args()

    if args.old_rev:
        relative = args.new.resolve().relative_to(ROOT)
        text = subprocess.run(["git", "show", f"{args.old_rev}:{relative}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    else:
        text = args.old.read_text()
    old, new = json.loads(text)["codecs"], json.loads(args.new.read_text())["codecs"]
    names = [c for c in new if c.startswith("aecodec-") and c in old]
    lo, hi = args.window or common_psnr_window([runs[name] for runs in (old, new) for name in names])
    for name in names:
        print(name)
        print(f"  new vs old (common range): {fmt(bd_rate_percent(curve(old[name]), curve(new[name])))}")
        for label, runs in (("old", old), ("new", new)):
            usual = bd_rate_percent(curve(runs[args.anchor]), curve(runs[name]))
            window = bd_rate_window_percent(curve(runs[args.anchor]), curve(runs[name]), lo, hi)
            points = " ".join(
                f"q{p['quality']} {rate_vs_anchor_at_equal_psnr(runs[args.anchor], p):+.0f}" for p in runs[name]
            )
            print(f"  {label} vs {args.anchor}: {fmt(usual)}, over {lo:g}-{hi:g} dB {fmt(window)}; per point: {points}")


if __name__ == "__main__":
    main()
