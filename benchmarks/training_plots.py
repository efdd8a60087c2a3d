"""Plots of training logs (log.csv from aecodec.training.train): loss, bpp and PSNR against step, train and validation.

    python -m aecodec.benchmarks.training_plots benchmarks/results/training/*.csv   # writes a .png beside each
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def read_log(path: Path) -> dict[str, dict[str, list[float]]]:
    """split -> column -> values, for the numeric columns of a training log."""
    out: dict[str, dict[str, list[float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            split = out.setdefault(row["split"], {})
            for key in ("step", "loss", "bpp", "psnr_db"):
                split.setdefault(key, []).append(float(row[key]))
    return out


def plot_log(csv_path: Path | str, png_path: Path | str | None = None) -> Path:
    """Three panels (loss, bpp, PSNR) against step; returns the PNG path (default: beside the CSV)."""
    csv_path = Path(csv_path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_path = Path(png_path) if png_path else csv_path.with_suffix(".png")
    log = read_log(csv_path)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
    for ax, key, label in zip(axes, ("loss", "bpp", "psnr_db"), ("RD loss", "bpp", "PSNR (dB)")):
        for split, style in (("train", "-"), ("val", "o-")):
            if split in log:
                ax.plot(log[split]["step"], log[split][key], style, markersize=3, label=split)
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].legend()
    fig.suptitle(csv_path.stem)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(plot_log(Path(arg)))
