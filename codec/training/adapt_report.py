"""What an adapter buys on held-out images: real streams of the base model and of the adapted one at a few
qualities, bpp from the stream bytes and PSNR from the decoded 8-bit pixels, and the BD-rate between them.

An encoder-only adapter's streams are decoded by the base model, as any decoder will decode them; a decoder-side
adapter's by the adapted model (with the adapter, as its streams require).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..adapter import Adapter
from ..api import ImageCodec, load_codec
from ..metrics import bd_rate_percent, psnr_db

#: The qualities the report measures: from small files to the best quality, the default (6) among them.
DEFAULT_QUALITIES = (2, 4, 6, 8)


def rd_points(encoder: ImageCodec, decoder: ImageCodec, images: list[np.ndarray], qualities) -> list[dict]:
    """Mean bpp and PSNR over ``images`` (H x W x 3 uint8) at each quality: coded by ``encoder``, decoded by
    ``decoder`` (variable-rate codecs)."""
    points = []
    for quality in qualities:
        enc, dec = encoder.at_quality(quality), decoder.at_quality(quality)
        bpp, psnr = [], []
        for pixels in images:
            data = enc.compress(pixels)
            decoded = np.asarray(dec.decompress(data).convert("RGB"))
            bpp.append(8 * len(data) / (pixels.shape[0] * pixels.shape[1]))
            psnr.append(psnr_db(pixels, decoded))
        points.append({"quality": quality, "bpp": float(np.mean(bpp)), "psnr_db": float(np.mean(psnr))})
    return points


def heldout_report(
    model_id: str,
    adapter: Adapter,
    files: list[Path],
    qualities=DEFAULT_QUALITIES,
    checkpoint_dir: str | Path | None = None,
) -> dict:
    """The base model's and the adapted model's points on ``files`` and the adapter's BD-rate against the
    base (negative: fewer bits at the same PSNR)."""
    images = []
    for path in files:
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB")))
    base = load_codec(model_id, qualities[0], checkpoint_dir=checkpoint_dir)
    adapted = load_codec(model_id, qualities[0], checkpoint_dir=checkpoint_dir, adapter=adapter)
    base_points = rd_points(base, base, images, qualities)
    adapted_points = rd_points(adapted, adapted if adapter.decoder_side else base, images, qualities)

    def curve(points: list[dict]) -> tuple[list[float], list[float]]:
        return [p["bpp"] for p in points], [p["psnr_db"] for p in points]

    bd = bd_rate_percent(curve(base_points), curve(adapted_points))
    return {"images": len(images), "qualities": list(qualities), "base": base_points, "adapted": adapted_points,
            "bd_rate_percent": None if bd is None else round(bd, 2)}  # fmt: skip
