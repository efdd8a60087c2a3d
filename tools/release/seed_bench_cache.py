"""Put committed per-image benchmark rows of unchanged aecodec models back into the benchmark cache.

A fresh machine has no benchmark cache and would measure every model again (the "-refined" codecs take over
an hour on Kodak). This stores the rows of a committed per_image.csv whose checkpoint is unchanged since the
commit that wrote it (the last commit that changed the file; benchmarks/reuse.py), so `aecodec bench` measures
only the changed models:

    python tools/release/seed_bench_cache.py --rows benchmarks/results/kodak/per_image.csv \
        --dataset ../shared/data/kodak --codecs aecodec-hyperprior-refined

(Rows of a retired family, such as the factorized one in the committed results, cannot be seeded: there is no
model to key them by. Asking for them is an error that names the version that has it.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aecodec.benchmarks import datasets
from aecodec.benchmarks.harness import default_cache_dir
from aecodec.benchmarks.reuse import measured_manifest_text, seed_cache
from aecodec.errors import AECodecError

REPO = Path(__file__).resolve().parent.parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=Path, required=True, help="a per_image.csv written by `aecodec bench`")
    parser.add_argument("--rev", help="a revision with the same checkpoints as the commit that last wrote --rows "
                        "(default: that commit)")
    parser.add_argument("--dataset", type=Path, help="the images of that run (default: scikit-image's)")
    parser.add_argument("--codecs", required=True, help="comma-separated aecodec codec names to seed")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    args = parser.parse_args()

    try:
        manifest = json.loads(measured_manifest_text(args.rows, REPO, args.rev))
    except ValueError as err:
        parser.error(str(err))
    images = datasets.load_folder(args.dataset) if args.dataset else datasets.load_default()
    try:
        seeded, changed = seed_cache(args.rows, manifest, images, set(args.codecs.split(",")),
                                     args.cache_dir)  # fmt: skip
    except AECodecError as err:  # e.g. a retired model's codec
        parser.error(str(err))
    left = ", ".join(f"{codec} q{quality}" for codec, quality in sorted(changed)) or "none"
    print(f"seeded {seeded} rows into {args.cache_dir}; changed since they were measured, left to measure: {left}")


if __name__ == "__main__":
    main()
