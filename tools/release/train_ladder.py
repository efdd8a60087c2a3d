"""Recipe of the shipped checkpoints: shared base training, then short fine-tunes to each quality's lambda.

Sharing the base runs is what makes eight models affordable on a 2-core CPU: the transforms learn to
reconstruct images once, and each quality only adapts its rate-distortion balance. The shipped set was
trained on the ladder before 2026-11-30 (codec/config.py): its quality numbers are one lower than today's for
lambdas 0.0018-0.0483 (earlier q1-q6 are today's q2-q7; earlier q7, lambda 0.0932, was dropped), so the
commands below give lambdas, and the --qualities of the fine-tunes are today's numbers:

    python tools/release/train_ladder.py base --data ../shared/data/train --runs runs/ladder          # 5000 steps, 0.025
    python tools/release/train_ladder.py base --data ../shared/data/train --runs runs/long --steps 10000 \
        --base-lambda 0.0932 --base-lr 3e-4 --init-from runs/ladder/base/last.pt --compile
    # then, per quality, from the base or from the quality above it (two chains ran side by side, 1 thread each):
    python tools/release/train_ladder.py finetune --data ../shared/data/train --runs runs/long4 --base-dir runs/long/base \
        --qualities 8 --steps 1200 --threads 1 --compile     # chain A: q8<base 1200, q7<base 1500, q5<q7 2000,
                                                             #          q3<q5 3000
                                                             # chain B: (0.0932<base 1000), q6<base 1500,
                                                             #          q4<q6 2000, q2<q4 3000
    python tools/release/ship_checkpoints.py --runs runs/long4 --kodak ../shared/data/kodak \
        --stages runs/ladder/base runs/long/base --parents 5:7 3:5 4:6 2:4

The hyperprior family starts each quality from the shipped factorized model of that quality: its transforms
g_a and g_s are kept, the hyper-transforms and the Gaussian conditional start fresh (two workers side by side).
The factorized checkpoints were retired in 0.2.0: --init-dir names a folder holding aecodec 0.1.0's
factorized-q<Q>.pt files (default: checkpoints/, as when the ladder was trained):

    python tools/release/train_ladder.py hyperprior --data ../shared/data/train --runs runs/hyper \
        --qualities 4 2 6 --steps 3000 --threads 1 --compile
    # then all parts together at a low learning rate, from those runs:
    python tools/release/train_ladder.py joint --data ../shared/data/train --runs runs/hyper-joint --base-dir runs/hyper \
        --qualities 4 2 6 --steps 1000 --threads 1 --compile

Quality 1 (lambda 0.0009) of both families is a fine-tune of the shipped quality 2, with the plain trainer:

    aecodec train ../shared/data/train --out runs/low/hyperprior/q1 --lambda 0.0009 --preset hyperprior-small \
        --steps 3000 --lr 1e-4 --warmup-steps 100 --init-from checkpoints/hyperprior-q2.pt --compile --seed 201
    # factorized: --preset small --lr 2e-4 --init-from checkpoints/factorized-q2.pt

All qualities of both families are the M=128 models with their latent grown to 256
channels (codec/training/widen.py), trained on (each beside another run, one thread each; runs/ship-wide/<family> is the
ship script's --runs, with a q<Q> link per run):

    aecodec train ../shared/data/train --out runs/wide/q8-m256 --lambda 0.18 --preset hyperprior-wide \
        --steps 7000 --lr 2e-4 --warmup-steps 100 --init-from checkpoints/hyperprior-q8.pt --compile --seed 301
    # hyperprior q7: --lambda 0.0483 --steps 5500 --seed 302; q6: --lambda 0.025 --steps 3500 --seed 304;
    #   q5: --lambda 0.013 --steps 3500 --seed 306; q4: --lambda 0.0067 --steps 5000 --seed 308;
    #   q3: --lambda 0.0035 --steps 3500 --seed 310; q2: --lambda 0.0018 --steps 3500 --seed 312 --rounded-synthesis
    # factorized (--preset wide): q8 --lambda 0.18 --steps 5500 --seed 303; q7 --lambda 0.0483 --steps 3500 --seed 305;
    #   q6: --lambda 0.025 --steps 3500 --seed 307; q5: --lambda 0.013 --steps 5000 --seed 309;
    #   q4: --lambda 0.0067 --steps 3500 --seed 311; q3: --lambda 0.0035 --steps 3500 --seed 313 --rounded-synthesis;
    #   q2: --lambda 0.0018 --steps 3500 --seed 324 --rounded-synthesis; q1: --lambda 0.0009 --seed 325 (likewise)
    # hyperprior q1: --lambda 0.0009 --steps 3500 --seed 326 --rounded-synthesis
    python tools/release/ship_checkpoints.py --runs runs/ship-wide/hyperprior --model-id hyperprior --qualities 7 \
        --shipped-parents 7:7 --kodak ../shared/data/kodak

Qualities 4-8 of both families were then trained 3,500 more steps from those grown models with the synthesis
fed the rounded latent (same schedule, two side by side; their runs replace the q<Q> links):

    aecodec train ../shared/data/train --out runs/rounded/hq6 --lambda 0.025 --preset hyperprior-wide \
        --steps 3500 --lr 2e-4 --warmup-steps 100 --init-from checkpoints/hyperprior-q6.pt --compile --seed 314 \
        --rounded-synthesis
    # factorized q6 (--preset wide, factorized-q6.pt): --seed 315; q7 (--lambda 0.0483): hyperprior --seed 316,
    #   factorized --seed 317; q8 (--lambda 0.18): hyperprior --seed 318, factorized --seed 319;
    #   q5 (--lambda 0.013): hyperprior --seed 320, factorized --seed 321; q4 (--lambda 0.0067): 322, 323

Then a second round the same way, from those models, for the points furthest from JPEG at their own PSNR
(q8: --steps 5000; each run in its own folder, runs/rounded/hq8b and so on):

    aecodec train ../shared/data/train --out runs/rounded/hq8b --lambda 0.18 --preset hyperprior-wide \
        --steps 5000 --lr 2e-4 --warmup-steps 100 --init-from checkpoints/hyperprior-q8.pt --compile --seed 327 \
        --rounded-synthesis
    # factorized q8: --seed 328; factorized q7 (--lambda 0.0483 --steps 3500): --seed 329;
    #   hyperprior q7: --seed 330; factorized q6 (--lambda 0.025 --steps 3500): --seed 331

A third round (2026-12-01), the same way: both q8 models (runs/rounded/hq8c --seed 332, fq8c --seed 333,
--steps 5000), both q7 models (hq7c --seed 336, fq7c --seed 335) and hyperprior q6 a second time (hq6b
--seed 334). Then the entropy model of some hyperprior models alone, g_a and g_s frozen, at a higher rate:

    aecodec train ../shared/data/train --out runs/rounded/hq6fc --lambda 0.025 --preset hyperprior-wide \
        --freeze-transforms --steps 1500 --val-every 250 --lr 5e-4 --warmup-steps 100 \
        --init-from runs/rounded/hq6b/final.pt --compile --seed 338 --rounded-synthesis
    # hyperprior q8 (runs/rounded/hq8p, from checkpoints/hyperprior-q8.pt): --seed 339;
    #   hyperprior q7 (runs/rounded/hq7p, from runs/rounded/hq7c/final.pt): --seed 340

Later on 2026-12-01: rounded-synthesis rounds (--steps 3500 --lr 2e-4) for hyperprior q3 (runs/rounded/hq3c,
--lambda 0.0035 --seed 341; its first) and q5 (hq5c, --lambda 0.013 --seed 346; its second), each followed by
the entropy stage above from its final.pt (hq3p --seed 342, hq5p --seed 347); the entropy stage alone from the
shipped hyperprior q2 (hq2p, --lambda 0.0018 --seed 344) and q4 (hq4p, --lambda 0.0067 --seed 345); and a
third round for factorized q6 (fq6c, --preset wide --lambda 0.025 --steps 2000 --seed 351). Shipped with
tools/release/ship_checkpoints.py --shipped-parents Q:Q (and --earlier FOLDER holding the joint round as qQ).

Later still (2026-12-01), rounds of 2,000 steps at peak learning rate 5e-4 (2e-4 before) from the shipped
models, the hyperprior ones each followed by the entropy stage above:

    aecodec train ../shared/data/train --out runs/rounded/hq7lr5 --lambda 0.0483 --preset hyperprior-wide \
        --steps 2000 --lr 5e-4 --warmup-steps 100 --init-from checkpoints/hyperprior-q7.pt --compile --seed 352 \
        --rounded-synthesis                                         # then hq7p, the entropy stage: --seed 353
    # hyperprior q8 (hq8c --lambda 0.18 --seed 354, then hq8p --seed 355), hyperprior q6 (hq6c --lambda 0.025
    #   --seed 356, then hq6p --seed 357); factorized (--preset wide) q8 (fq8c --lambda 0.18 --seed 358),
    #   q7 (fq7c --lambda 0.0483 --seed 359), q5 (fq5c --lambda 0.013 --seed 360); hyperprior q4 (hq4lr5
    #   --lambda 0.0067 --seed 361, then hq4lr5p --seed 362; the same run at --lr 1e-3 ended worse)

The same round without the entropy stage (it gave only 0.05-0.3% after a 5e-4 round), from the shipped models:
hyperprior q5 (hq5lr5 --lambda 0.013 --seed 363), q3 (hq3lr5 --lambda 0.0035 --seed 364), q2 (hq2lr5 --lambda
0.0018 --seed 365); factorized (--preset wide) q6 (fq6lr5 --lambda 0.025 --seed 367), q4 (fq4lr5 --lambda 0.0067
--seed 368), q3 (fq3lr5 --lambda 0.0035 --seed 369).
On 2026-12-02 the same for hyperprior q1 (hq1 --lambda 0.0009 --seed 366) and factorized q2 (fq2 --preset wide
--lambda 0.0018 --seed 370).
Then hyperprior q6 (hq6-b8 --lambda 0.025 --seed 371) the same way but --batch-size 8 --steps 4000
--warmup-steps 200: in the same time as the batch-16 round (hq6-b16, same seed) it ended 0.5% lower.
Later on 2026-12-02, both q8 models in batches of 8 for 6,000 steps (300 warm-up), side by side:

    aecodec train ../shared/data/train --out runs/hq8-b8 --lambda 0.18 --preset hyperprior-wide --steps 6000 \
        --batch-size 8 --lr 5e-4 --warmup-steps 300 --init-from checkpoints/hyperprior-q8.pt --compile \
        --seed 372 --rounded-synthesis
    # factorized q8: runs/fq8-b8 --preset wide --init-from checkpoints/factorized-q8.pt --seed 373
On 2026-12-03, both q7 models the same way for 8,000 steps (400 warm-up), side by side:

    aecodec train ../shared/data/train --out runs/hq7-b8 --lambda 0.0483 --preset hyperprior-wide --steps 8000 \
        --batch-size 8 --lr 5e-4 --warmup-steps 400 --init-from checkpoints/hyperprior-q7.pt --compile \
        --seed 374 --rounded-synthesis
    # factorized q7: runs/fq7-b8 --preset wide --init-from checkpoints/factorized-q7.pt --seed 375
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from aecodec.config import TrainConfig, lambda_for_quality, preset
from aecodec.training.train import fit

BASE_LAMBDA = 0.025  # quality 6's
REPO = Path(__file__).resolve().parent.parent.parent


def base_config(steps: int, lmbda: float = BASE_LAMBDA, lr: float = 5e-4, compile: bool = False) -> TrainConfig:
    return TrainConfig(
        lmbda=lmbda, steps=steps, batch_size=16, crop_size=128,
        lr=lr, warmup_steps=200, final_lr_ratio=0.1, val_every=500, log_every=50, compile=compile,
    )  # fmt: skip


def finetune_config(quality: int, steps: int, compile: bool = False) -> TrainConfig:
    return TrainConfig(
        lmbda=lambda_for_quality(quality), steps=steps, batch_size=16, crop_size=128,
        lr=2e-4, warmup_steps=50, final_lr_ratio=0.05, val_every=250, log_every=50, seed=quality, compile=compile,
    )  # fmt: skip


def hyperprior_config(quality: int, steps: int, compile: bool = False) -> TrainConfig:
    # Transforms frozen: training them jointly from the start (lr 2e-4) first undid them, and after 1000
    # steps the validation loss was still worse than the factorized model's (q3: 1.648 against 1.584).
    return TrainConfig(
        lmbda=lambda_for_quality(quality), steps=steps, batch_size=16, crop_size=128, lr=1e-3, warmup_steps=100,
        final_lr_ratio=0.05, val_every=500, log_every=50, seed=quality, compile=compile, freeze_transforms=True,
    )  # fmt: skip


def joint_config(quality: int, steps: int, compile: bool = False) -> TrainConfig:
    # after the entropy model has learned on frozen transforms, everything trains together, gently
    return TrainConfig(
        lmbda=lambda_for_quality(quality), steps=steps, batch_size=16, crop_size=128, lr=1e-4, warmup_steps=100,
        final_lr_ratio=0.05, val_every=250, log_every=50, seed=100 + quality, compile=compile,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["base", "finetune", "hyperprior", "joint"])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--runs", required=True, type=Path)
    parser.add_argument("--preset", default=None, help="default: small, or hyperprior-small for that stage")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--qualities", type=int, nargs="*", default=list(range(1, 9)))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--base-lambda", type=float, default=BASE_LAMBDA, help="lambda of the base run")
    parser.add_argument("--base-lr", type=float, default=5e-4)
    parser.add_argument("--init-from", type=Path, default=None, help="start the base run from these weights")
    parser.add_argument("--base-dir", type=Path, default=None, help="base run folder (default RUNS/base)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
    parser.add_argument("--init-dir", type=Path, default=REPO / "checkpoints",
                        help="hyperprior stage: folder of the factorized-q<Q>.pt models it starts from (retired in "
                        "0.2.0: aecodec 0.1.0's checkpoints)")  # fmt: skip
    args = parser.parse_args()
    if args.stage == "hyperprior":
        missing = [q for q in args.qualities if not (args.init_dir / f"factorized-q{q}.pt").exists()]
        if missing:
            parser.error(f"no factorized-q{missing[0]}.pt in {args.init_dir}: the factorized models were retired "
                         "in 0.2.0; pass --init-dir with aecodec 0.1.0's checkpoints")  # fmt: skip
    if args.threads:
        torch.set_num_threads(args.threads)
    architecture = preset(args.preset or ("small" if args.stage in ("base", "finetune") else "hyperprior-small"))
    base_dir = args.base_dir or args.runs / "base"
    if args.stage == "base":
        config = base_config(args.steps or 5000, args.base_lambda, args.base_lr, args.compile)
        fit(args.data, base_dir, architecture, config, init_from=args.init_from, progress=False)
        return
    if args.stage == "hyperprior":
        for q in args.qualities:
            fit(
                args.data, args.runs / f"q{q}", architecture, hyperprior_config(q, args.steps or 2000, args.compile),
                init_from=args.init_dir / f"factorized-q{q}.pt", progress=False,
            )  # fmt: skip
        return
    if args.stage == "joint":  # RUNS/q<Q> continues BASE_DIR/q<Q> (the frozen-transform hyperprior runs)
        for q in args.qualities:
            fit(
                args.data, args.runs / f"q{q}", architecture, joint_config(q, args.steps or 1000, args.compile),
                init_from=base_dir / f"q{q}" / "last.pt", progress=False,
            )  # fmt: skip
        return
    for q in args.qualities:
        fit(
            args.data, args.runs / f"q{q}", architecture, finetune_config(q, args.steps or 1200, args.compile),
            init_from=base_dir / "last.pt", progress=False,
        )  # fmt: skip


if __name__ == "__main__":
    main()
