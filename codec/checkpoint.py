"""Reading checkpoint files: final shipped weights (to code images) and training state (to resume).

Both are plain ``torch.save`` dicts of tensors, numbers and strings, read back with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects. Final checkpoints store float
weights as float16 (half the size) and carry entropy tables computed from exactly those rounded weights; they
are written zlib-compressed behind a short magic (``torch.save`` stores its zip members uncompressed, and the
int32 CDF tables shrink about tenfold: a scale-hyperprior file goes from 4.8 to 3.7 MB). Files without the
magic, training checkpoints and final checkpoints from before compression, are read as they are. The writers
live with the training code (:mod:`aecodec.training.export`): coding an image only ever reads.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from .config import ModelConfig
from .errors import CheckpointError
from .inflate import inflate_bounded
from .models import build_model

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


def safe_load(path: str | Path) -> dict:
    """Load a checkpoint dict (compressed or plain) without unpickling arbitrary objects."""
    try:
        with open(path, "rb") as f:
            compressed = f.read(len(COMPRESSED_MAGIC)) == COMPRESSED_MAGIC
            source = io.BytesIO(inflate_bounded(f.read(), MAX_CHECKPOINT_BYTES)) if compressed else path
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except (OSError, ValueError) as exc:  # ValueError: damaged, truncated or oversized compressed data
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or hostile files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None


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
