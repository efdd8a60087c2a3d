"""A PyTorch ``Dataset`` over a folder of .aec files, for training pipelines that store their images coded.

::

    from torch.utils.data import DataLoader
    from aecodec.dataset import AecFolder

    dataset = AecFolder("shards/train", transform=lambda x: x.float() / 255)   # C x H x W uint8 -> float
    loader = DataLoader(dataset, batch_size=16, num_workers=4)                 # images of one size: stackable
    for batch in loader:
        ...

Each worker process loads each model it meets once (on its first item), and decodes straight to a uint8
tensor, without a PIL image. The loaded models are never pickled: a worker started by "spawn" gets the file
list only and loads its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from . import container
from .api import load_codec
from .config import DEFAULT_MAX_PIXELS


class AecFolder(Dataset):
    """The .aec files directly inside ``folder`` (sorted by name), decoded to C x H x W uint8 tensors.

    Args:
        folder: where the .aec files are.
        transform: applied to each decoded tensor (e.g. a crop, or a conversion to float).
        device: where the synthesis runs in each worker ("cpu" in DataLoader workers).
        checkpoint_dir: the folder of the models (default: the installed ones, or AECODEC_CHECKPOINTS).
        max_pixels: refuse files that declare a larger image (None: no limit).

    Raises:
        FileNotFoundError: no .aec file in ``folder``.
    """

    def __init__(
        self,
        folder: str | Path,
        transform: Callable[[torch.Tensor], object] | None = None,
        device: str = "cpu",
        checkpoint_dir: str | Path | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.files = sorted(Path(folder).glob("*.aec"))
        if not self.files:
            raise FileNotFoundError(f"no .aec files in {folder}")
        self.transform = transform
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.max_pixels = max_pixels
        self._codecs: dict = {}  # (model id, quality) -> ImageCodec, per process

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        data = self.files[index].read_bytes()
        header = container.peek_header(data)
        key = (header.model_id, header.quality)
        if key not in self._codecs:
            self._codecs[key] = load_codec(*key, device=self.device, checkpoint_dir=self.checkpoint_dir)
        image = self._codecs[key].decompress(data, self.max_pixels, output="torch")
        return self.transform(image) if self.transform is not None else image

    def __getstate__(self) -> dict:
        # Workers load their own models: pickling them would copy every weight into each worker.
        return {**self.__dict__, "_codecs": {}}
