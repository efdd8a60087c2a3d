"""Per-domain adapters: small learned updates of the variable-rate model's transforms for one kind of images.

An adapter (a ``.aecadapt`` file, made by ``aecodec adapt``: :mod:`aecodec.training.adapt`) updates some
parameters of the base model's analysis g_a, hyper-analysis h_a and, for a decoder-side adapter, synthesis g_s:
each convolution's weight by a low-rank product (W + up @ down, LoRA-style), small tensors (biases, GDN's beta
and gamma) by a full update. Loading merges the updates into the loaded weights once, so coding runs at the
base model's speed. The hyper-synthesis and the entropy models are never touched: the integer hyper-synthesis
picks the same CDFs as for the base model.

The kinds (:data:`KINDS`):

- ``encoder``: g_a and h_a only. A decoder needs nothing new: its streams are ordinary streams of the base model.
- ``decoder``: g_s too. Its streams record the adapter's name and sha256 (the header's adapter field); decoding
  them needs this adapter, and any other (or none) is refused with an error naming the one they need.

The file is a ``torch.save`` dict of tensors, strings and numbers (read with ``weights_only=True``, never
unpickling arbitrary objects), zlib-compressed as checkpoints are (:func:`aecodec.checkpoint.safe_load`). It
records the base model's id and sha256 and how the adapter was made, and carries the sha256 of its own content
(:func:`content_sha256`), checked at every load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import safe_load
from .container import MAX_ADAPTER_NAME_LENGTH, AdapterRef
from .errors import AdapterError, CheckpointError

ADAPTER_FORMAT = "aecodec-adapter"
ADAPTER_FORMAT_VERSION = 1
SUFFIX = ".aecadapt"
#: Kind -> the transforms (parameter name prefixes) its updates may touch.
KINDS: dict[str, tuple[str, ...]] = {"encoder": ("g_a.", "h_a."), "decoder": ("g_a.", "h_a.", "g_s.")}
#: The record's fields the content hash covers, besides the tensors (everything but the hash itself).
_HASHED_FIELDS = ("format", "format_version", "name", "kind", "base", "made")


def low_rank_update(up: torch.Tensor, down: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The update of a weight of ``shape`` from its factors: (shape[0], r) @ (r, prod(shape[1:])), reshaped.
    Training and loading both use this, so an adapter codes as it was trained."""
    return (up @ down).reshape(shape)


