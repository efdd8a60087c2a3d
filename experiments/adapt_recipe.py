"""How fast an adapter's training objective falls on held-out crops, for a few step sizes (with gradient clipping):
the measurement behind ``AdaptConfig``'s lr (docs/models.md, "Per-domain adapters").

For each step size: fresh base model, adapter attached, 120 steps of batches of eight 128-pixel crops (crop i at
level i mod 8, the plain mean of their losses, not normalised per level), and every 30 steps the mean over fixed 256-pixel centre crops
of the held-out images (each at level i mod 8) of the loss against the base model's on the same crop. Runs on a
domain folder written by ``benchmarks/adapt.py`` (its ``train/`` and ``heldout/``):

    OMP_NUM_THREADS=1 python experiments/adapt_recipe.py out/adapt/charts-seed0 decoder
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from aecodec import zoo
from aecodec.checkpoint import load_final
from aecodec.training.adapt import Full, LowRank, attach, coded_loss, level_gains
from aecodec.training.data import CropSampler, center_crops

STEP_SIZES = ((1e-3, 0.1), (2e-4, 0.25), (5e-5, 1.0))  # (lr of the low-rank factors, ratio for the full updates)


def main(folder: Path, kind: str) -> None:
    entry = zoo.lookup("hyperprior-vr", 1)
    train = sorted((folder / "train").glob("*.png"))
    val = center_crops(sorted((folder / "heldout").glob("*.png")), 256)
    val_levels = torch.arange(len(val)) % 8
    for lr, ratio in STEP_SIZES:
        model = load_final(entry.path, entry.sha256).eval()
        gains = level_gains(model)
        with torch.no_grad():
            base = coded_loss(model, val, val_levels, gains)
        generator = torch.Generator().manual_seed(0)
        sampler = CropSampler(train, 128, generator)
        updates = attach(model, kind, 8, generator)
        low = [p for u in updates.values() if isinstance(u, LowRank) for p in u.parameters()]
        full = [p for u in updates.values() if isinstance(u, Full) for p in u.parameters()]
        optimizer = torch.optim.Adam([{"params": low, "lr": lr}, {"params": full, "lr": lr * ratio}])
        ratios = []
        for step in range(121):
            if step % 30 == 0:
                with torch.no_grad():
                    ratios.append(round(float((coded_loss(model, val, val_levels, gains) / base).mean()), 4))
            loss = coded_loss(model, sampler.batch(8), torch.arange(8) % 8, gains).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(low + full, 1.0)
            optimizer.step()
        print(f"{folder.name} {kind} lr {lr:g} (full x{ratio:g}): held-out loss / base every 30 steps {ratios}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
