"""``aecodec train``: train a model on a folder of photos and export a shippable checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from aecodec.config import MAX_QUALITY, MIN_QUALITY, PRESETS, TrainConfig  # light: imports no torch

#: The training defaults are TrainConfig's (one source for the CLI, scripts and the library).
DEFAULTS = TrainConfig()


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder: last.pt (resumable), log.csv, validation grids, final.pt.")  # fmt: skip
@click.option("-q", "--quality", type=click.IntRange(MIN_QUALITY, MAX_QUALITY), default=None,
              help="Train for this quality's lambda.")  # fmt: skip
@click.option("--lambda", "lmbda", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rate-distortion lambda (instead of --quality).")  # fmt: skip
@click.option("--preset", type=click.Choice(list(PRESETS)), default="small", show_default=True,
              help="Architecture: tiny .. base and wide are factorized priors, hyperprior-* scale hyperpriors, "
                   "hyperprior-mean-* mean-scale ones. --init-from a model of the same family with fewer latent "
                   "channels grows its latent (small -> wide); a scale-only hyperprior starts a mean-scale one "
                   "unchanged (its means start at 0).")  # fmt: skip
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULTS.steps, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--crop-size", type=click.IntRange(min=16), default=DEFAULTS.crop_size, show_default=True,
              help="Training crop side (multiple of 16; 128 trains ~1.5x faster per pixel than 256 on CPU).")  # fmt: skip
@click.option("--lr", type=float, default=DEFAULTS.lr, show_default=True, help="Peak learning rate (cosine decay).")
@click.option("--warmup-steps", type=click.IntRange(min=0), default=DEFAULTS.warmup_steps, show_default=True)
@click.option("--val-every", type=click.IntRange(min=1), default=DEFAULTS.val_every, show_default=True)
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Start from these weights (e.g. fine-tune another quality's model).")  # fmt: skip
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from OUT/last.pt.")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@click.option("--compile/--no-compile", "compile_", default=DEFAULTS.compile, show_default=True,
              help="torch.compile the training step: ~1.5x faster on CPU after ~1 minute of compiling.")
@click.option("--freeze-transforms", is_flag=True,
              help="Train only the entropy model, keeping g_a and g_s as --init-from gave them (a hyperprior "
                   "starting from a trained factorized model).")  # fmt: skip
@click.option("--rounded-synthesis/--noisy-synthesis", default=DEFAULTS.rounded_synthesis, show_default=True,
              help="Feed the synthesis transforms the latents rounded as the decoder will (straight-through "
                   "gradient) rather than with training's uniform noise; the rate is estimated with noise "
                   "either way.")  # fmt: skip
def train(data_dir, out_dir, quality, lmbda, preset, steps, batch_size, crop_size, lr, warmup_steps, val_every,
          init_from, resume, device, seed, compile_, freeze_transforms, rounded_synthesis):  # fmt: skip
    """Train on the photos in DATA_DIR (5% held out for validation) and export OUT/final.pt.

    Give either --quality or --lambda. Interrupt at any time: running the same command again resumes.
    Several processes or machines: run the same command under torchrun (DistributedDataParallel; each
    process draws --batch-size crops), e.g. `torchrun --nproc_per_node 2 $(which aecodec) train ...`.
    """
    from aecodec.checkpoint import safe_load
    from aecodec.config import ModelConfig, lambda_for_quality
    from aecodec.errors import AECodecError
    from aecodec.models import build_model
    from aecodec.training.distributed import from_environment
    from aecodec.training.export import export_final
    from aecodec.training.train import fit

    if (quality is None) == (lmbda is None):
        raise click.UsageError("give exactly one of --quality and --lambda")
    if lmbda is None:
        lmbda = lambda_for_quality(quality)
    try:
        model_config = PRESETS[preset]
        config = TrainConfig(
            lmbda=lmbda, steps=steps, batch_size=batch_size, crop_size=crop_size, lr=lr,
            warmup_steps=warmup_steps, val_every=val_every, seed=seed, compile=compile_,
            freeze_transforms=freeze_transforms, rounded_synthesis=rounded_synthesis,
        )  # fmt: skip
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        last = fit(data_dir, out_dir, model_config, config, init_from=init_from, resume=resume, device=device)
        if not from_environment().is_main:
            return  # under torchrun, rank 0 exports
        state = safe_load(last)
        model = build_model(ModelConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model"])
        meta = {"lambda": lmbda, "steps": state["step"], "data": str(data_dir), "train_config": state["train_config"]}
        info = export_final(model, out_dir / "final.pt", meta)
    except (AECodecError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"trained {state['step']} steps; exported {out_dir / 'final.pt'} (sha256 {info['sha256']})")
