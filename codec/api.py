"""The Python API: compress images to .aec bytes and back.

Load a model once with :func:`load_model` to code many images; :func:`compress` and :func:`decompress` are
one-shot conveniences that load the model they need on each call.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from . import container, images, zoo
from .checkpoint import load_final
from .container import Header
from .errors import CorruptStreamError, ImageInputError

#: Decoding refuses streams that declare more pixels than this (a decompression-bomb guard, like Pillow's
#: MAX_IMAGE_PIXELS); pass ``max_pixels`` to raise it.
DEFAULT_MAX_PIXELS = 40_000_000


class ImageCodec:
    """A loaded model at one quality: codes images to .aec bytes and back.

    Args:
        model: a model with frozen entropy tables (from :func:`codec.checkpoint.load_final`).
        model_id: the id written into every stream (e.g. "factorized").
        quality: the quality level written into every stream.
        device: where the transforms run (entropy coding always runs on the CPU).
    """

    def __init__(self, model: torch.nn.Module, model_id: str, quality: int, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.model_id = model_id
        self.quality = quality
        self.factor = model.downsampling_factor

    def __repr__(self) -> str:
        return f"ImageCodec(model_id={self.model_id!r}, quality={self.quality}, device={str(self.device)!r})"

    def latent_shape(self, width: int, height: int) -> tuple[int, int]:
        return (math.ceil(height / self.factor), math.ceil(width / self.factor))

    @torch.no_grad()
    def compress(self, image) -> bytes:
        """Code an image (PIL image, H x W x 3 uint8 array or C x H x W float tensor) into .aec bytes."""
        prepared = images.prepare(image)
        h, w = prepared.height, prepared.width
        if w > container.MAX_DIMENSION or h > container.MAX_DIMENSION:
            raise ImageInputError(f"image of {w}x{h} exceeds the largest side of {container.MAX_DIMENSION}")
        lat_h, lat_w = self.latent_shape(w, h)
        # Replicate padding up to the model's multiple: smoother than zeros, so the padding costs fewer bits.
        x = F.pad(prepared.rgb, (0, lat_w * self.factor - w, 0, lat_h * self.factor - h), mode="replicate")
        out = self.model.compress(x.to(self.device))
        strings = [s[0] for s in out["strings"]]
        if prepared.alpha is not None:
            strings.append(images.compress_alpha(prepared.alpha))
        header = Header(self.model_id, self.quality, w, h, prepared.mode, tuple(out["shape"]))
        return container.pack(header, strings)

    @torch.no_grad()
    def decompress(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
        """Decode .aec bytes written by this model and quality into a PIL image.

        Raises:
            CorruptStreamError: malformed stream, or one written by another model or quality.
        """
        header, strings = container.unpack(data)
        if (header.model_id, header.quality) != (self.model_id, self.quality):
            raise CorruptStreamError(
                f"stream was written by {header.model_id} quality {header.quality}, "
                f"not {self.model_id} quality {self.quality}"
            )
        check_size(header, max_pixels)
        if header.latent_shape != self.latent_shape(header.width, header.height):
            raise CorruptStreamError(
                f"latent shape {header.latent_shape} does not fit a {header.width}x{header.height} image"
            )
        has_alpha = header.mode in ("LA", "RGBA")
        if len(strings) != 1 + has_alpha:
            raise CorruptStreamError(f"expected {1 + has_alpha} coded strings, found {len(strings)}")
        alpha = None
        if has_alpha:
            try:
                alpha = images.decompress_alpha(strings[1], header.width, header.height)
            except ValueError as exc:
                raise CorruptStreamError(str(exc)) from None
        out = self.model.decompress([[strings[0]]], header.latent_shape)
        x_hat = out["x_hat"][..., : header.height, : header.width]
        return images.to_image(x_hat, header.mode, alpha)


def check_size(header: Header, max_pixels: int | None) -> None:
    """Refuse streams that declare an image larger than ``max_pixels`` (None: no limit)."""
    pixels = header.width * header.height
    if max_pixels is not None and pixels > max_pixels:
        raise CorruptStreamError(
            f"stream declares a {header.width}x{header.height} image ({pixels} pixels), over the limit of "
            f"{max_pixels}; pass max_pixels to decode it anyway"
        )


def load_model(
    model_id: str = zoo.DEFAULT_MODEL_ID,
    quality: int = zoo.DEFAULT_QUALITY,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
) -> ImageCodec:
    """Load a shipped model (sha256-checked) ready to code images.

    Args:
        model_id: model family, see ``aecodec models``.
        quality: 1 (smallest files) .. 8 (best quality).
        device: "cpu" or "cuda".
        checkpoint_dir: folder with MANIFEST.json (default: the installed checkpoints).

    Raises:
        UnknownModelError: no such model id or quality.
        CheckpointError: the checkpoint is missing, damaged or tampered with.
    """
    entry = zoo.lookup(model_id, quality, checkpoint_dir)
    return ImageCodec(load_final(entry.path, expected_sha256=entry.sha256), model_id, quality, device)


def read_header(data: bytes) -> Header:
    """Parse and validate an .aec stream (checksum included) and return its header."""
    header, _ = container.unpack(data)
    return header


def compress(
    image,
    quality: int = zoo.DEFAULT_QUALITY,
    model_id: str = zoo.DEFAULT_MODEL_ID,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
) -> bytes:
    """Code one image into .aec bytes (loads the model; use :func:`load_model` for many images)."""
    return load_model(model_id, quality, device, checkpoint_dir).compress(image)


def decompress(
    data: bytes,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode .aec bytes into a PIL image, loading the model the stream names."""
    header = read_header(data)
    check_size(header, max_pixels)
    codec = load_model(header.model_id, header.quality, device, checkpoint_dir)
    return codec.decompress(data, max_pixels=max_pixels)
