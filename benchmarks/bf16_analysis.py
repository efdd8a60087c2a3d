"""What encoding with the bfloat16 analysis costs in rate-distortion, and what it saves in time.

The codec runs the analysis transform's inner convolutions in bfloat16 where the CPU has native bfloat16
arithmetic (``ImageCodec(bf16_analysis=...)``, see aecodec.models.inference). This codes every image of a folder
at each quality twice, float32 and bfloat16 analysis, in one process, and reports the bits per pixel and PSNR of
each (decoded by the same decoder), the BD-rate of bfloat16 against float32 at equal PSNR, and the median encode
times (each the best of ``--repeats``, the two precisions timed alternately).

    python -m aecodec.benchmarks.bf16_analysis --images ../shared/data/kodak --threads 2 \\
        --out benchmarks/results/bf16_analysis.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aecodec.api import load_codec
from aecodec.images import list_images
from aecodec.metrics import bd_rate_percent, psnr_db
from aecodec.models.inference import native_bfloat16
from aecodec.zoo import DEFAULT_MODEL_ID

from .report import save_result

PRECISIONS = {"float32": False, "bfloat16": True}


def _best_time(fn, repeats: int) -> tuple[object, float]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def measure(images: Path, model_id: str, qualities: list[float], repeats: int) -> dict:
    paths = list_images(images)
    photos = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in paths}
    codecs = {name: load_codec(model_id, qualities[0], bf16_analysis=flag) for name, flag in PRECISIONS.items()}
    curves = {name: {} for name in PRECISIONS}
    times = {name: [] for name in PRECISIONS}
    for quality in qualities:
        at = {name: codec.at_quality(quality) for name, codec in codecs.items()}
        for stem, photo in photos.items():
            for name, codec in at.items():
                stream, seconds = _best_time(lambda: codec.compress(photo), repeats)
                decoded = np.asarray(codec.decompress(stream))
                curves[name].setdefault(stem, []).append(
                    {"quality": quality, "bpp": 8 * len(stream) / (photo.shape[0] * photo.shape[1]),
                     "psnr": psnr_db(photo, decoded)}  # fmt: skip
                )
                times[name].append(seconds)
    mean = {
        name: {
            "bpp": [statistics.fmean(c[i]["bpp"] for c in per_image.values()) for i in range(len(qualities))],
            "psnr": [statistics.fmean(c[i]["psnr"] for c in per_image.values()) for i in range(len(qualities))],
        }
        for name, per_image in curves.items()
    }
    per_image_bd = [
        bd_rate_percent(
            ([p["bpp"] for p in curves["float32"][stem]], [p["psnr"] for p in curves["float32"][stem]]),
            ([p["bpp"] for p in curves["bfloat16"][stem]], [p["psnr"] for p in curves["bfloat16"][stem]]),
        )
        for stem in photos
    ]
    return {
        "what": f"{model_id}: encoding with the analysis's inner convolutions in bfloat16 against float32",
        "images": sorted(photos),
        "qualities": qualities,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, torch {torch.__version__}, native bfloat16: "
        f"{native_bfloat16(torch.device('cpu'))}",
        "bd_rate_bf16_vs_fp32_pct": round(bd_rate_percent(
            (mean["float32"]["bpp"], mean["float32"]["psnr"]), (mean["bfloat16"]["bpp"], mean["bfloat16"]["psnr"])
        ), 4),  # fmt: skip
        "per_image_bd_rate_median_pct": round(statistics.median(v for v in per_image_bd if v is not None), 4),
        "mean_curves": mean,
        "encode_median_s": {name: round(statistics.median(t), 4) for name, t in times.items()},
        "encode_ratio_bf16_vs_fp32": round(
            statistics.median(times["bfloat16"]) / statistics.median(times["float32"]), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL_ID)
    parser.add_argument("--qualities", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = measure(args.images, args.model, [float(q) for q in args.qualities.split(",")], args.repeats)
    save_result(result, args.out)


if __name__ == "__main__":
    main()
