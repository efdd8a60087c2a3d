"""The built-in demo: code a natural photo that scikit-image ships, with the real CLI, and compare with JPEG.

Writes out/demo/{astronaut.png, astronaut.aec, astronaut.decoded.png} (and the same with ``--refine 40``,
astronaut.refined.*) and prints bpp and PSNR of aecodec next to Pillow JPEG at about the same file size.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from aecodec.metrics import psnr_db

OUT = Path("out/demo")


def jpeg_near(rgb: np.ndarray, target_bytes: int) -> tuple[int, int, float]:
    """(quality, bytes, PSNR) of the Pillow JPEG whose size is closest to ``target_bytes``."""
    best = None
    for q in range(1, 101):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=q)
        size = buf.tell()
        if best is None or abs(size - target_bytes) < abs(best[1] - target_bytes):
            decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
            best = (q, size, psnr_db(rgb, decoded))
    return best


def main() -> None:
    from skimage import data

    OUT.mkdir(parents=True, exist_ok=True)
    rgb = data.astronaut()
    src = OUT / "astronaut.png"
    Image.fromarray(rgb).save(src)
    pixels = rgb.shape[0] * rgb.shape[1]
    lines = []
    for label, name, options in (("default quality", "astronaut", []),
                                 ("--refine 40", "astronaut.refined", ["--refine", "40"])):  # fmt: skip
        aec, dec = OUT / f"{name}.aec", OUT / f"{name}.decoded.png"
        aecodec = [sys.executable, "-m", "aecodec.cli.main"]
        subprocess.run([*aecodec, "encode", str(src), "-o", str(aec), "--force", *options], check=True)
        subprocess.run([*aecodec, "decode", str(aec), "-o", str(dec), "--force"], check=True)
        decoded = np.asarray(Image.open(dec).convert("RGB"))
        size = aec.stat().st_size
        q, jpeg_bytes, jpeg_psnr = jpeg_near(rgb, size)
        lines.append(f"  aecodec ({label + '):':<17} {size:>7,} bytes  {8 * size / pixels:.3f} bpp  "
                     f"{psnr_db(rgb, decoded):.2f} dB")  # fmt: skip
        lines.append(f"  JPEG q{q:<3} (Pillow 4:2:0):  {jpeg_bytes:>7,} bytes  {8 * jpeg_bytes / pixels:.3f} bpp  "
                     f"{jpeg_psnr:.2f} dB")  # fmt: skip
    print(f"\nscikit-image astronaut, {rgb.shape[1]}x{rgb.shape[0]}:")
    print("\n".join(lines))
    print(f"  files in {OUT}/")


if __name__ == "__main__":
    main()