def content_sha256(record: dict) -> str:
    """sha256 of an adapter record's content: its fields (canonical JSON) and every tensor's name, dtype, shape
    and bytes, in name order. Independent of the file's compression, so it names the adapter itself."""
    digest = hashlib.sha256(json.dumps({k: record[k] for k in _HASHED_FIELDS}, sort_keys=True).encode())
    for name in sorted(record["updates"]):
        for part in sorted(record["updates"][name]):
            tensor = record["updates"][name][part].contiguous()
            digest.update(f"{name}.{part}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def check_name(name: str) -> str:
    """An adapter's name as streams record it: 1..64 printable ASCII characters."""
    if not 1 <= len(name) <= MAX_ADAPTER_NAME_LENGTH or not (name.isascii() and name.isprintable()):
        raise AdapterError(f"an adapter name must be 1..{MAX_ADAPTER_NAME_LENGTH} printable ASCII characters, "
                           f"got {name!r}")  # fmt: skip
    return name


@dataclass(frozen=True, eq=False)  # compared by identity: its tensors have no single truth value
class Adapter:
    """An adapter as read from its file.

    Args:
        name: what streams and messages call it (the file's name when it was made, without the suffix).
        sha256: the hash of its content (:func:`content_sha256`).
        kind: a key of :data:`KINDS`.
        base_model_id, base_sha256: the model (concrete id) and checkpoint it was made for.
        updates: parameter name -> {"up", "down"} (a low-rank update) or {"delta"} (a full one).
        made: how it was made (steps, minutes, qualities, held-out figures), as recorded.
    """

    name: str
    sha256: str
    kind: str
    base_model_id: str
    base_sha256: str
    updates: dict
    made: dict

    @property
    def decoder_side(self) -> bool:
        """Whether decoding its streams needs it (it changes the synthesis)."""
        return any(name.startswith("g_s.") for name in KINDS[self.kind])

    @property
    def ref(self) -> AdapterRef | None:
        """What its streams record: its name and hash for a decoder-side adapter, None for an encoder one."""
        return AdapterRef(self.name, self.sha256) if self.decoder_side else None

    def __repr__(self) -> str:
        return f"Adapter({self.name!r}, kind={self.kind!r}, sha256={self.sha256[:12]}..., base={self.base_model_id!r})"

    @classmethod
    def from_record(cls, record: dict, source: str = "adapter") -> "Adapter":
        """Validate a record (as stored in a file) and build the adapter; ``source`` names it in errors."""
        if not isinstance(record, dict) or record.get("format") != ADAPTER_FORMAT:
            raise AdapterError(f"{source} is not an aecodec adapter")
        if record.get("format_version") != ADAPTER_FORMAT_VERSION:
            raise AdapterError(f"{source}: unsupported adapter format version {record.get('format_version')}")
        try:
            kind, base, updates = record["kind"], record["base"], record["updates"]
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            for name, parts in updates.items():
                if not name.startswith(KINDS[kind]):
                    raise ValueError(f"a {kind} adapter cannot change {name}")
                if set(parts) not in ({"up", "down"}, {"delta"}) or not all(
                    isinstance(t, torch.Tensor) and t.is_floating_point() for t in parts.values()
                ):
                    raise ValueError(f"malformed update of {name}")
            actual = content_sha256(record)
            adapter = cls(check_name(record["name"]), record["sha256"], kind, base["model_id"], base["sha256"],
                          updates, dict(record["made"]))  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AdapterError(f"{source} is malformed: {exc}") from None
        if actual != adapter.sha256:
            raise AdapterError(f"{source} is corrupted or was modified: its content does not match its sha256")
        return adapter


def read_adapter(path: str | Path) -> Adapter:
    """Read and verify an adapter file (without unpickling arbitrary objects).

    Raises:
        AdapterError: missing, damaged, modified or not an adapter.
    """
    try:
        record = safe_load(path)
    except CheckpointError as exc:
        raise AdapterError(str(exc).replace("checkpoint", "adapter", 1)) from None
    return Adapter.from_record(record, str(path))


def check_base(adapter: Adapter, model_id: str, sha256: str) -> None:
    """Refuse an adapter made for another model or other weights of it."""
    if (adapter.base_model_id, adapter.base_sha256) != (model_id, sha256):
        raise AdapterError(
            f"adapter {adapter.name!r} was made for {adapter.base_model_id} (sha256 {adapter.base_sha256[:12]}...), "
            f"not {model_id} (sha256 {sha256[:12]}...)"
        )


@torch.no_grad()
def apply_adapter(model: torch.nn.Module, adapter: Adapter) -> torch.nn.Module:
    """Merge the adapter's updates into ``model``'s weights, in place (a model freshly loaded for it).

    Raises:
        AdapterError: an update names a parameter the model lacks, or has the wrong shape.
    """
    params = dict(model.named_parameters())
    for name, parts in adapter.updates.items():
        if name not in params:
            raise AdapterError(f"adapter {adapter.name!r} changes {name}, which the model does not have")
        param = params[name]
        try:
            if "delta" in parts:
                update = parts["delta"].float().view(param.shape)
            else:
                update = low_rank_update(parts["up"].float(), parts["down"].float(), param.shape)
        except RuntimeError:  # the factors or the delta do not make a tensor of the parameter's shape
            raise AdapterError(
                f"adapter {adapter.name!r}: the update of {name} does not fit its shape {tuple(param.shape)}"
            ) from None
        param.add_(update)
    return model


def check_stream(needed: AdapterRef | None, loaded: Adapter | None) -> None:
    """Refuse to decode a stream with a model whose decoder side differs from its encoder's: a stream that needs
    an adapter without it or with another, or a stream of the base model with a decoder-side adapter."""
    have = loaded.ref if loaded is not None else None
    if needed == have:
        return
    if have is None:
        raise AdapterError(f"this stream was coded with the adapter {needed.short}: decode it with that adapter "
                           f"({needed.name}{SUFFIX})")  # fmt: skip
    if needed is None:
        raise AdapterError(f"this stream was coded without an adapter; the adapter {have.short} would decode it "
                           "wrongly: decode it without one")  # fmt: skip
    raise AdapterError(f"this stream was coded with the adapter {needed.short}, not {have.short}")
