"""The codecs the benchmark compares, behind one small interface.

Each codec turns an HxWx3 uint8 RGB array into the bytes a user would store (a whole file, headers
included) and back. Classical codecs come from maintained libraries: Pillow for JPEG, WebP and AVIF,
imagecodecs for JPEG XL and JPEG 2000. ``version`` goes into the cache key, so a new library or a new
checkpoint never reuses stale results.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from aecodec.config import MAX_QUALITY, MIN_QUALITY
from aecodec.zoo import DEFAULT_MODEL_ID

#: Every quality level of an aecodec model.
AECODEC_QUALITIES = tuple(range(MIN_QUALITY, MAX_QUALITY + 1))

#: Default sweeps. JPEG's matches the published Pillow curve (quality 5..95 step 5); the others are dense
#: enough for smooth PCHIP curves over 0.1-3 bpp on Kodak. JPEG 2000's "quality" is OpenJPEG's target PSNR.
DEFAULT_QUALITIES: dict[str, tuple[int, ...]] = {
    "aecodec": AECODEC_QUALITIES,
    "jpeg": tuple(range(5, 100, 5)),
    "webp": tuple(range(5, 100, 10)),
    "avif": tuple(range(5, 100, 10)),
    "jxl": tuple(range(5, 100, 10)),
    "jpeg2000": tuple(range(22, 48, 2)),
    # one aecodec model family by name, so that families can be compared in one run (the factorized family
    # was retired in 0.2.0: it needs a checkpoint folder that has it, and the shipped one says where it went)
    "aecodec-factorized": AECODEC_QUALITIES,
    "aecodec-hyperprior": AECODEC_QUALITIES,
    # the variable-rate model (its alias): the levels by default, any quality between with --qualities
    "aecodec-hyperprior-vr": AECODEC_QUALITIES,
    # the same with encoder-side refinement (codec/refine.py, its default steps): slow encoding
    "aecodec-factorized-refined": AECODEC_QUALITIES,
    "aecodec-hyperprior-refined": AECODEC_QUALITIES,
}
CODEC_NAMES = tuple(DEFAULT_QUALITIES)
#: What a plain ``aecodec bench`` measures: aecodec (the model chosen by ``model_id``) and the classical codecs.
DEFAULT_CODECS = ("aecodec", "jpeg", "webp", "avif", "jxl", "jpeg2000")


@dataclass
class Codec:
    """One codec at one quality setting: ``encode(rgb) -> bytes`` and ``decode(bytes) -> rgb``."""

    name: str
    quality: int
    version: str
    extension: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]
    prepare: Callable[[], object] = field(default=lambda: None)  # one-off set-up, kept out of the timings


def _pillow_codec(name: str, fmt: str, extension: str, quality: int, **options) -> Codec:
    import PIL

    def encode(rgb: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, quality=quality, **options)
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))

    return Codec(name, quality, f"Pillow {PIL.__version__} {options}", extension, encode, decode)


def _imagecodecs_module():
    try:
        import imagecodecs
    except ImportError:
        raise RuntimeError("JPEG XL and JPEG 2000 need imagecodecs: pip install 'aecodec[bench]'") from None
    return imagecodecs


def _jxl(quality: int) -> Codec:
    ic = _imagecodecs_module()
    # level is libjxl's quality (mapped to a butteraugli distance); effort 7 is libjxl's default
    return Codec(
        "jxl", quality, f"imagecodecs {ic.__version__} libjxl effort 7", ".jxl",
        lambda rgb: bytes(ic.jpegxl_encode(rgb, level=quality, effort=7)),
        lambda data: np.asarray(ic.jpegxl_decode(data)),
    )  # fmt: skip


def _jpeg2000(quality: int) -> Codec:
    ic = _imagecodecs_module()
    # OpenJPEG's rate control by target PSNR (dB); stored as a .jp2 file
    return Codec(
        "jpeg2000", quality, f"imagecodecs {ic.__version__} OpenJPEG jp2", ".jp2",
        lambda rgb: bytes(ic.jpeg2k_encode(rgb, level=quality)),
        lambda data: np.asarray(ic.jpeg2k_decode(data)),
    )  # fmt: skip


def _aecodec(quality: float, model_id: str, checkpoint_dir, name: str = "aecodec", refine_steps: int = 0) -> Codec:
    from aecodec import container, refine, zoo

    entry = zoo.lookup(model_id, quality, checkpoint_dir)  # cheap: the cache key needs no model
    sha256 = entry.sha256
    loaded = []

    def model():
        if not loaded:  # load on first use, so a fully cached run never loads a checkpoint
            from aecodec.api import load_codec

            loaded.append(load_codec(model_id, quality, checkpoint_dir=checkpoint_dir, refine_steps=refine_steps))
        return loaded[0]

    version = f"{entry.model_id} sha256 {sha256} format {container.FORMAT_VERSION}"  # an alias resolved
    if refine_steps:
        version += f" refine {refine_steps} steps lr {refine.DEFAULT_LR} cosine window {refine.WINDOW}"
    # the same calls `aecodec encode` / `aecodec decode` make, so the bytes are those of a .aec file
    return Codec(
        name, quality, version, ".aec",
        lambda rgb: model().compress(Image.fromarray(rgb)),
        lambda data: np.asarray(model().decompress(data).convert("RGB")),
        prepare=model,
    )  # fmt: skip


def make_codec(name: str, quality: int, *, model_id: str = DEFAULT_MODEL_ID, checkpoint_dir=None) -> Codec:
    """Build codec ``name`` at ``quality``; ``model_id``/``checkpoint_dir`` select aecodec's model.

    ``aecodec-factorized`` / ``aecodec-hyperprior`` name a model family directly, whatever ``model_id`` says;
    with ``-refined`` after it, that family encodes with refinement (``aecodec.refine.DEFAULT_STEPS`` steps).
    """
    if name == "jpeg":
        return _pillow_codec("jpeg", "JPEG", ".jpg", quality)  # Pillow defaults: 4:2:0, baseline
    if name == "webp":
        return _pillow_codec("webp", "WEBP", ".webp", quality)  # lossy, Pillow's default method 4
    if name == "avif":
        return _pillow_codec("avif", "AVIF", ".avif", quality)  # Pillow's defaults (4:2:0, speed 6)
    if name == "jxl":
        return _jxl(quality)
    if name == "jpeg2000":
        return _jpeg2000(quality)
    if name == "aecodec":
        return _aecodec(quality, model_id, checkpoint_dir)
    if name.startswith("aecodec-") and name.endswith("-refined") and name in CODEC_NAMES:
        from aecodec.refine import DEFAULT_STEPS

        family = name.removeprefix("aecodec-").removesuffix("-refined")
        return _aecodec(quality, family, checkpoint_dir, name, refine_steps=DEFAULT_STEPS)
    if name.startswith("aecodec-") and name in CODEC_NAMES:
        return _aecodec(quality, name.removeprefix("aecodec-"), checkpoint_dir, name)
    raise ValueError(f"unknown codec {name!r}; valid: {', '.join(CODEC_NAMES)}")
