"""Images to benchmark on: a folder of lossless images, or photos that scikit-image ships (no download)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LOSSLESS_SUFFIXES = (".png", ".ppm", ".pnm", ".bmp", ".tif", ".tiff")

#: The built-in default: colour natural photographs bundled with scikit-image.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@dataclass(frozen=True)
class BenchImage:
    name: str
    rgb: np.ndarray  # HxWx3 uint8
    digest: str  # sha256 of the pixels: the cache key, so a changed file is measured again

    @property
    def pixels(self) -> int:
        return self.rgb.shape[0] * self.rgb.shape[1]


def _bench_image(name: str, rgb: np.ndarray) -> BenchImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    digest = hashlib.sha256(f"{rgb.shape}".encode() + rgb.tobytes()).hexdigest()[:16]
    return BenchImage(name, rgb, digest)


def load_folder(folder: str | Path) -> list[BenchImage]:
    """Every lossless image in ``folder`` (sorted by name), as 8-bit RGB."""
    from aecodec.images import list_images

    out = []
    for path in list_images(folder, LOSSLESS_SUFFIXES, what="dataset"):
        with Image.open(path) as img:
            out.append(_bench_image(path.stem, np.asarray(img.convert("RGB"))))
    return out


def load_default() -> list[BenchImage]:
    """scikit-image's colour sample photographs (installed with the package, nothing downloaded)."""
    from skimage import data

    return [_bench_image(name, getattr(data, name)()) for name in SKIMAGE_PHOTOS]
