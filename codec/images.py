"""Turning user images into model input and model output back into images.

What happens to each kind of input (documented in the README):

* EXIF orientation is applied, so the coded image is upright.
* Grayscale (1-bit, 8-bit, 16-bit, 32-bit) is coded as gray and comes back as mode "L". Inputs with more
  than 8 bits per sample are reduced to 8 bits (rounded value / 257 for 16-bit data).
* Palette images become RGB (RGBA when the palette has transparency); CMYK, YCbCr, LAB, HSV become RGB.
* Alpha (RGBA, LA, PA) is kept losslessly: it travels beside the coded colour as a zlib-compressed plane.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .errors import ImageInputError
from .inflate import inflate_bounded

_GRAY_MODES = {"1", "L", "P;L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_WIDE_GRAY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


@dataclass
class PreparedImage:
    """A user image split into what the model codes and what travels losslessly beside it.

    Attributes:
        pixels: H x W x 3 uint8 array (8 bits a sample: a huge image stays small until tiles of it become
            float); gray images have three equal channels.
        mode: colour mode to restore on decoding ("L", "LA", "RGB" or "RGBA").
        alpha: H x W uint8 alpha plane, or None.
    """

    pixels: np.ndarray
    mode: str
    alpha: np.ndarray | None

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def to_pil(image) -> Image.Image:
    """Accept a PIL image, an H x W (x 1/3/4) uint8 array or a C x H x W float tensor in [0, 1]."""
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3, 4) or not image.is_floating_point():
            raise ImageInputError(
                f"a tensor image must be C x H x W float in [0, 1] with C in 1, 3, 4; got {tuple(image.shape)} "
                f"{image.dtype}"
            )
        array = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return to_pil(array)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ImageInputError(f"a numpy image must be uint8, got {image.dtype}")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.ndim == 2:
            return Image.fromarray(np.ascontiguousarray(image), "L")
        if image.ndim == 3 and image.shape[2] in (3, 4):
            return Image.fromarray(np.ascontiguousarray(image), "RGB" if image.shape[2] == 3 else "RGBA")
        raise ImageInputError(f"a numpy image must be H x W, H x W x 3 or H x W x 4; got shape {image.shape}")
    raise ImageInputError(f"unsupported image type {type(image).__name__}; use a PIL image, numpy array or tensor")


def _gray_to_8bit(img: Image.Image) -> np.ndarray:
    array = np.asarray(img)
    if img.mode in _WIDE_GRAY_MODES:
        return np.clip(np.rint(array.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    if img.mode == "F":
        return np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L"))


def prepare(image) -> PreparedImage:
    """Normalise any supported image into a :class:`PreparedImage`."""
    img = to_pil(image)
    try:
        img = ImageOps.exif_transpose(img)
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        if img.mode in _GRAY_MODES:
            gray, alpha, mode = _gray_to_8bit(img), None, "L"
        elif img.mode in ("LA", "La"):
            la = np.asarray(img.convert("LA"))
            gray, alpha, mode = la[:, :, 0], la[:, :, 1], "LA"
        elif img.mode in ("RGBA", "RGBa"):
            rgba = np.asarray(img.convert("RGBA"))
            rgb, alpha, mode = rgba[:, :, :3], rgba[:, :, 3], "RGBA"
            gray = None
        else:
            rgb, alpha, mode, gray = np.asarray(img.convert("RGB")), None, "RGB", None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"cannot read image data: {exc}") from None
    if gray is not None:
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageInputError("image has no pixels")
    pixels = np.ascontiguousarray(rgb, dtype=np.uint8)
    return PreparedImage(pixels, mode, None if alpha is None else np.ascontiguousarray(alpha))


def compress_alpha(alpha: np.ndarray) -> bytes:
    """Lossless alpha plane."""
    return zlib.compress(alpha.tobytes(), 9)


def decompress_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`compress_alpha`; never inflates past the declared size (zip bombs).

    Raises:
        ValueError: a damaged plane, or one whose size is not ``width`` x ``height``.
    """
    expected = width * height
    try:
        raw = inflate_bounded(data, expected)
    except ValueError as exc:
        raise ValueError(f"alpha plane is damaged: {exc}") from None
    if len(raw) != expected:
        raise ValueError("alpha plane does not match the image size")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)


def to_pixels(x_hat: torch.Tensor, mode: str) -> np.ndarray:
    """Model output (1, 3, h, w) -> h x w x 3 uint8 (modes RGB, RGBA) or h x w uint8 (modes L, LA)."""
    # A crafted stream can decode to latents so large that the synthesis overflows to NaN; casting NaN to
    # uint8 is undefined (and numpy warns), so make those pixels 0.
    x_hat = torch.nan_to_num(x_hat[0], nan=0.0).clamp_(0, 1).cpu()
    if mode in ("L", "LA"):
        # The three channels of a gray image's reconstruction are nearly equal: their mean is the gray value.
        return np.rint(x_hat.mean(0).numpy() * 255).astype(np.uint8)
    return (x_hat * 255).round_().to(torch.uint8).permute(1, 2, 0).numpy()


def to_array(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Pixels from :func:`to_pixels` (the whole image) and the alpha plane -> H x W x C uint8, C the bands
    of the mode (1 L, 2 LA, 3 RGB, 4 RGBA)."""
    planes = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return planes if alpha is None else np.concatenate([planes, alpha[:, :, None]], axis=2)


def to_image(pixels: np.ndarray, mode: str, alpha: np.ndarray | None) -> Image.Image:
    """Pixels from :func:`to_pixels` (the whole image) and the alpha plane -> PIL image of ``mode``."""
    array = to_array(pixels, alpha)
    return Image.fromarray(array[:, :, 0] if mode == "L" else array, mode)


def load_image(path, name: str | None = None) -> Image.Image:
    """Open an image file (a path or a binary file object, e.g. standard input read into ``io.BytesIO``)
    fully, so truncated files fail here with a clear error; ``name`` stands for it in errors."""
    path_name = name or path
    try:
        with Image.open(path) as img:
            n_frames = getattr(img, "n_frames", 1)
            img.load()
            if n_frames > 1:
                img.info["aecodec_frames"] = n_frames
            return img.copy()
    except FileNotFoundError:
        raise ImageInputError(f"{path_name}: no such file") from None
    except IsADirectoryError:
        raise ImageInputError(f"{path_name}: is a directory, not an image") from None
    except Image.DecompressionBombError as exc:
        raise ImageInputError(f"{path_name}: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageInputError(f"{path_name}: not a readable image ({exc})") from None


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def list_images(folder: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES, what: str = "training") -> list[Path]:
    """All image files (by suffix) directly inside ``folder``, sorted by name; ``what`` names it in errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(suffixes)}) in {folder}")
    return files
