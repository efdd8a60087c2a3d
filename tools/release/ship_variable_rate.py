"""Ship a round of the variable-rate hyperprior: export its weights as a final checkpoint and record it in
checkpoints/MANIFEST.json under a new model id, with the alias pointing at it.

Each shipped round gets its own model id (``hyperprior-vr<round>``): a stream names the weights that decode
it, and weights trained on decode differently. The alias (``hyperprior-vr``) is what users ask for.

    python tools/release/ship_variable_rate.py runs/vr2/best.pt --round 2
    aecodec bench --dataset KODAK --codecs aecodec-hyperprior-vr,aecodec-hyperprior,jpeg --out out/vr-bench
    python tools/release/ship_variable_rate.py runs/vr2/best.pt --round 2 --kodak out/vr-bench/summary.json

The second run records the bench's Kodak points and BD-rates in the MANIFEST; it exports the same bytes (the
sha256 does not change). The checkpoint is a training checkpoint of ``aecodec train --variable-rate``
(last.pt / best.pt) or of the prototype ``experiments/variable_rate/train_vr.py`` (full or compact), with its
record (steps, CPU seconds, held-out losses against the ladder, lineage); the totals add the rounds it started
from.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from aecodec.benchmarks.report import bd_rate_percent, curve
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
#: The name ``aecodec bench`` gives the variable-rate model's rows.
BENCH_CODEC = "aecodec-hyperprior-vr"


def earlier_compute(lineage: dict) -> tuple[int, float]:
    """Steps and CPU seconds of the rounds a checkpoint started from, as its lineage records them: the
    prototype's ``earlier_steps``/``earlier_cpu_s``, the library trainer's ``earlier`` (the start's own record,
    with its lineage in turn, or a shipped model's metadata with its totals)."""
    if "earlier_steps" in lineage:
        return lineage["earlier_steps"], lineage.get("earlier_cpu_s", 0.0)
    earlier = lineage.get("earlier")
    if not earlier:
        return 0, 0.0
    if "total_steps" in earlier:
        return earlier["total_steps"], earlier["total_cpu_seconds"]
    steps, cpu_s = earlier_compute(earlier.get("lineage") or {})
    return earlier.get("step", 0) + steps, earlier.get("cpu_s", 0.0) + cpu_s


def kodak_record(bench: dict) -> dict:
    """The variable-rate model's integer-quality points of an ``aecodec bench`` summary, and its BD-rate
    against every other codec of the same run."""
    codecs = bench["codecs"]
    if BENCH_CODEC not in codecs:
        raise SystemExit(f"the bench summary has no {BENCH_CODEC} rows (it has: {', '.join(codecs)})")
    points = [p for p in codecs[BENCH_CODEC] if float(p["quality"]).is_integer()]
    bd = {name: bd_rate_percent(curve(other), curve(points)) for name, other in codecs.items() if name != BENCH_CODEC}
    return {
        "images": bench["meta"].get("images"),
        "bd_rate_pct": {name: round(v, 2) for name, v in bd.items() if v is not None},
        "points": [{k: round(p[k], 4) for k in ("quality", "bpp", "psnr_db")} for p in points],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--round", type=int, required=True, help="training round: the model id is hyperprior-vr<round>")
    p.add_argument("--alias", default="hyperprior-vr")
    p.add_argument("--kodak", type=Path, help="summary.json of an aecodec bench run of this model, recorded")
    p.add_argument("--folder", type=Path, default=REPO / "checkpoints")
    p.add_argument("--device", default="cpu (1 thread, beside other work)", help="what the round trained on")
    args = p.parse_args()

    ckpt = safe_load(args.checkpoint)
    source = ckpt.get("model_config") or ckpt["config"]  # aecodec train --variable-rate's, or the prototype's
    config = ModelConfig(family="variable-rate", N=source["N"], M=source["M"])
    model = build_model(config)
    load_start(model, args.checkpoint)  # the gains are frozen by export_final

    model_id = f"{args.alias}{args.round}"
    earlier_steps, earlier_cpu_s = earlier_compute(ckpt["lineage"])
    file = f"{model_id}.pt"
    metadata = {
        "model_id": model_id,
        "round": args.round,
        "lambdas": list(QUALITY_LAMBDAS),
        "steps": ckpt["step"],
        "cpu_seconds": round(ckpt["cpu_s"]),
        "total_steps": ckpt["step"] + earlier_steps,  # with the rounds it started from
        "total_cpu_seconds": round(ckpt["cpu_s"] + earlier_cpu_s),
        "heldout_vs_ladder_pct": [round(r, 2) for r in ckpt["ratio_pct"]],
        "lineage": ckpt["lineage"],
    }
    record = export_final(model, args.folder / file, metadata)
    entry = {"file": file, "sha256": record["sha256"], "bytes": record["bytes"], "config": config.to_dict(),
             "device": args.device, **metadata}  # fmt: skip
    if args.kodak:
        entry["kodak"] = kodak_record(json.loads(args.kodak.read_text()))

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
