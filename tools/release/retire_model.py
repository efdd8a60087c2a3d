"""Retire a shipped model (docs/format.md, "Which models stay decodable"): move its MANIFEST record to the
"retired" table with the last aecodec version that decodes its streams, and delete its checkpoint files.

Its streams then fail with one line naming that version (aecodec.zoo.retired_message); its golden streams stay in
tests/data/golden and prove it. Retiring the model an alias points to is refused: point the alias elsewhere first.

    python tools/release/retire_model.py hyperprior-vr2 --last-version 0.2.0 --retired-in 0.3.0 \\
        --reason "the 50 MB checkpoint budget: the oldest variable-rate round makes room for the next"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def checkpoint_files(record: dict) -> list[str]:
    """The files a MANIFEST record ships: a variable-rate model's one, or a ladder's one per quality."""
    if "variable_rate" in record:
        return [record["variable_rate"]["file"]]
    return [entry["file"] for entry in record.get("qualities", {}).values()]


def retire(folder: Path, model_id: str, last_version: str, retired_in: str, reason: str) -> list[str]:
    """Move ``model_id``'s record to the retired table and delete its files; returns the files deleted."""
    path = folder / "MANIFEST.json"
    manifest = json.loads(path.read_text())
    if model_id not in manifest["models"]:
        raise SystemExit(f"{model_id} is not a shipped model of {path}")
    pointing = [alias for alias, target in manifest.get("aliases", {}).items() if target == model_id]
    if pointing:
        raise SystemExit(f"the alias {', '.join(pointing)} points to {model_id}: point it elsewhere first")
    record = manifest["models"].pop(model_id)
    manifest.setdefault("retired", {})[model_id] = {
        "last_version": last_version, "retired_in": retired_in, "reason": reason, **record,
    }  # fmt: skip
    files = checkpoint_files(record)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    for name in files:
        (folder / name).unlink(missing_ok=True)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_id")
    parser.add_argument("--last-version", required=True, help="the last aecodec version that decodes its streams")
    parser.add_argument("--retired-in", required=True, help="the aecodec version that no longer ships it")
    parser.add_argument("--reason", required=True)
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    args = parser.parse_args()
    files = retire(args.checkpoints, args.model_id, args.last_version, args.retired_in, args.reason)
    print(f"retired {args.model_id}: deleted {', '.join(files)}")


if __name__ == "__main__":
    main()
