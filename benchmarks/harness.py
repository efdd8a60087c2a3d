"""Measure codecs on a set of images: every (codec, quality, image) once, cached on disk.

Every codec is measured the same way: bpp = 8 x bytes of the stored file / pixels (for aecodec the whole .aec
file), PSNR and MS-SSIM on the 8-bit RGB reconstruction, encode and decode wall-clock seconds. A result is
cached under a key made of the codec, its library or checkpoint version, the quality and the image's pixels,
so an interrupted or repeated run only measures what is missing.

    from aecodec.benchmarks import harness, datasets
    rows = harness.measure(datasets.load_default(), {"jpeg": [50, 90], "aecodec": [3, 5]}).rows
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from aecodec.files import atomic_path
from aecodec.zoo import DEFAULT_MODEL_ID

from .codecs import Codec, make_codec
from .datasets import BenchImage
from .metrics import ms_ssim, psnr_db

ROW_FIELDS = ("codec", "quality", "image", "width", "height", "bytes", "bpp", "psnr_db", "ms_ssim", "enc_s", "dec_s")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aecodec" / "bench"


class ResultCache:
    """One small JSON file per measured (codec version, quality, image); written atomically."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None

    def _path(self, codec: Codec, image: BenchImage) -> Path:
        key = json.dumps([codec.name, codec.version, codec.quality, image.digest])
        return self.folder / codec.name / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def get(self, codec: Codec, image: BenchImage) -> dict | None:
        if self.folder is None:
            return None
        try:
            row = json.loads(self._path(codec, image).read_text())
        except (OSError, ValueError):
            return None
        return row if set(ROW_FIELDS) <= set(row) else None

    def put(self, codec: Codec, image: BenchImage, row: dict) -> None:
        if self.folder is None:
            return
        with atomic_path(self._path(codec, image), suffix=".tmp") as tmp:
            tmp.write_text(json.dumps(row))


def measure_one(codec: Codec, image: BenchImage) -> dict:
    """Encode and decode one image; the row of figures for it."""
    codec.prepare()  # e.g. loading a checkpoint: not part of coding an image
    t0 = time.perf_counter()
    data = codec.encode(image.rgb)
    t1 = time.perf_counter()
    decoded = codec.decode(data)
    t2 = time.perf_counter()
    if decoded.shape != image.rgb.shape:
        raise RuntimeError(f"{codec.name} q{codec.quality} decoded {image.name} to {decoded.shape}, not {image.rgb.shape}")
    height, width = image.rgb.shape[:2]
    return {
        "codec": codec.name, "quality": codec.quality, "image": image.name, "width": width, "height": height,
        "bytes": len(data), "bpp": 8 * len(data) / image.pixels, "psnr_db": psnr_db(image.rgb, decoded),
        "ms_ssim": ms_ssim(image.rgb, decoded), "enc_s": t1 - t0, "dec_s": t2 - t1,
    }  # fmt: skip


@dataclass
class Measurements:
    rows: list[dict] = field(default_factory=list)
    computed: int = 0
    cached: int = 0


def measure(
    images: list[BenchImage],
    sweeps: dict[str, list[int]],
    *,
    model_id: str = DEFAULT_MODEL_ID,
    checkpoint_dir=None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Measurements:
    """Measure every codec of ``sweeps`` (name -> qualities) on every image, reusing cached results.

    ``cache_dir=None`` measures everything afresh and stores nothing.
    """
    cache = ResultCache(cache_dir)
    result = Measurements()
    total = sum(len(qs) for qs in sweeps.values()) * len(images)
    with tqdm(total=total, disable=not progress, unit="image", dynamic_ncols=True) as bar:
        for name, qualities in sweeps.items():
            for quality in qualities:
                codec = make_codec(name, quality, model_id=model_id, checkpoint_dir=checkpoint_dir)
                bar.set_description(f"{name} q{quality}")
                for image in images:
                    row = cache.get(codec, image)
                    if row is None:
                        row = measure_one(codec, image)
                        cache.put(codec, image, row)
                        result.computed += 1
                    else:
                        row = {**row, "image": image.name}  # same pixels may come under another name
                        result.cached += 1
                    result.rows.append(row)
                    bar.update(1)
                    bar.set_postfix(measured=result.computed, cached=result.cached)
    return result
