"""Training throughput (training pixels per second) of one optimisation step, for several set-ups.

Each set-up runs the real ``aecodec.training.train.train_step`` on random crops held in memory, after warm-up steps that
also absorb torch.compile's compilation; the figure is the median over the timed steps. Set-ups are measured
one after another in the same process. With ``--data`` it also times the real data pipeline
(``aecodec.training.data.CropSampler``: photos decoded once into memory, random crops per batch), to show whether it
could starve the training step.

    python -m aecodec.benchmarks.train_speed --data ../shared/data/train --out benchmarks/results/training/throughput.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from aecodec.config import preset
from aecodec.training.distributed import DistributedContext
from aecodec.training.loss import RateDistortionLoss
from aecodec.models import build_model
from aecodec.training.train import StepParts, split_parameters, train_step

# (preset, batch, crop, compiled, channels_last)
SETUPS = (
    ("small", 16, 128, False, False),
    ("small", 16, 128, False, True),
    ("small", 16, 128, True, False),
    ("small", 8, 128, True, False),
    ("small", 4, 256, True, False),
    ("small", 64, 64, True, False),
    ("base", 16, 128, False, False),
    ("base", 16, 128, True, False),
)


def measure(name: str, batch: int, crop: int, compiled: bool, channels_last: bool, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = build_model(preset(name)).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    main_params, aux_params = split_parameters(model)
    parts = StepParts(
        torch.compile(model) if compiled else model, model, RateDistortionLoss(0.013),
        torch.optim.Adam(main_params, lr=1e-4), torch.optim.Adam(aux_params, lr=1e-3),
        main_params, aux_params, 1.0, DistributedContext(),
    )  # fmt: skip
    x = torch.rand(batch, 3, crop, crop).contiguous(memory_format=memory_format)
    t0 = time.perf_counter()
    for _ in range(warmup):
        train_step(parts, x, 1e-4)
    warm_s = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        train_step(parts, x, 1e-4)
        times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    return {
        "preset": name, "batch": batch, "crop": crop, "compiled": compiled, "channels_last": channels_last,
        "threads": torch.get_num_threads(),
        "median_step_s": round(step_s, 4), "mpix_per_s": round(batch * crop * crop / step_s / 1e6, 3),
        "warmup_s": round(warm_s, 1),
    }  # fmt: skip


def time_sampler(folder: Path, batch: int, crop: int, batches: int) -> dict:
    """Seconds to decode the photos into memory once, and the median seconds to draw one batch of crops."""
    from aecodec.images import list_images
    from aecodec.training.data import CropSampler

    t0 = time.perf_counter()
    sampler = CropSampler(list_images(folder), crop, torch.Generator().manual_seed(0))
    load_s = time.perf_counter() - t0
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        sampler.batch(batch)
        times.append(time.perf_counter() - t)
    return {"photos_load_s": round(load_s, 1), "batch": batch, "crop": crop,
            "median_batch_s": round(statistics.median(times), 5)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--data", type=Path, help="training photos: also time the data pipeline")
    args = parser.parse_args()
    report = {"device": "cpu", "threads": torch.get_num_threads()}
    if args.data:
        report["data_pipeline"] = time_sampler(args.data, 16, 128, args.steps)
        print(json.dumps(report["data_pipeline"]), flush=True)
    rows = []
    for setup in SETUPS:
        row = measure(*setup, steps=args.steps, warmup=args.warmup)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**report, "setups": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
