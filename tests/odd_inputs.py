"""Odd input files for ``aecodec encode``, and what each must give.

Shared by tests/test_odd_inputs.py and experiments/odd_inputs_table.py (which prints what the real CLI does with
each). ``build(name, folder)`` writes the file and returns its path; ``CASES[name]`` says what encoding it
must give: ``("ok", (width, height), mode)`` for the image that decoding the .aec gives back, or
``("error", None, None)`` for a one-line ``error: ...`` and exit status 1.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import natural_like


def _rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(natural_like(width, height, seed), "RGB")


def _png(image: Image.Image, path: Path, **params) -> Path:
    image.save(path, format="PNG", **params)
    return path


def _sixteen_bit_gray(path: Path) -> Path:
    wide = (np.arange(24 * 16, dtype=np.uint32).reshape(16, 24) * 170).astype(np.uint16)
    image = Image.fromarray(wide)  # uint16 -> mode I;16
    return _png(image, path)


def _palette(path: Path, transparent: bool) -> Path:
    image = _rgb(24, 16).quantize(16)
    if transparent:
        return _png(image, path, transparency=0)
    return _png(image, path)


def _cmyk(path: Path, fmt: str) -> Path:
    _rgb(24, 16).convert("CMYK").save(path, format=fmt)
    return path


def _exif_rotated_jpeg(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: the stored 30x10 pixels are shown rotated 90 degrees clockwise
    _rgb(30, 10).save(path, format="JPEG", exif=exif, quality=95)
    return path


def _animated_gif(path: Path) -> Path:
    frames = [_rgb(24, 16, seed).quantize(32) for seed in range(3)]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def _truncated(path: Path, fmt: str) -> Path:
    buf = io.BytesIO()
    _rgb(64, 48).save(buf, format=fmt)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


# name -> (file name, builder, expected)
_TABLE = {
    "1x1 RGB PNG": ("one.png", lambda p: _png(_rgb(1, 1), p), ("ok", (1, 1), "RGB")),
    "1x40 RGB PNG": ("column.png", lambda p: _png(_rgb(1, 40), p), ("ok", (1, 40), "RGB")),
    "40x1 RGB PNG": ("row.png", lambda p: _png(_rgb(40, 1), p), ("ok", (40, 1), "RGB")),
    "16-bit grayscale PNG (I;16)": ("gray16.png", _sixteen_bit_gray, ("ok", (24, 16), "L")),
    "8-bit grayscale PNG (L)": ("gray.png", lambda p: _png(_rgb(24, 16).convert("L"), p), ("ok", (24, 16), "L")),
    "1-bit PNG (mode 1)": ("bilevel.png", lambda p: _png(_rgb(24, 16).convert("1"), p), ("ok", (24, 16), "L")),
    "RGBA PNG": ("rgba.png", lambda p: _png(_rgb(24, 16).convert("RGBA"), p), ("ok", (24, 16), "RGBA")),
    "LA PNG": ("la.png", lambda p: _png(_rgb(24, 16).convert("LA"), p), ("ok", (24, 16), "LA")),
    "CMYK JPEG": ("cmyk_jpeg.jpg", lambda p: _cmyk(p, "JPEG"), ("ok", (24, 16), "RGB")),
    "CMYK TIFF": ("cmyk_tiff.tif", lambda p: _cmyk(p, "TIFF"), ("ok", (24, 16), "RGB")),
    "palette PNG (P)": ("palette.png", lambda p: _palette(p, False), ("ok", (24, 16), "RGB")),
    "palette PNG with transparency": ("palette_t.png", lambda p: _palette(p, True), ("ok", (24, 16), "RGBA")),
    "EXIF orientation 6 JPEG (stored 30x10)": ("rotated.jpg", _exif_rotated_jpeg, ("ok", (10, 30), "RGB")),
    "animated GIF, 3 frames": ("anim.gif", _animated_gif, ("ok", (24, 16), "RGB")),
    "truncated PNG": ("cut_png.png", lambda p: _truncated(p, "PNG"), ("error", None, None)),
    "truncated JPEG": ("cut_jpeg.jpg", lambda p: _truncated(p, "JPEG"), ("error", None, None)),
    "text file named .png": ("text.png", lambda p: (p.write_text("not an image\n"), p)[1], ("error", None, None)),
    "empty file": ("empty.png", lambda p: (p.write_bytes(b""), p)[1], ("error", None, None)),
    "directory": ("folder", _directory, ("error", None, None)),
}

CASES = {name: expected for name, (_, _, expected) in _TABLE.items()}


def build(name: str, folder: Path) -> Path:
    """Write the input of case ``name`` into ``folder`` and return its path."""
    file_name, builder, _ = _TABLE[name]
    return builder(Path(folder) / file_name)
