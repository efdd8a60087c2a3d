"""Coding speed of aecodec against CompressAI's model of the same family and size, loaded with the same weights,
side by side in one process: same images, same threads, runs interleaved image by image.

For each image: aecodec's ``ImageCodec.compress`` / ``decompress`` (a whole .aec stream, header and CRC
included), and CompressAI's ``ScaleHyperprior(N, M).compress`` / ``decompress`` on the same padded image with
aecodec's state dict loaded (the two architectures have the same parameter names). The variable-rate model
(``--variable-rate``) is timed beside them at the same quality. Figures are medians over images of the best of
``--repeats`` runs each, in seconds, and the ratios aecodec / CompressAI.

    python -m aecodec.benchmarks.speed --images path/to/kodak --threads 2 --out benchmarks/results/speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aecodec import zoo
from aecodec.api import load_codec
from aecodec.images import list_images

#: The six Kodak images the speed issue measures on.
DEFAULT_IMAGES = ("kodim01", "kodim04", "kodim07", "kodim15", "kodim20", "kodim23")


def best_of(repeats: int, fn):
    """(seconds of the fastest of ``repeats`` calls, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def compressai_twin(codec):
    """CompressAI's ScaleHyperprior of the codec's size with the codec's weights and entropy tables."""
    from compressai.models import ScaleHyperprior

    config = codec.model.config
    twin = ScaleHyperprior(config.N, config.M)
    twin.load_state_dict(codec.model.state_dict())
    twin.update(force=True)
    return twin.eval()


def padded(rgb: np.ndarray, factor: int) -> torch.Tensor:
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div(255).unsqueeze(0)
    h, w = x.shape[-2:]
    return torch.nn.functional.pad(x, (0, -w % factor, 0, -h % factor), mode="replicate")


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--names", nargs="*", default=list(DEFAULT_IMAGES))
    p.add_argument("--quality", type=int, default=zoo.DEFAULT_QUALITY)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--variable-rate", action="store_true", help=f"time {zoo.VARIABLE_RATE_MODEL_ID} beside them")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    files = [f for f in list_images(args.images) if not args.names or f.stem in args.names]
    codec = load_codec("hyperprior", args.quality)
    twin = compressai_twin(codec)
    codecs = {"aecodec": codec}
    if args.variable_rate:
        codecs["aecodec-vr"] = load_codec(zoo.VARIABLE_RATE_MODEL_ID, args.quality)
    rows = []
    for path in files:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        row = {"image": path.stem}
        for name, c in codecs.items():
            row[f"{name}_encode_s"], data = best_of(args.repeats, lambda: c.compress(rgb))
            row[f"{name}_decode_s"], _ = best_of(args.repeats, lambda: c.decompress(data))
            row[f"{name}_bytes"] = len(data)
        x = padded(rgb, codec.padding_factor)
        row["compressai_encode_s"], coded = best_of(args.repeats, lambda: twin.compress(x))
        decode = lambda: twin.decompress(coded["strings"], coded["shape"])  # noqa: E731
        row["compressai_decode_s"], _ = best_of(args.repeats, decode)
        rows.append(row)
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)

    medians = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k.endswith("_s")}
    ratios = {f"{name}_{step}_vs_compressai": medians[f"{name}_{step}_s"] / medians[f"compressai_{step}_s"]
              for name in codecs for step in ("encode", "decode")}  # fmt: skip
    result = {
        "what": f"hyperprior q{args.quality} (aecodec, and CompressAI's ScaleHyperprior with its weights)",
        "images": [r["image"] for r in rows], "threads": args.threads, "repeats": args.repeats,
        "machine": f"{platform.machine()}, torch {torch.__version__}",
        "median_seconds": {k: round(v, 4) for k, v in medians.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "per_image": rows,
    }  # fmt: skip
    print(json.dumps({"median_seconds": result["median_seconds"], "ratios": result["ratios"]}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
