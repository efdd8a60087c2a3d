"""Ship a round of the variable-rate hyperprior: export its weights as a final checkpoint and record it in
checkpoints/MANIFEST.json under a new model id, with the alias pointing at it.

Each shipped round gets its own model id (``hyperprior-vr<round>``): a stream names the weights that decode
it, and weights trained on decode differently. The alias (``hyperprior-vr``) is what users ask for.

    python tools/release/ship_variable_rate.py runs/vr2/vr-best.pt --round 2 \
        --kodak benchmarks/results/variable_rate/kodak-round2.json

The checkpoint is a training checkpoint of ``aecodec train --variable-rate`` (last.pt / best.pt) or of the
prototype ``experiments/variable_rate/train_vr.py`` (full or compact), with its record (steps, CPU seconds,
held-out losses against the ladder, lineage).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aecodec.checkpoint import safe_load
from aecodec.config import QUALITY_LAMBDAS, ModelConfig
from aecodec.models import build_model
from aecodec.training.export import export_final
from aecodec.training.variable_rate import load_start

REPO = Path(__file__).resolve().parent.parent.parent
DESCRIPTION = (
    "one scale hyperprior for every quality 1.0-8.0: a learned gain per latent channel and level (log-"
    "interpolated between levels, integer fixed point in the coder), integer hyper-synthesis"
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--round", type=int, required=True, help="training round: the model id is hyperprior-vr<round>")
    p.add_argument("--alias", default="hyperprior-vr")
    p.add_argument("--kodak", type=Path, help="kodak_rd.py results of this checkpoint, recorded per level")
    p.add_argument("--folder", type=Path, default=REPO / "checkpoints")
    args = p.parse_args()

    ckpt = safe_load(args.checkpoint)
    source = ckpt.get("model_config") or ckpt["config"]  # aecodec train --variable-rate's, or the prototype's
    config = ModelConfig(family="variable-rate", N=source["N"], M=source["M"])
    model = build_model(config)
    load_start(model, args.checkpoint)  # the gains are frozen by export_final

    model_id = f"{args.alias}{args.round}"
    file = f"{model_id}.pt"
    metadata = {
        "model_id": model_id,
        "round": args.round,
        "lambdas": list(QUALITY_LAMBDAS),
        "steps": ckpt["step"],
        "cpu_seconds": round(ckpt["cpu_s"]),
        # with the rounds it started from (the prototype records them in its lineage)
        "total_steps": ckpt["step"] + ckpt["lineage"].get("earlier_steps", 0),
        "total_cpu_seconds": round(ckpt["cpu_s"] + ckpt["lineage"].get("earlier_cpu_s", 0)),
        "heldout_vs_ladder_pct": [round(r, 2) for r in ckpt["ratio_pct"]],
        "lineage": ckpt["lineage"],
    }
    record = export_final(model, args.folder / file, metadata)
    entry = {"file": file, "sha256": record["sha256"], "bytes": record["bytes"], "config": config.to_dict(),
             "device": "cpu (1 thread, beside other work)", **metadata}  # fmt: skip
    if args.kodak:
        kodak = json.loads(args.kodak.read_text())
        points = [{k: round(pt[k], 4) for k in ("quality", "bpp", "psnr_db")} for pt in kodak["points"]]
        entry["kodak"] = {"bd_rate_pct": {k: round(v, 2) for k, v in kodak["bd_rate_pct"].items()}, "points": points}

    manifest_path = args.folder / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["models"][model_id] = {"description": DESCRIPTION, "variable_rate": entry}
    manifest.setdefault("aliases", {})[args.alias] = model_id
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    size = f"{record['bytes'] / 1e6:.2f} MB, sha256 {record['sha256'][:12]}"
    print(f"shipped {file} ({size}); {args.alias} -> {model_id}")


if __name__ == "__main__":
    main()
