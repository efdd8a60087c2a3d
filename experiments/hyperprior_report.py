"""What the hyperprior's integer CDF indexes cost, and how fast each family codes.

For the shipped hyperprior models (or one training run's final.pt) and a folder of images, per quality:

* rate with the integer indexes (what aecodec writes: the whole .aec file) against the float indexes of
  CompressAI's usual path (scales from the float h_s, GaussianConditional.build_indexes), same z and y:
  the symbols are the same either way (round(y), or round(y - means) for a mean-scale model), so only the bits differ;
* bpp / PSNR of the hyperprior and of a factorized checkpoint on the same images;
* median encode and decode seconds per image of both, measured side by side in this process.

    python experiments/hyperprior_report.py --images ../shared/data/kodak --out benchmarks/results/hyperprior_integer.json
    python experiments/hyperprior_report.py --hyperprior runs/hyper/q3/final.pt --qualities 3 --images DIR
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aecodec import container
from aecodec.api import ImageCodec, load_codec
from aecodec.checkpoint import load_final
from aecodec.images import list_images
from aecodec.metrics import psnr_db
from aecodec.tiling import grid


@torch.no_grad()
def float_index_bytes(codec: ImageCodec, data: bytes) -> int:
    """Bytes of the same stream with y coded under float-scale indexes (CompressAI's usual path), as one
    string: the decoded y_hat is the same, only the CDF each symbol is coded with changes."""
    model = codec.model
    header, strings = container.unpack(data)
    side = model.decompress_side(strings[:1], header.latent_shape, layout=header.tile_layout)
    tiles = grid(header.latent_shape, header.tile)
    y_hat = torch.zeros(1, model.config.M, *header.latent_shape)
    for t, string in zip(tiles, strings[1:]):
        y_hat[..., t.top : t.bottom, t.left : t.right] = model.decompress_latent(string, t, side)
    scales, means = model.hyper_synthesis(side.symbols.float() + model.entropy_bottleneck._get_medians().detach())
    indexes = model.gaussian_conditional.build_indexes(scales)
    # a mean-scale model: round(y_hat - float means) gives the same symbols (the means differ by < 1/256)
    y_string = model.gaussian_conditional.compress(y_hat, indexes, means=means)[0]
    tile_bytes = sum(len(s) + 4 for s in strings[1 : 1 + len(tiles)])
    return len(data) - tile_bytes + len(y_string) + 4


def measure(codec: ImageCodec, images: list[Path], repeats: int) -> dict:
    rows, enc, dec = [], [], []
    for path in images:
        image = Image.open(path).convert("RGB")
        original = np.asarray(image)
        for _ in range(repeats):
            t0 = time.perf_counter()
            data = codec.compress(image)
            t1 = time.perf_counter()
            decoded = np.asarray(codec.decompress(data))
            t2 = time.perf_counter()
            enc.append(t1 - t0)
            dec.append(t2 - t1)
        rows.append({"image": path.name, "bytes": len(data), "bpp": 8 * len(data) / original[..., 0].size,
                     "psnr_db": psnr_db(original, decoded), "data": data})  # fmt: skip
    return {
        "bpp": float(np.mean([r["bpp"] for r in rows])), "psnr_db": float(np.mean([r["psnr_db"] for r in rows])),
        "enc_s_median": statistics.median(enc), "dec_s_median": statistics.median(dec), "rows": rows,
    }  # fmt: skip


def compare(factorized: ImageCodec, hyper: ImageCodec, images: list[Path], repeats: int) -> dict:
    """Both families at one quality, one after the other in this process (same threads, same images)."""
    report = {}
    for name, codec in (("factorized", factorized), ("hyperprior", hyper)):
        result = measure(codec, images, repeats)
        report[name] = {k: v for k, v in result.items() if k != "rows"}
        if name == "hyperprior":
            integer_bytes = [r["bytes"] for r in result["rows"]]
            float_bytes = [float_index_bytes(codec, r["data"]) for r in result["rows"]]
            pixels = [8 * r["bytes"] / r["bpp"] for r in result["rows"]]
            report[name]["float_index_bpp"] = float(np.mean([8 * b / n for b, n in zip(float_bytes, pixels)]))
            report[name]["integer_vs_float_rate_percent"] = 100 * (sum(integer_bytes) / sum(float_bytes) - 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hyperprior", type=Path, help="final.pt of a hyperprior run (default: the shipped ones)")
    parser.add_argument("--qualities", type=int, nargs="*", default=list(range(1, 9)))
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per image")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    images = list_images(args.images, what="evaluation")
    report = {"threads": torch.get_num_threads(), "images": str(args.images), "qualities": {}}
    for q in args.qualities:
        if args.hyperprior:
            hyper = ImageCodec(load_final(args.hyperprior), "hyperprior", q)
        else:
            hyper = load_codec("hyperprior", q)
        report["qualities"][str(q)] = compare(load_codec("factorized", q), hyper, images, args.repeats)
        print(f"q{q}", json.dumps(report["qualities"][str(q)]), flush=True)
    ratios = [r["hyperprior"]["integer_vs_float_rate_percent"] for r in report["qualities"].values()]
    report["integer_vs_float_rate_percent_mean"] = float(np.mean(ratios))
    print(f"integer indexes cost {report['integer_vs_float_rate_percent_mean']:+.3f}% rate on average", flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
