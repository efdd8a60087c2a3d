"""aecodec: a learned image codec.

Public API (imported lazily, so ``import codec`` stays cheap until a function is used)::

    import codec
    data = codec.compress(image, quality=4)      # PIL image, HxWx3 uint8 array or CHW float tensor
    image = codec.decompress(data)               # PIL.Image
    model = codec.load_model("factorized", quality=4)   # reuse one loaded model for many images
"""

from .errors import (
    AECodecError,
    CheckpointError,
    CorruptStreamError,
    ImageInputError,
    UnknownModelError,
    UnsupportedVersionError,
)

__all__ = [
    "AECodecError",
    "CheckpointError",
    "CorruptStreamError",
    "ImageInputError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "compress",
    "decompress",
    "load_model",
    "read_header",
]

_LAZY = {"compress": "api", "decompress": "api", "load_model": "api", "read_header": "api"}


def __getattr__(name: str):
    # PEP 562: the API pulls in torch and CompressAI; load them on first use, not at import.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'codec' has no attribute {name!r}")
