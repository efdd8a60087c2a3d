"""Pack training photos into a folder small enough to travel to a lent GPU machine (docs/training.md).

What travels to a lent machine is the repository plus at most 64 MiB in all; the repository takes about 42 of
them, and the 525 training photos take 141 MB as PNG. A pack holds:

* ``train/``: photos of the training split (the name-hash split of :func:`~aecodec.training.data.split_files`,
  so no validation photo is ever trained on), taken in a seeded order until the byte budget is spent, each
  re-coded as JPEG quality 95 without chroma subsampling: about a third of the PNG's bytes, at 46 dB PSNR
  (measured on every tenth training photo), a change far below the distortion of any quality level (28-40 dB);
* ``val/``: the centre crop of each validation photo (the crops a CPU round validates on), coded the same way;
* ``PACK.json``: what was packed, from where, and the bytes.

``aecodec train PACK/train --val-dir PACK/val ...`` trains on it. Its held-out figures are those of the packed
crops, good for choosing the round's best step; the figure of record is measured again on the original
validation photos before a checkpoint ships.

    python -m aecodec.training.pack ../shared/data/train .gpu/data --max-mb 18
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
from pathlib import Path

from PIL import Image

from ..config import TrainConfig
from ..images import list_images
from .data import VALIDATION_MULTIPLE, centre_side, split_files

#: JPEG quality of packed images (4:4:4): see the module docstring.
PACK_QUALITY = 95


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def _centre_crop(image: Image.Image, side: int) -> Image.Image:
    """The centre ``side`` square, or the largest that fits, by :func:`center_crops`' rule."""
    side = centre_side([min(image.size)], side, VALIDATION_MULTIPLE)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def pack_training_data(
    source: str | Path, dest: str | Path, max_bytes: int, *, quality: int = PACK_QUALITY,
    val_crop: int = TrainConfig.val_crop, val_fraction: float = TrainConfig.val_fraction, seed: int = 0,
) -> dict:  # fmt: skip
    """Write a pack of ``source``'s photos to ``dest`` (a new or empty folder) in at most ``max_bytes``.

    Returns:
        The record written to ``dest/PACK.json``.

    Raises:
        ValueError: ``dest`` holds files, ``source`` has no photos, or the validation crops alone exceed the budget.
    """
    source, dest = Path(source), Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty: pack into a new folder")
    train_files, val_files = split_files(list_images(source), val_fraction)
    if not train_files:
        raise ValueError(f"no photos in {source}")
    work = dest.with_name(dest.name + ".partial")  # nothing half-written under dest's name
    shutil.rmtree(work, ignore_errors=True)
    (work / "train").mkdir(parents=True)
    (work / "val").mkdir()
    spent = 0
    for path in val_files:
        with Image.open(path) as image:
            data = _jpeg(_centre_crop(image, val_crop), quality)
        (work / "val" / f"{path.stem}.jpg").write_bytes(data)
        spent += len(data)
    if spent > max_bytes:
        shutil.rmtree(work)
        raise ValueError(f"the {len(val_files)} validation crops alone take {spent:,} bytes, over {max_bytes:,}")
    order = sorted(train_files)
    random.Random(seed).shuffle(order)
    packed = []
    for path in order:
        with Image.open(path) as image:
            data = _jpeg(image, quality)
        if spent + len(data) > max_bytes:
            continue  # a smaller photo further on may still fit
        (work / "train" / f"{path.stem}.jpg").write_bytes(data)
        spent += len(data)
        packed.append(path.name)
    record = {
        "source": str(source), "quality": quality, "subsampling": "4:4:4", "seed": seed, "max_bytes": max_bytes,
        "bytes": spent, "train": len(packed), "train_available": len(train_files), "val": len(val_files),
        "val_crop": val_crop, "train_files": sorted(packed),
    }  # fmt: skip
    (work / "PACK.json").write_text(json.dumps(record, indent=1) + "\n")
    if dest.exists():
        dest.rmdir()
    work.rename(dest)
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of training photos")
    parser.add_argument("dest", type=Path, help="new folder for the pack")
    parser.add_argument("--max-mb", type=float, default=18.0, help="byte budget in MB (10^6 bytes)")
    parser.add_argument("--quality", type=int, default=PACK_QUALITY)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        record = pack_training_data(args.source, args.dest, int(args.max_mb * 1e6), quality=args.quality,
                                    seed=args.seed)  # fmt: skip
    except ValueError as exc:
        parser.exit(1, f"error: {exc}\n")
    print(f"packed {record['train']} of {record['train_available']} training photos and {record['val']} "
          f"validation crops in {record['bytes']:,} bytes -> {args.dest}")


if __name__ == "__main__":
    main()
