"""The model zoo: which checkpoint file serves which (model id, quality).

There is exactly one table, ``MANIFEST.json`` in the checkpoint folder, read when a model is asked for (never
at import). Each entry records the file, its sha256 (checked at every load), the architecture, the lambda and
how the model was trained. A ladder model has one file per quality level (``"qualities"``); a variable-rate
model one file for every quality in 1..8 (``"variable_rate"``). ``"aliases"`` names a model by a stable name
(``hyperprior-vr``) whose weights may change from one release to the next: streams record the concrete id.
``"retired"`` maps the ids of models no longer shipped to the last aecodec version that decodes them: the version
itself, or a record whose ``"last_version"`` it is (the shipped MANIFEST keeps the retired models' records there,
their weights' sha256 and Kodak figures among them, with ``"retired_in"`` and ``"reason"``).
The folder is the installed ``aecodec.checkpoints`` package (the repository's ``checkpoints/``), or the
folder named by the ``AECODEC_CHECKPOINTS`` environment variable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .config import MAX_QUALITY, MIN_QUALITY, exact_quality
from .errors import CheckpointError, UnknownModelError

MANIFEST_NAME = "MANIFEST.json"
DEFAULT_MODEL_ID = "hyperprior-vr"  # -27.7% vs JPEG on Kodak, the ladder -26.5% (docs/models.md)
DEFAULT_QUALITY = 6  # lambda 0.025: about 1.1 bpp and 32 dB on Kodak
#: The variable-rate model, by its alias: what aiming at a file size (any quality between levels) uses.
VARIABLE_RATE_MODEL_ID = "hyperprior-vr"


@dataclass(frozen=True)
class ZooEntry:
    """One shipped checkpoint: of one quality level of a ladder, or (``quality`` None) of a variable-rate
    model, which codes every quality."""

    model_id: str
    quality: int | None
    path: Path
    sha256: str
    info: dict

    @property
    def variable_rate(self) -> bool:
        return self.quality is None


def checkpoint_dir() -> Path:
    """The folder holding MANIFEST.json and the shipped weights."""
    override = os.environ.get("AECODEC_CHECKPOINTS")
    if override:
        return Path(override)
    return Path(str(resources.files("aecodec.checkpoints")))


def read_manifest(folder: str | Path | None = None) -> dict:
    """The parsed MANIFEST.json of ``folder`` (default: :func:`checkpoint_dir`)."""
    folder = Path(folder) if folder is not None else checkpoint_dir()
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no model manifest at {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise CheckpointError(f"{path} has no 'models' table")
    return manifest


def entries(folder: str | Path | None = None) -> list[ZooEntry]:
    """Every (model id, quality) the folder provides, sorted."""
    folder = Path(folder) if folder is not None else checkpoint_dir()
    found = []
    for model_id, model in read_manifest(folder)["models"].items():
        for quality, info in model.get("qualities", {}).items():
            found.append(ZooEntry(model_id, int(quality), folder / info["file"], info["sha256"], info))
        if "variable_rate" in model:
            info = model["variable_rate"]
            found.append(ZooEntry(model_id, None, folder / info["file"], info["sha256"], info))
    return sorted(found, key=lambda e: (e.model_id, e.quality or 0))


def aliases(folder: str | Path | None = None) -> dict[str, str]:
    """Stable model names -> the concrete model id each stands for in this release."""
    return dict(read_manifest(folder).get("aliases", {}))


def retired(folder: str | Path | None = None) -> dict[str, tuple[str, str | None]]:
    """Ids of models no longer shipped -> (the last aecodec version that decodes their streams, the version
    that retired them, or None where the MANIFEST does not say)."""
    table = read_manifest(folder).get("retired", {})
    if not isinstance(table, dict):
        raise CheckpointError("the MANIFEST's 'retired' table is not a table")
    found = {}
    for model_id, record in table.items():
        if isinstance(record, str):
            found[model_id] = (record, None)
        elif isinstance(record, dict) and isinstance(record.get("last_version"), str):
            found[model_id] = (record["last_version"], record.get("retired_in"))
        else:
            raise CheckpointError(f"the MANIFEST's 'retired' entry of {model_id!r} names no last_version")
    return found


def retired_message(model_id: str, last_version: str, retired_in: str | None = None) -> str:
    """The one line a retired model's streams get: which aecodec version still decodes them, and how to get it."""
    when = f" in aecodec {retired_in}" if retired_in else ""
    return (
        f"model {model_id!r} was retired{when}; aecodec {last_version} is the last version that decodes its "
        f'streams (and encodes with it): pip install "aecodec=={last_version}"'
    )


def lookup(model_id: str, quality: float, folder: str | Path | None = None) -> ZooEntry:
    """The entry for ``model_id`` (or an alias of it) at ``quality``; unknown ones raise an error listing the
    valid choices. The entry of a variable-rate model serves every quality MIN_QUALITY..MAX_QUALITY."""
    model_id = aliases(folder).get(model_id, model_id)
    gone = retired(folder).get(model_id)
    if gone is not None:  # docs/format.md: a retired model's streams name the version that reads them
        raise UnknownModelError(retired_message(model_id, *gone))
    available = entries(folder)
    for entry in available:
        if entry.model_id == model_id and (entry.variable_rate or entry.quality == quality):
            if entry.variable_rate:
                try:
                    exact_quality(quality)
                except ValueError:
                    raise UnknownModelError(
                        f"model {model_id!r} codes qualities {MIN_QUALITY}..{MAX_QUALITY}, not {quality}"
                    ) from None
            return entry
    ids = sorted({e.model_id for e in available} | set(aliases(folder)))
    if model_id not in ids:
        raise UnknownModelError(f"unknown model {model_id!r}; available: {', '.join(ids) or 'none'}")
    qualities = [e.quality for e in available if e.model_id == model_id]
    hint = f" (any quality between: {VARIABLE_RATE_MODEL_ID})" if quality != int(quality) else ""
    raise UnknownModelError(
        f"model {model_id!r} has no quality {quality}; available: {', '.join(map(str, qualities))}{hint}"
    )
