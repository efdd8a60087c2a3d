#!/usr/bin/env bash
# One training round of the variable-rate model on a lent GPU machine, as one command of the device tool, run in
# the repository's root with .gpu carried (tools/gpu/prepare.sh makes it; docs/training.md has the procedure).
# It resumes the shipped checkpoint, trains for MINUTES on DEVICE with crops held in GPU memory, bfloat16
# autocast and channels-last (aecodec train does so on CUDA), and leaves in $OUT what comes back:
# best.pt (the round's best held-out step), log.csv, round.txt (versions, steps per second).
# Settings (environment): MINUTES=8 BATCH=64 LR=1e-4 SEED=500 VAL_EVERY=500 DEVICE=cuda
#   INIT=checkpoints/hyperprior-vr.pt (empty: a new model) DATA=.gpu/data EXTRA_ARGS= PYTHON=python3
set -euo pipefail
py=${PYTHON:-python3}
out=${OUT:?set OUT to the folder whose files come back}
data=${DATA:-.gpu/data}
init=${INIT-checkpoints/hyperprior-vr.pt}
site=$(mktemp -d) run=$(mktemp -d)/round
trap 'rm -rf "$site" "$(dirname "$run")"' EXIT
if ! "$py" -c "import compressai, pytorch_msssim" 2> /dev/null; then  # a lent machine: from the carried wheels
    "$py" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --target "$site" .gpu/wheels/*.whl
fi
# The one import namespace over the repository's folders, as pyproject.toml maps it, without installing
# (an installed wheel would carry the checkpoints a second time).
mkdir -p "$site/aecodec"
for f in "$PWD"/codec/*; do ln -s "$f" "$site/aecodec/"; done
for part in cli benchmarks checkpoints; do ln -s "$PWD/$part" "$site/aecodec/$part"; done
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
"$py" - <<'PY' | tee "$out/round.txt"
import torch, aecodec, compressai
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"torch {torch.__version__}, compressai {compressai.__version__}, aecodec from {aecodec.__file__}, GPU {gpu}")
PY
args=(train "$data/train" --val-dir "$data/val" --variable-rate --out "$run" --batch-size "${BATCH:-64}"
      --lr "${LR:-1e-4}" --minutes "${MINUTES:-8}" --val-every "${VAL_EVERY:-500}" --seed "${SEED:-500}"
      --device "${DEVICE:-cuda}")
[ -n "$init" ] && args+=(--init-from "$init")
# shellcheck disable=SC2086  # EXTRA_ARGS holds several options
"$py" -m aecodec.cli.main "${args[@]}" ${EXTRA_ARGS:-} 2>&1 | tr '\r' '\n'
cp "$run/best.pt" "$run/log.csv" "$out/"
"$py" - "$run/log.csv" <<'PY' | tee -a "$out/round.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
val = [r for r in rows if r["split"] == "val"]
best = min(val, key=lambda r: float(r["mean_ratio_pct"]))
last = rows[-1]
rate = float(last["step"]) / max(float(last["elapsed_s"]), 1e-9)
print(f"{last['step']} steps in {float(last['elapsed_s']):.0f} s ({rate:.2f} steps/s); held-out mean vs reference: "
      f"start {val[0]['mean_ratio_pct']}%, best {best['mean_ratio_pct']}% at step {best['step']}")
PY
