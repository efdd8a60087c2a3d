#!/usr/bin/env bash
# Make .gpu/ (ignored by git) for tools/gpu/round.sh, here, before a lent GPU machine is asked for:
#   .gpu/data    the training photos packed to fit what travels (python -m aecodec.training.pack)
#   .gpu/wheels  what that machine lacks for aecodec (it has torch, numpy, pillow, click, tqdm, scipy, einops,
#                matplotlib; not compressai and pytorch-msssim), for its Python 3.12
# Usage: bash tools/gpu/prepare.sh [TRAINING_PHOTOS]   (default ../shared/data/train)
# The pack gets what the 64 MiB that travel leave after the working tree and the wheels, less 1 MiB (MAX_MB
# overrides); delete .gpu/data to pack again after the repository grew (a shipped checkpoint, say).
set -euo pipefail
cd "$(dirname "$0")/../.."
photos=${1:-../shared/data/train}
py=${PYTHON:-.venv/bin/python}
mkdir -p .gpu/wheels
"$py" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_34_x86_64 --dest .gpu/wheels compressai==1.2.8 pytorch-msssim==1.0.0
# what travels to the machine: the working tree git does not ignore, plus .gpu; the limit is 64 MiB
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
wheels=$(du -sb .gpu/wheels | cut -f1)
room=$(( 63 * 1048576 - tree - wheels ))
[ -d .gpu/data ] || "$py" -m aecodec.training.pack "$photos" .gpu/data --max-mb "${MAX_MB:-$(( room / 1000000 ))}"
extra=$(du -sb .gpu | cut -f1)
echo "travels: $(( (tree + extra) / 1048576 )) MiB of 64" \
    "(working tree $(( tree / 1048576 )), .gpu $(( extra / 1048576 )))"
if (( tree + extra > 64 * 1048576 )); then
    echo "over the limit: pack less (MAX_MB) after rm -rf .gpu/data" >&2
    exit 1
fi
