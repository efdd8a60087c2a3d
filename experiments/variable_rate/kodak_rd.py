"""Rate-distortion of the variable-rate prototype (train_vr.py) on a folder of images, with real entropy coding.

For each image and level: y = g_a(x); z is coded with the entropy bottleneck; the scales h_s(z_hat) * g_l pick
the Gaussian tables (CompressAI's float build_indexes: the shipped coder's integer hyper-synthesis is not wired
to the gains yet, and measured 0.02% apart in size on the ladder); y * g_l is rANS coded; the decoder's
round(y * g_l) / g_l goes through g_s. bpp counts the bytes of a whole .aec container around the two strings
(container.pack), PSNR is on the 8-bit RGB output; both are averaged per level over the images, then the
BD-rate against the codecs of a committed ``aecodec bench`` summary.json (same images) is computed::

    python experiments/variable_rate/kodak_rd.py CHECKPOINT --images path/to/kodak --ladder \\
        --bench benchmarks/results/kodak/summary.json --out benchmarks/results/variable_rate/kodak.json

``--ladder`` codes the shipped hyperprior ladder the same way, for the bits of z at each level.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from aecodec import container, zoo
from aecodec.benchmarks.report import bd_rate_percent, curve
from aecodec.checkpoint import load_final, safe_load
from aecodec.config import QUALITY_LAMBDAS, ModelConfig
from aecodec.images import list_images
from aecodec.metrics import psnr_db
from aecodec.models import build_model

#: Anchors of the BD-rate table, by their names in the bench summary.
ANCHORS = ("jpeg", "webp", "avif", "aecodec-hyperprior", "aecodec-factorized")


def load_variable_rate(path: Path) -> tuple[torch.nn.Module, torch.Tensor, dict]:
    """The hyperprior (entropy tables built from the loaded weights), its gains (levels, M), and the checkpoint."""
    ckpt = safe_load(path)
    model = build_model(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["model"].items()})
    model.update(force=True)
    return model.eval(), ckpt["log_gain"].float().exp(), ckpt


@torch.no_grad()
def code_image(model, gain: torch.Tensor, rgb: np.ndarray, level: int) -> tuple[int, int, np.ndarray]:
    """(bytes of the .aec stream, bytes of its z string, decoded H x W x 3 uint8) of one image at one level
    (0-based). The z string is shared side information whose size says how level-aware the hyper path is."""
    h, w = rgb.shape[:2]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    pad_h, pad_w = -h % model.downsampling_factor, -w % model.downsampling_factor
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    g = gain[level].reshape(1, -1, 1, 1)
    y = model.g_a(x)
    z = model.hyper_analysis(y)
    z_strings = model.entropy_bottleneck.compress(z)
    z_hat = model.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
    indexes = model.gaussian_conditional.build_indexes(model.h_s(z_hat) * g)
    y_strings = model.gaussian_conditional.compress(y * g, indexes)
    y_hat = model.gaussian_conditional.decompress(y_strings, indexes)
    x_hat = model.g_s(y_hat / g).clamp_(0, 1)[..., :h, :w]
    decoded = (x_hat[0] * 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    header = container.Header("hyperprior-vr", level + 1, w, h, "RGB", tuple(y.shape[-2:]), container.MAX_TILE)
    return len(container.pack(header, [z_strings[0], y_strings[0]])), len(z_strings[0]), decoded


def measure_level(model, gain: torch.Tensor, files: list[Path], level: int) -> dict:
    """Mean bpp, PSNR and z bpp of one level over the images."""
    rows = []
    for path in files:
        rgb = np.array(Image.open(path).convert("RGB"))  # writable: torch.from_numpy shares it
        size, z_size, decoded = code_image(model, gain, rgb, level)
        pixels = rgb.shape[0] * rgb.shape[1]
        rows.append((8 * size / pixels, psnr_db(rgb, decoded), 8 * z_size / pixels))
    bpp, psnr, z_bpp = (float(np.mean(v)) for v in zip(*rows))
    print(f"q{level + 1}: {bpp:.4f} bpp {psnr:.3f} dB (z {z_bpp:.4f} bpp)", flush=True)
    return {"quality": level + 1, "images": len(rows), "bpp": bpp, "psnr_db": psnr, "z_bpp": z_bpp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--bench", type=Path, required=True, help="summary.json of an aecodec bench on the same images")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--ladder", action="store_true", help="also code the shipped hyperprior ladder the same way")
    args = parser.parse_args()

    model, gain, ckpt = load_variable_rate(args.checkpoint)
    files = list_images(args.images, what="evaluation")
    start = time.perf_counter()
    points = [measure_level(model, gain, files, level) for level in range(len(QUALITY_LAMBDAS))]
    ladder = []
    if args.ladder:  # each shipped hyperprior q_l through the same path (gain 1): where z's bits differ
        for q in range(1, len(QUALITY_LAMBDAS) + 1):
            entry = zoo.lookup("hyperprior", q)
            ladder.append(measure_level(load_final(entry.path, entry.sha256), torch.ones_like(gain), files, q - 1))
    bench = json.loads(args.bench.read_text())["codecs"]
    bd = {name: bd_rate_percent(curve(bench[name]), curve(points)) for name in ANCHORS if name in bench}
    print("BD-rate: " + ", ".join(f"vs {name} {value:+.1f}%" for name, value in bd.items()))
    result = {
        "checkpoint": {"steps": ckpt["step"], "cpu_hours": round(ckpt["cpu_s"] / 3600, 3),
                       "heldout_mean_ratio_pct": ckpt["mean_ratio_pct"], "lineage": ckpt["lineage"]},
        "images": len(files), "points": points, "ladder_points": ladder, "bd_rate_pct": bd,
        "seconds": round(time.perf_counter() - start, 1),
        "method": __doc__.split("\n\n")[1].replace("\n", " "),
    }  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
