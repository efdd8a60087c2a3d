"""Turn finished ladder runs into shipped checkpoints and write checkpoints/MANIFEST.json.

For each quality: export runs/<ladder>/q<Q>/last.pt as float16 with frozen entropy tables, record sha256,
config, lambda, steps and the training data, measure its Kodak bpp/PSNR with the benchmark harness (when
--kodak is given) and copy the training log to benchmarks/results/training/.

    python tools/release/ship_checkpoints.py --runs runs/ladder --model-id factorized --kodak ../shared/data/kodak
    python tools/release/ship_checkpoints.py --runs runs/hyper --model-id hyperprior --from-family factorized \
        --earlier runs/hyper-frozen --kodak ../shared/data/kodak    # started from the factorized models

(Those were the commands of aecodec 0.1. The factorized family was retired in 0.2.0: its record, which
--from-family reads, is in the MANIFEST's "retired" table, and shipping a retired model id is refused.)

Other model families, and the other qualities of this one, already in the MANIFEST are kept (it is re-read at
each write, so two ship runs at once, e.g. one per family, keep each other's updates). A quality
fine-tuned from another shipped quality of the same family inherits that model's steps and time:

    python tools/release/ship_checkpoints.py --runs runs/low/hyperprior --model-id hyperprior --qualities 1 \
        --shipped-parents 1:2 --kodak ../shared/data/kodak     # RUNS/q1 started from the shipped q2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from aecodec.benchmarks.training_plots import plot_log
from aecodec.checkpoint import safe_load
from aecodec.training.export import export_final
from aecodec.config import ModelConfig, lambda_for_quality
from aecodec.models import build_model

REPO = Path(__file__).resolve().parent.parent.parent
DESCRIPTIONS = {
    "factorized": "Balle et al. 2018 factorized-prior autoencoder (GDN, EntropyBottleneck)",
    "hyperprior": "Balle et al. 2018 scale hyperprior (GDN, EntropyBottleneck on z, GaussianConditional on y; "
    "integer hyper-synthesis so CDF indexes are identical on every machine)",
}


def merge_into_manifest(path: Path, model_id: str, description: str, qualities: dict[str, dict]) -> None:
    """Write these qualities of one family into the MANIFEST as it is on disk *now*, keeping everything else.

    Re-reading at write time (rather than writing back what was read at start) keeps another ship run's
    update, e.g. of the other family, made while this one exported and measured; the write is atomic.
    """
    manifest = json.loads(path.read_text()) if path.exists() else {"format": 1, "models": {}}
    family = manifest["models"].setdefault(model_id, {"description": description, "qualities": {}})
    family["description"] = description
    merged = {**family["qualities"], **qualities}
    family["qualities"] = {k: merged[k] for k in sorted(merged, key=int)}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--kodak", type=Path)
    parser.add_argument("--model-id", default="hyperprior")
    parser.add_argument("--qualities", type=int, nargs="*", default=list(range(1, 9)))
    parser.add_argument("--stages", type=Path, nargs="*", default=None,
                        help="run folders the fine-tunes descend from, oldest first (default RUNS/base)")
    parser.add_argument("--parents", nargs="*", default=[], metavar="Q:P",
                        help="quality Q was fine-tuned from quality P's run (its steps and time are inherited)")
    parser.add_argument("--from-family", default=None,
                        help="each quality started from this shipped family's model of the same quality "
                        "(its steps and time, from the MANIFEST, are inherited); no --stages then")
    parser.add_argument("--shipped-parents", nargs="*", default=[], metavar="Q:P",
                        help="quality Q started from this family's shipped model of quality P (its steps and "
                        "time, from the MANIFEST, are inherited); no --stages then")
    parser.add_argument("--earlier", type=Path, nargs="*", default=[],
                        help="run folders whose q<Q> runs each quality's run continued (their steps and time "
                        "are inherited), e.g. the frozen-transform stage of a hyperprior")
    parser.add_argument("--recipe", default="tools/release/train_ladder.py: base at q5's lambda, 500-step fine-tunes")
    args = parser.parse_args()
    out_dir = REPO / "checkpoints"
    manifest_path = out_dir / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"format": 1, "models": {}}
    if args.model_id in manifest.get("retired", {}):
        parser.error(f"{args.model_id} is retired (the MANIFEST's 'retired' table): ship it under a new model id")
    records = {**manifest.get("retired", {}), **manifest["models"]}  # a retired family keeps its record there
    inherited = records[args.from_family]["qualities"] if args.from_family else {}
    shipped = manifest["models"].get(args.model_id, {}).get("qualities", {})
    shipped_parents = {int(q): str(p) for q, p in (item.split(":") for item in args.shipped_parents)}
    stages = [] if args.from_family or shipped_parents else args.stages or [args.runs / "base"]

    logs_dir = REPO / "benchmarks" / "results" / "training"
    logs_dir.mkdir(parents=True, exist_ok=True)
    # the shared training every quality inherits: each stage starts from the previous one's weights
    stage_states = [safe_load(stage / "last.pt") for stage in stages]
    base_steps = sum(st["step"] for st in stage_states)
    base_seconds = sum(st["elapsed_s"] for st in stage_states)
    parents = {int(q): int(p) for q, p in (item.split(":") for item in args.parents)}

    def lineage(q: int) -> tuple[int, float]:
        """Steps and seconds of quality q's own fine-tune plus those of the runs it descends from."""
        state = safe_load(args.runs / f"q{q}" / "last.pt")
        steps, seconds = lineage(parents[q]) if q in parents else (0, 0.0)
        return steps + state["step"], seconds + state["elapsed_s"]

    table = dict(shipped)
    for q in args.qualities:
        run = args.runs / f"q{q}"
        state = safe_load(run / "last.pt")
        model = build_model(ModelConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model"])
        name = f"{args.model_id}-q{q}.pt"
        ft_steps, ft_seconds = lineage(q)
        if inherited:  # started from another family's model of this quality: its training is the base
            base_steps, base_seconds = inherited[str(q)]["steps"], inherited[str(q)]["train_seconds"]
        if q in shipped_parents:  # started from another shipped quality of this family
            parent = shipped[shipped_parents[q]]
            base_steps, base_seconds = parent["steps"], parent["train_seconds"]
        for earlier in (safe_load(folder / f"q{q}" / "last.pt") for folder in args.earlier):
            ft_steps, ft_seconds = ft_steps + earlier["step"], ft_seconds + earlier["elapsed_s"]
        meta = {
            "lambda": lambda_for_quality(q),
            "steps": base_steps + ft_steps,
            "base_steps": base_steps,
            "finetune_steps": ft_steps,
            "finetuned_from": f"q{parents.get(q) or shipped_parents.get(q)}" if q in parents or q in shipped_parents
            else (f"{args.from_family}-q{q}" if args.from_family else "base"),
            "train_seconds": round(base_seconds + ft_seconds),
            "device": "cpu (2 cores)",
            "data": "shared/data/train (525 photos: CBSD432 + Urban100 halved), 5% held out by name hash",
            "recipe": args.recipe,
        }
        info = export_final(model, out_dir / name, meta)
        # a re-shipped quality keeps its number before the 2026-11-30 ladder change (the MANIFEST's ladder_note)
        kept = {key: shipped[str(q)][key] for key in ("earlier_quality",) if key in shipped.get(str(q), {})}
        table[str(q)] = {"file": name, "sha256": info["sha256"], "bytes": info["bytes"],
                         "config": model.config.to_dict(), **meta, **kept}  # fmt: skip
        shutil.copy(run / "log.csv", logs_dir / f"{args.model_id}-q{q}.csv")
        plot_log(logs_dir / f"{args.model_id}-q{q}.csv")
        for folder in args.earlier:
            stage_log = logs_dir / f"{args.model_id}-q{q}-{folder.name}.csv"
            shutil.copy(folder / f"q{q}" / "log.csv", stage_log)
            plot_log(stage_log)
        print(f"q{q}: {name} {info['bytes']} bytes sha256 {info['sha256'][:12]}")
    for i, stage in enumerate(stages):
        name = f"{args.model_id}-base{i + 1 if len(stages) > 1 else ''}.csv"
        shutil.copy(stage / "log.csv", logs_dir / name)
        plot_log(logs_dir / name)

    description = DESCRIPTIONS.get(args.model_id, args.model_id)
    shipped_now = {str(q): table[str(q)] for q in args.qualities}
    merge_into_manifest(manifest_path, args.model_id, description, shipped_now)
    if args.kodak:
        # the per-quality Kodak figures `aecodec models` shows; the full comparison is `aecodec bench`
        from aecodec.benchmarks import datasets, harness, report

        images = datasets.load_folder(args.kodak)
        measured = harness.measure(images, {"aecodec": args.qualities}, model_id=args.model_id, checkpoint_dir=out_dir)
        for point in report.summarize(measured.rows)["aecodec"]:
            table[str(point["quality"])]["kodak"] = {"bpp": round(point["bpp"], 4), "psnr_db": round(point["psnr_db"], 3)}
            print(f"q{point['quality']}: Kodak {point['bpp']:.4f} bpp {point['psnr_db']:.3f} dB")
        merge_into_manifest(manifest_path, args.model_id, description, shipped_now)


if __name__ == "__main__":
    main()
