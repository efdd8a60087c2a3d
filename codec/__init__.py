"""aecodec: a learned image codec.

Public API (imported lazily, so ``import aecodec`` stays cheap until a function is used)::

    import aecodec
    data = aecodec.compress(image, quality=4)       # PIL image, HxWx3 uint8 array or CHW float tensor
    image = aecodec.decompress(data)                # PIL.Image
    header = aecodec.read_header(data)              # size, mode, model and quality, without decoding
    codec = aecodec.load_codec("hyperprior", quality=4)   # an ImageCodec: reuse it for many images

Subpackages: ``aecodec.models`` (the networks), ``aecodec.training`` (fitting them), ``aecodec.cli`` (the
``aecodec`` command), ``aecodec.benchmarks`` (rate-distortion and speed harnesses).
"""

from .errors import (
    AdapterError,
    AECodecError,
    CheckpointError,
    CorruptStreamError,
    ImageInputError,
    UnknownModelError,
    UnsupportedVersionError,
)

__all__ = [
    "AdapterError",
    "AECodecError",
    "CheckpointError",
    "CorruptStreamError",
    "ImageCodec",
    "ImageInputError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "compress",
    "decompress",
    "load_codec",
    "read_header",
]

_LAZY = {name: "api" for name in ("ImageCodec", "compress", "decompress", "load_codec", "read_header")}


def __getattr__(name: str):
    # PEP 562: the API pulls in torch and CompressAI; load them on first use, not at import.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'aecodec' has no attribute {name!r}")
