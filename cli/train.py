"""``aecodec train``: train a model on a folder of photos and export a shippable checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from aecodec.config import MAX_QUALITY, MIN_QUALITY, PRESETS, TrainConfig, VariableRateConfig  # no torch

#: The training defaults are TrainConfig's (one source for the CLI, scripts and the library); a
#: --variable-rate round takes VariableRateConfig's for every option not given.
DEFAULTS = TrainConfig()
VARIABLE_RATE_DEFAULTS = VariableRateConfig()


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
@click.option("--val-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Validate on every image in this folder and train on all of DATA_DIR, instead of holding out "
                   "5% of DATA_DIR (a packed data set, docs/training.md).")  # fmt: skip
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
@click.option("--variable-rate", is_flag=True,
              help="Train one network for every quality (the hyperprior-vr model): every batch holds crops of "
                   "all 8 levels. Needs no --quality; the options not given take the variable-rate recipe's "
                   f"defaults (steps {VARIABLE_RATE_DEFAULTS.steps}, crop {VARIABLE_RATE_DEFAULTS.crop_size}, "
                   f"lr {VARIABLE_RATE_DEFAULTS.lr:g}). --init-from takes a variable-rate checkpoint or a hyperprior "
                   "ladder model of the same size.")  # fmt: skip
@click.option("--gain-lr", type=click.FloatRange(min=0, min_open=True), default=VARIABLE_RATE_DEFAULTS.gain_lr,
              show_default=True, help="--variable-rate: learning rate of the per-level gains.")  # fmt: skip
@click.option("--distill", type=click.FloatRange(min=0), default=VARIABLE_RATE_DEFAULTS.distill, show_default=True,
              help="--variable-rate: weight of pulling each level towards the shipped ladder model's "
                   "reconstruction.")  # fmt: skip
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="--variable-rate: stop after this many minutes (the schedule fits into them).")
@click.option("--bf16/--no-bf16", default=None,
              help="--variable-rate: g_a and g_s under bfloat16 autocast (default: on a GPU only; on a CPU with "
                   "native bfloat16 a step takes less than half the time).")  # fmt: skip
@click.pass_context
def train(ctx, data_dir, out_dir, quality, lmbda, preset, steps, batch_size, crop_size, lr, warmup_steps, val_every,
          init_from, val_dir, resume, device, seed, compile_, freeze_transforms, rounded_synthesis, variable_rate,
          gain_lr, distill, minutes, bf16):  # fmt: skip
    """Train on the photos in DATA_DIR (5% held out for validation) and export OUT/final.pt.

    Give either --quality or --lambda, or --variable-rate. Interrupt at any time: running the same command
    again resumes. Several processes or machines: run the same command under torchrun
    (DistributedDataParallel; each process draws --batch-size crops), e.g.
    `torchrun --nproc_per_node 2 $(which aecodec) train ...` (not with --variable-rate).
    """
    if variable_rate:
        given = {name: value for name, value in ctx.params.items()
                 if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}  # fmt: skip
        _train_variable_rate(data_dir, out_dir, given, preset if "preset" in given else "variable-rate-wide",
                             init_from, resume, device, val_dir)  # fmt: skip
        return
    if bf16 is not None:
        raise click.UsageError("--bf16 applies to --variable-rate rounds only")
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
        last = fit(data_dir, out_dir, model_config, config, init_from=init_from, resume=resume, device=device,
                   val_dir=val_dir)  # fmt: skip
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


#: CLI option -> VariableRateConfig field, for the options a variable-rate round takes.
VARIABLE_RATE_OPTIONS = {
    "steps": "steps", "batch_size": "batch_size", "crop_size": "crop_size", "lr": "lr",
    "warmup_steps": "warmup_steps", "val_every": "val_every", "seed": "seed", "gain_lr": "gain_lr",
    "distill": "distill", "minutes": "max_minutes", "compile_": "compile", "bf16": "bf16",
}  # fmt: skip


def _train_variable_rate(data_dir, out_dir, given, preset, init_from, resume, device, val_dir):
    """``aecodec train --variable-rate``: a round of the variable-rate model, exported as OUT/final.pt."""
    from aecodec.checkpoint import safe_load
    from aecodec.config import ModelConfig
    from aecodec.errors import AECodecError
    from aecodec.models import build_model
    from aecodec.training.export import export_final
    from aecodec.training.variable_rate import fit_variable_rate

    if given.keys() & {"quality", "lmbda", "freeze_transforms", "rounded_synthesis"}:
        raise click.UsageError("--variable-rate trains every quality: --quality, --lambda, --freeze-transforms "
                               "and --rounded-synthesis do not apply")  # fmt: skip
    try:
        fields = {VARIABLE_RATE_OPTIONS[k]: v for k, v in given.items() if k in VARIABLE_RATE_OPTIONS}
        config = VariableRateConfig(**fields)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        last = fit_variable_rate(data_dir, out_dir, config, model_config=PRESETS[preset], init_from=init_from,
                                 resume=resume, device=device, val_dir=val_dir)  # fmt: skip
        state = safe_load(last)
        model = build_model(ModelConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model"])
        meta = {"steps": state["step"], "cpu_seconds": round(state["cpu_s"]), "data": str(data_dir),
                "train_config": state["train_config"], "heldout_vs_reference_pct": state["ratio_pct"],
                "reference": state["refs_source"], "lineage": state["lineage"]}  # fmt: skip
        info = export_final(model, out_dir / "final.pt", meta)
    except (AECodecError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"trained to step {state['step']} ({state['cpu_s'] / 3600:.2f} CPU-hours this run); held-out mean "
               f"{state['mean_ratio_pct']:+.2f}% against {state['refs_source']}; exported {out_dir / 'final.pt'} "
               f"(sha256 {info['sha256']})")  # fmt: skip

