"""Kodak-style RD measurement: aecodec's shipped qualities against Pillow JPEG, measured in one run.

bpp is counted from the bytes a user stores (the whole .aec file, the whole JPEG file); PSNR is computed on the
8-bit RGB reconstruction, per image, then averaged over the images (the convention of the published Kodak
curves). BD-rate uses the bjontegaard package (PCHIP interpolation).

    python -m benchmarks.rd --dataset ../shared/data/kodak --out benchmarks/results/kodak/rd.json
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

JPEG_QUALITIES = tuple(range(5, 100, 5))


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else float("inf")


def load_dataset(folder: Path) -> list[tuple[str, np.ndarray]]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".ppm", ".bmp", ".tif", ".tiff"))
    if not files:
        raise FileNotFoundError(f"no lossless images in {folder}")
    out = []
    for p in files:
        with Image.open(p) as img:
            out.append((p.name, np.asarray(img.convert("RGB"))))
    return out


def jpeg_point(images, quality: int) -> dict:
    """Pillow JPEG at default settings (4:2:0)."""
    bpps, psnrs = [], []
    for _, rgb in images:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        bpps.append(8 * buf.tell() / (rgb.shape[0] * rgb.shape[1]))
        psnrs.append(psnr_db(rgb, decoded))
    return {"quality": quality, "bpp": float(np.mean(bpps)), "psnr_db": float(np.mean(psnrs))}


def aecodec_point(images, codec) -> dict:
    """One aecodec quality: the same bytes ``aecodec encode`` writes, decoded as ``aecodec decode`` does."""
    bpps, psnrs, enc, dec = [], [], [], []
    for _, rgb in images:
        t0 = time.perf_counter()
        data = codec.compress(Image.fromarray(rgb))
        t1 = time.perf_counter()
        decoded = np.asarray(codec.decompress(data).convert("RGB"))
        t2 = time.perf_counter()
        bpps.append(8 * len(data) / (rgb.shape[0] * rgb.shape[1]))
        psnrs.append(psnr_db(rgb, decoded))
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    return {
        "quality": codec.quality, "bpp": float(np.mean(bpps)), "psnr_db": float(np.mean(psnrs)),
        "enc_s": float(np.median(enc)), "dec_s": float(np.median(dec)),
    }  # fmt: skip


def bd_rate_percent(anchor: list[dict], test: list[dict]) -> float | None:
    """BD-rate (%) of ``test`` against ``anchor`` at equal PSNR over the overlapping range (None: no overlap)."""
    import bjontegaard as bd

    lo = max(min(p["psnr_db"] for p in anchor), min(p["psnr_db"] for p in test))
    hi = min(max(p["psnr_db"] for p in anchor), max(p["psnr_db"] for p in test))
    if hi <= lo:
        return None
    return float(
        bd.bd_rate(
            [p["bpp"] for p in anchor], [p["psnr_db"] for p in anchor],
            [p["bpp"] for p in test], [p["psnr_db"] for p in test],
            method="pchip", require_matching_points=False, min_overlap=0.0,
        )
    )  # fmt: skip


def measure(dataset: Path, qualities: list[int], model_id: str = "factorized", checkpoint_dir=None) -> dict:
    from codec.api import load_model

    images = load_dataset(dataset)
    curve = [aecodec_point(images, load_model(model_id, q, checkpoint_dir=checkpoint_dir)) for q in qualities]
    jpeg = [jpeg_point(images, q) for q in JPEG_QUALITIES]
    return {
        "dataset": str(dataset), "images": len(images), "model_id": model_id,
        "aecodec": curve, "jpeg_pillow": jpeg, "bd_rate_vs_jpeg_percent": bd_rate_percent(jpeg, curve),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--qualities", type=int, nargs="*", default=list(range(1, 9)))
    parser.add_argument("--model", default="factorized")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = measure(args.dataset, args.qualities, args.model)
    print(f"{'codec':<10} {'q':>3} {'bpp':>7} {'PSNR dB':>8}")
    for p in result["aecodec"]:
        print(f"{'aecodec':<10} {p['quality']:>3} {p['bpp']:>7.4f} {p['psnr_db']:>8.3f}  enc {p['enc_s']:.3f}s dec {p['dec_s']:.3f}s")
    for p in result["jpeg_pillow"]:
        print(f"{'jpeg':<10} {p['quality']:>3} {p['bpp']:>7.4f} {p['psnr_db']:>8.3f}")
    print(f"BD-rate of aecodec against Pillow JPEG: {result['bd_rate_vs_jpeg_percent']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
