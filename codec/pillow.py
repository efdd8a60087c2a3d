"""A Pillow plugin for .aec files: ``import aecodec.pillow`` and ``Image.open``/``im.save`` handle them.

The pattern of Pillow's ``QoiImagePlugin`` and of pillow-heif / pillow-avif::

    import aecodec.pillow  # registers the "AEC" format (or call aecodec.pillow.register())
    from PIL import Image

    im = Image.open("photo.aec")   # reads the header only: size, mode, im.info["model"/"quality"/"bpp"]
    im.load()                      # decodes (the model is loaded once per model and quality)
    im.save("copy.aec", quality=3, model="hyperprior")

A stream is decoded whole (the model reconstructs all of it at once), so ``load()`` decodes it and hands
the pixels to Pillow's "raw" tile decoder, as Pillow's own WebP plugin does. Importing this module loads
neither torch nor a model; the first ``load()`` or ``save()`` does.
"""

from __future__ import annotations

import functools
import io
import os

from PIL import Image, ImageFile, UnidentifiedImageError

from . import container, zoo
from .config import MAX_QUALITY, MIN_QUALITY, exact_quality
from .errors import AdapterError, AECodecError, UnknownModelError

FORMAT = "AEC"
EXTENSION = ".aec"
MIME = "image/x-aec"



def _accept(prefix: bytes) -> bool:
    return prefix[: len(container.MAGIC)] == container.MAGIC


@functools.lru_cache(maxsize=4)
def _codec(model_id: str, quality: int, checkpoint_dir: str):
    """A loaded codec per model, quality and checkpoint folder: opening many files loads each model once.
    (The folder is in the key because ``AECODEC_CHECKPOINTS`` may change between calls.)"""
    from .api import load_codec  # torch: only when an image is decoded or saved

    return load_codec(model_id, quality, checkpoint_dir=checkpoint_dir)


def _loaded_codec(model_id: str, quality: int):
    return _codec(model_id, quality, str(zoo.checkpoint_dir()))


class AecImageFile(ImageFile.ImageFile):
    """An opened .aec file: the header is parsed by ``_open``, the pixels decoded by ``load``."""

    format = FORMAT
    format_description = "aecodec learned image"

    def _open(self) -> None:
        try:
            header = container.peek_header(self.fp.read(container.MAX_HEADER_BYTES))  # the header, no more
        except AECodecError as exc:
            # Not SyntaxError: Image.open would swallow it and say only "cannot identify image file".
            raise UnidentifiedImageError(f"cannot identify image file {self.filename!r}: {exc}") from exc
        self.fp.seek(0, os.SEEK_END)
        size_bytes = self.fp.tell()
        self._size = (header.width, header.height)
        self._mode = header.mode
        self.info.update(model=header.model_id, quality=header.quality, bpp=8 * size_bytes / (header.width * header.height))
        self.header = header
        self.tile = []  # no tiles until load() has decoded the stream
        self._decoded = False

    def _read_stream(self) -> bytes:
        if self.fp is None:
            raise ValueError("the .aec file is closed")
        self.fp.seek(0)
        return self.fp.read()

    def verify(self) -> None:
        """Check the whole stream (every field, length and the CRC32) without decoding it; like every
        Pillow ``verify``, call it right after ``Image.open`` and open the file again to use the image.

        Raises:
            SyntaxError: the stream is damaged (as PNG's ``verify`` raises), with aecodec's message.
        """
        try:
            container.unpack(self._read_stream())
        except AECodecError as exc:
            raise SyntaxError(f"broken .aec file: {exc}") from exc
        super().verify()

    def load(self):
        if not self._decoded:
            data = self._read_stream()
            try:
                image = _loaded_codec(self.header.model_id, self.header.quality).decompress(data, max_pixels=None)
            except UnknownModelError as exc:  # a sound file of a model this version lacks (e.g. retired)
                raise OSError(f"cannot decode {self.filename or 'the .aec file'}: {exc}") from exc
            except AdapterError as exc:  # not broken: it needs an adapter file (aecodec.decompress(adapter=...))
                raise OSError(str(exc)) from exc
            except AECodecError as exc:
                raise OSError(f"broken .aec file: {exc}") from exc
            self._decoded = True
            if self._exclusive_fp:
                self.fp.close()
            self.fp = io.BytesIO(image.tobytes())
            self.tile = [ImageFile._Tile("raw", (0, 0, *self.size), 0, self.mode)]
        return super().load()

    def load_seek(self, pos: int) -> None:
        pass  # the raw pixels of load() start at 0 in their own buffer


def _save(im: Image.Image, fp, filename) -> None:
    """Pillow's save handler: ``im.save(f, "AEC", quality=1..8, model="hyperprior")``; the variable-rate
    model (``model="hyperprior-vr"``) takes any quality between, e.g. 3.5."""
    quality = im.encoderinfo.get("quality", zoo.DEFAULT_QUALITY)
    model_id = im.encoderinfo.get("model", zoo.DEFAULT_MODEL_ID)
    if isinstance(quality, bool) or not isinstance(quality, (int, float)):
        raise ValueError(f"quality must be a number {MIN_QUALITY}..{MAX_QUALITY}, got {quality!r}")
    fp.write(_loaded_codec(model_id, exact_quality(quality)).compress(im))


def register() -> None:
    """Register the format with Pillow (done on import; calling it again is harmless)."""
    Image.register_open(FORMAT, AecImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)


register()
