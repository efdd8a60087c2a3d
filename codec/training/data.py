"""Training data: random crops from a folder of photos, decoded once and kept in memory.

Decoding PNGs on every step would starve two CPU cores, so every image is decoded once into a uint8 tensor
(the 525 training photos take about 0.4 GB) and batches are cut from memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import list_images

def is_validation(path: Path, fraction: float) -> bool:
    """Assign a file to the validation split by a hash of its name: stable across machines and runs,
    and unaffected by files being added to the folder."""
    digest = hashlib.sha256(path.name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def split_files(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Split into (train, validation); both are non-empty when there are at least two files."""
    val = [p for p in files if is_validation(p, val_fraction)]
    train = [p for p in files if not is_validation(p, val_fraction)]
    if len(files) >= 2 and not val:
        val, train = train[-1:], train[:-1]
    if len(files) >= 2 and not train:
        train, val = val[:1], val[1:]
    return train, val


def training_split(
    train_dir: str | Path, val_dir: str | Path | None, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """(train, validation) files: the photos of ``train_dir`` split by :func:`split_files`, or, given a
    ``val_dir``, all of ``train_dir`` for training and all of ``val_dir`` for validation (a packed data set whose
    validation images were cut beforehand, tools/gpu)."""
    if val_dir is None:
        return split_files(list_images(train_dir), val_fraction)
    val_files = list_images(val_dir)
    if not val_files:
        raise ValueError(f"no images in the validation folder {val_dir}")
    return list_images(train_dir), val_files


def load_rgb(path: Path) -> torch.Tensor:
    """Decode an image file to a 3xHxW uint8 tensor."""
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class CropSampler:
    """Random crops (with random horizontal and vertical flips) from images held in memory.

    Args:
        files: image files; every one must be at least ``crop_size`` on each side (smaller ones are skipped).
        crop_size: side of the square crops.
        generator: the source of randomness, so a seeded run repeats exactly.
        device: where the images are kept and the crops cut (a GPU: no copy per batch).
    """

    def __init__(
        self, files: list[Path], crop_size: int, generator: torch.Generator, device: str | torch.device = "cpu"
    ) -> None:
        self.crop_size = crop_size
        self.generator = generator
        images = (load_rgb(p) for p in files)
        self.images = [img.to(device) for img in images if min(img.shape[1:]) >= crop_size]
        if not self.images:
            raise ValueError(f"no training image is at least {crop_size}x{crop_size}")

    def batch(self, batch_size: int) -> torch.Tensor:
        """A float batch of shape (batch_size, 3, crop, crop) in [0, 1]."""
        c = self.crop_size
        picks = torch.randint(len(self.images), (batch_size,), generator=self.generator).tolist()
        crops = []
        for i in picks:
            img = self.images[i]
            top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=self.generator))
            left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=self.generator))
            crop = img[:, top : top + c, left : left + c]
            flips = torch.rand(2, generator=self.generator)
            if flips[0] < 0.5:
                crop = crop.flip(2)
            if flips[1] < 0.5:
                crop = crop.flip(1)
            crops.append(crop)
        return torch.stack(crops).float().div_(255.0)


#: The default side multiple of validation crops: the hyperprior's downsampling factor (y and z whole), which
#: also suits the factorized models' 16.
VALIDATION_MULTIPLE = 64


def centre_side(sizes: list[int], crop_size: int, multiple: int) -> int:
    """The side of the validation crops: ``crop_size``, or, when an image is smaller, the largest multiple of
    ``multiple`` (the model's downsampling factor, so every latent stays whole) that fits the smallest side."""
    side = min([crop_size] + [s // multiple * multiple for s in sizes])
    if side < multiple:
        raise ValueError(f"validation images must be at least {multiple}x{multiple}")
    return side


def center_crops(files: list[Path], crop_size: int, multiple: int = VALIDATION_MULTIPLE) -> torch.Tensor:
    """Fixed validation crops: the centre square of each image, of :func:`centre_side`'s side."""
    images = [load_rgb(p) for p in files]
    side = centre_side([min(img.shape[1:]) for img in images], crop_size, multiple)
    crops = []
    for img in images:
        h, w = img.shape[1:]
        top, left = (h - side) // 2, (w - side) // 2
        crops.append(img[:, top : top + side, left : left + side])
    return torch.stack(crops).float().div_(255.0)
