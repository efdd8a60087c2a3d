"""Choose the encoder-side refinement settings (codec/refine.py) on held-out training photos, never on Kodak.

For each (steps, learning rate) setting, codes the validation photos of the training folder (the 5% held
out by name hash) with and without refinement, really (bytes of the .aec stream, PSNR of the decoded
image), and reports the mean change in size and PSNR, and the model's own loss lambda * 255^2 * MSE + bpp:

    python experiments/refine_tuning.py --data ../shared/data/train --images 6 --qualities 2 6 \\
        --settings 10:0.005 30:0.003 --out benchmarks/results/refine_tuning.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from aecodec.api import load_codec
from aecodec.config import lambda_for_quality
from aecodec.images import list_images
from aecodec.metrics import psnr_from_mse
from aecodec.training.data import split_files
from aecodec.refine import DEFAULT_LR


def measure(codec, image: Image.Image) -> dict:
    """Code and decode one image: bpp, PSNR and encoding seconds."""
    start = time.perf_counter()
    data = codec.compress(image)
    seconds = time.perf_counter() - start
    original = np.asarray(image, dtype=np.float64)
    decoded = np.asarray(codec.decompress(data), dtype=np.float64)
    mse = float(np.mean((original - decoded) ** 2))
    return {"bpp": 8 * len(data) / (image.width * image.height), "mse": mse, "enc_s": seconds}


def summarise(plain: list[dict], refined: list[dict], lmbda: float) -> dict:
    def loss(rows):  # the training objective: lambda * 255^2 * MSE on the [0, 1] scale = lambda * MSE on 0..255
        return float(np.mean([lmbda * r["mse"] + r["bpp"] for r in rows]))

    def psnr(rows):
        return float(np.mean([psnr_from_mse(r["mse"], 255.0) for r in rows]))

    return {
        "bpp_change_pct": 100 * (np.mean([r["bpp"] for r in refined]) / np.mean([r["bpp"] for r in plain]) - 1),
        "psnr_change_db": psnr(refined) - psnr(plain),
        "loss_plain": loss(plain), "loss_refined": loss(refined),
        "enc_s_plain": float(np.median([r["enc_s"] for r in plain])),
        "enc_s_refined": float(np.median([r["enc_s"] for r in refined])),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="the training folder (its held-out part is used)")
    parser.add_argument("--model", default="hyperprior")
    parser.add_argument("--images", type=int, default=6, help="how many held-out photos")
    parser.add_argument("--qualities", type=int, nargs="+", default=[2, 6])
    parser.add_argument("--settings", nargs="+", default=[f"30:{DEFAULT_LR}"], help="STEPS:LR pairs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    _, held_out = split_files(list_images(args.data), 0.05)
    photos = [Image.open(p).convert("RGB") for p in held_out[: args.images]]
    results = []
    for quality in args.qualities:
        plain = [measure(load_codec(args.model, quality), img) for img in photos]
        for setting in args.settings:
            steps, lr = setting.split(":")
            codec = load_codec(args.model, quality, refine_steps=int(steps))
            codec.refine_lr = float(lr)
            refined = [measure(codec, img) for img in photos]
            row = {"quality": quality, "steps": int(steps), "lr": codec.refine_lr,
                   **summarise(plain, refined, lambda_for_quality(quality))}  # fmt: skip
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"model": args.model, "images": [p.name for p in held_out[: args.images]]}
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
