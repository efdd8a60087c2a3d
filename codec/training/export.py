"""Writing checkpoint files: training state (atomically, to resume) and final shipped weights (float16,
entropy tables frozen, zlib-compressed behind :data:`~aecodec.checkpoint.COMPRESSED_MAGIC`), which
:func:`aecodec.checkpoint.load_final` reads back."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import torch

from ..checkpoint import COMPRESSED_MAGIC, FINAL_FORMAT, FINAL_FORMAT_VERSION, sha256_file
from ..files import atomic_path


def atomic_torch_save(obj: dict, path: str | Path) -> None:
    """Save to a temporary file beside ``path`` and rename it into place, so no reader ever sees half a file."""
    with atomic_path(path, suffix=".tmp") as tmp:
        torch.save(obj, tmp)


def atomic_compressed_save(obj: dict, path: str | Path) -> None:
    """Like :func:`atomic_torch_save`, but the file is :data:`COMPRESSED_MAGIC` and the zlib-compressed
    ``torch.save`` bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_bytes(COMPRESSED_MAGIC + zlib.compress(buffer.getvalue(), 9))


def export_final(model: torch.nn.Module, path: str | Path, metadata: dict) -> dict:
    """Write a shipped checkpoint: float16 weights, entropy tables frozen from those weights, no optimizer,
    zlib-compressed.

    Args:
        model: a trained model with a ``config`` attribute.
        path: where to write the file.
        metadata: plain JSON-like facts stored with it (lambda, quality, steps, data, ...).

    Returns:
        The stored state dict's metadata plus ``sha256`` and ``bytes`` of the written file.
    """
    model = model.to("cpu").eval()
    # Round the weights to float16 first and compute the entropy tables from the rounded weights, so the
    # tables a decoder loads are exactly the ones this file's weights produce.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    model.update(force=True)
    state = {
        k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()
    }
    atomic_compressed_save(
        {
            "format": FINAL_FORMAT,
            "format_version": FINAL_FORMAT_VERSION,
            "config": model.config.to_dict(),
            "metadata": metadata,
            "state_dict": state,
        },
        path,
    )
    return {**metadata, "sha256": sha256_file(path), "bytes": Path(path).stat().st_size}
