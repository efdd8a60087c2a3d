"""Throughput of batch coding (``ImageCodec.compress_many`` / ``decompress_many``) on a folder of images,
and a check that it gives the same streams and pixels as coding one image at a time.

Images are read into memory first (not timed). Each run times an encode of all of them and a decode of the
streams, one image at a time and then in batches, in the same process; the figures are the median over the
runs, in images per second. The first run's one-at-a-time streams and pixels are the reference every other
run must match.

    python -m aecodec.benchmarks.batch_throughput --data ../shared/data/kodak --threads 2 \\
        --out benchmarks/results/batch_throughput.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aecodec.api import DEFAULT_BATCH, load_codec
from aecodec.images import list_images
from aecodec.zoo import DEFAULT_MODEL_ID, DEFAULT_QUALITY

from .report import save_result


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(data: Path, model_id: str, quality: int, threads: int, runs: int, batch: int) -> dict:
    """Time ``runs`` encodes and decodes of the images in ``data``, in batches and one at a time (alternating,
    so that both see the same machine), and check that both give the same streams and pixels.

    Returns:
        A dict of settings, per-run seconds, median images per second each way and the identity checks.
    """
    torch.set_num_threads(threads)  # a benchmark script owns its process
    images = [Image.open(p).convert("RGB") for p in list_images(data, what="benchmark")]
    codec = load_codec(model_id, quality)
    ways = {
        "single": (lambda: [codec.compress(im) for im in images],
                   lambda streams: [codec.decompress(s, output="numpy") for s in streams]),
        "batch": (lambda: codec.compress_many(images, batch=batch),
                  lambda streams: codec.decompress_many(streams, output="numpy", batch=batch)),
    }  # fmt: skip
    seconds = {f"{way}_{what}_s": [] for way in ways for what in ("enc", "dec")}
    outputs = {}
    for _ in range(runs):
        for way, (encode, decode) in ways.items():
            streams, enc_s = _timed(encode)
            pixels, dec_s = _timed(lambda: decode(streams))
            seconds[f"{way}_enc_s"].append(round(enc_s, 3))
            seconds[f"{way}_dec_s"].append(round(dec_s, 3))
            outputs.setdefault(way, []).append((streams, pixels))
    reference_streams, reference_pixels = outputs["single"][0]
    n = len(images)
    return {
        "data": Path(data).name,  # the folder's name: a path of this machine means nothing elsewhere
        "images": n, "model_id": model_id, "quality": quality, "device": "cpu",
        "threads": threads, "batch": batch, "runs": runs, **seconds,
        **{key.replace("_s", "_images_per_s"): round(n / statistics.median(v), 3) for key, v in seconds.items()},
        "streams_identical": all(streams == reference_streams for way in outputs for streams, _ in outputs[way]),
        "pixels_identical": all(np.array_equal(a, b) for way in outputs for _, pixels in outputs[way]
                                for a, b in zip(pixels, reference_pixels)),
        "bytes": sum(len(s) for s in reference_streams),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder of images")
    parser.add_argument("--model", default=DEFAULT_MODEL_ID)
    parser.add_argument("--quality", type=int, default=DEFAULT_QUALITY)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()
    result = measure(args.data, args.model, args.quality, args.threads, args.runs, args.batch)
    save_result(result, args.out)


if __name__ == "__main__":
    main()
