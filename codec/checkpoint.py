"""Checkpoint files: training state (to resume) and final shipped weights (to code images).

Both are plain ``torch.save`` dicts of tensors, numbers and strings, read back with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects. Final checkpoints store float
weights as float16 (half the size) and carry entropy tables computed from exactly those rounded weights; they
are written zlib-compressed behind a short magic (``torch.save`` stores its zip members uncompressed, and the
int32 CDF tables shrink about tenfold: a scale-hyperprior file goes from 4.8 to 3.7 MB). Files without the
magic, training checkpoints and final checkpoints from before compression, are read as they are.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import torch

from .config import ModelConfig
from .errors import CheckpointError
from .files import atomic_path
from .model import build_model

FINAL_FORMAT = "aecodec-model"
FINAL_FORMAT_VERSION = 1
#: Starts a zlib-compressed checkpoint; a plain ``torch.save`` file starts with "PK" (a zip archive).
COMPRESSED_MAGIC = b"\x89AECZ\r\n"
#: Decompressed size past which a file is refused rather than inflated (shipped models are under 10 MB).
MAX_CHECKPOINT_BYTES = 1 << 30


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _inflate(data: bytes, path: str | Path) -> bytes:
    """The ``torch.save`` bytes of a compressed checkpoint's stream (what follows the magic), refusing damaged
    or oversized streams."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, MAX_CHECKPOINT_BYTES)
    except zlib.error as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: damaged compressed data ({exc})") from None
    if inflater.unconsumed_tail:
        raise CheckpointError(f"cannot read checkpoint {path}: more than {MAX_CHECKPOINT_BYTES} bytes inflated")
    if not inflater.eof:
        raise CheckpointError(f"cannot read checkpoint {path}: compressed data is truncated")
    return raw


def safe_load(path: str | Path) -> dict:
    """Load a checkpoint dict (compressed or plain) without unpickling arbitrary objects."""
    try:
        with open(path, "rb") as f:
            compressed = f.read(len(COMPRESSED_MAGIC)) == COMPRESSED_MAGIC
            source = io.BytesIO(_inflate(f.read(), path)) if compressed else path
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or hostile files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None


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


#: Buffers that are constants of the model code, not learned, and always taken from it: the likelihood floor
#: (1e-9) is 0 in float16, and a floor of 0 lets a bit estimate (training from a shipped model, refinement)
#: become infinite. Coding never reads them.
CODE_CONSTANTS = ("likelihood_lower_bound.bound",)


def with_code_constants(model: torch.nn.Module, state: dict) -> dict:
    """``state`` with the :data:`CODE_CONSTANTS` of ``model`` in place of the stored ones."""
    own = model.state_dict()
    return {k: (own[k] if k.endswith(CODE_CONSTANTS) and k in own else v) for k, v in state.items()}


def load_final(path: str | Path, expected_sha256: str | None = None) -> torch.nn.Module:
    """Load a shipped checkpoint into a ready-to-code model (eval mode, float32, CPU).

    Raises:
        CheckpointError: missing file, sha256 mismatch, or not an aecodec model file.
    """
    path = Path(path)
    if expected_sha256 is not None:
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        actual = sha256_file(path)
        if actual != expected_sha256:
            raise CheckpointError(
                f"checkpoint {path.name} is corrupted or was modified: sha256 {actual[:12]}... does not match "
                f"the recorded {expected_sha256[:12]}..."
            )
    ckpt = safe_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FINAL_FORMAT:
        raise CheckpointError(f"{path} is not an aecodec model checkpoint")
    if ckpt.get("format_version") != FINAL_FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint format version {ckpt.get('format_version')}")
    try:
        model = build_model(ModelConfig.from_dict(ckpt["config"]))
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
        model.load_state_dict(with_code_constants(model, state))
    except (KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the stored config: {exc}") from None
    return model.eval()
