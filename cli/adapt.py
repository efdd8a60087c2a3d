"""``aecodec adapt``: teach the variable-rate model a folder's kind of images (an adapter file)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aecodec.zoo import VARIABLE_RATE_MODEL_ID  # light: imports no torch

from . import common

#: The kinds ``--kind`` offers (aecodec.adapter.KINDS, named here so that --help needs no torch).
KIND_CHOICES = ("decoder", "encoder")


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The adapter file to write, NAME.aecadapt: streams coded with it record NAME.")  # fmt: skip
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=20.0, show_default=True,
              help="CPU minutes of training (all threads together).")
@click.option("--kind", type=click.Choice(KIND_CHOICES), default="decoder", show_default=True,
              help="decoder: adapts the synthesis too (decoding needs the adapter). encoder: the analysis only "
                   "(its streams decode with the base model anywhere).")  # fmt: skip
@click.option("--rank", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Rank of each convolution's update (size grows with it; at most 1 MB).")
@click.option("--model", "model_id", default=VARIABLE_RATE_MODEL_ID, show_default=True,
              help="The variable-rate model to adapt.")
@click.option("--heldout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="Share of the folder's images held out (by a hash of their names) for the report.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Stop after this many steps at most.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing adapter file.")
def adapt(folder, output, minutes, kind, rank, model_id, heldout, steps, seed, force):
    """Fit an adapter of the variable-rate model to the images in FOLDER, on the CPU, within --minutes, and
    report what it gains on held-out images of the folder.

    \b
      aecodec adapt screenshots/ -o screens.aecadapt --minutes 20
      aecodec encode shot.png --adapter screens.aecadapt
      aecodec decode shot.aec --adapter screens.aecadapt
    """
    import torch

    from aecodec.adapter import SUFFIX
    from aecodec.images import list_images
    from aecodec.training.adapt import AdaptConfig, make_adapter
    from aecodec.training.data import split_files

    if output.suffix != SUFFIX:
        raise click.BadParameter(f"the adapter file must end in {SUFFIX}", param_hint="-o/--output")
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists (use --force to overwrite)")
    try:
        train, held = split_files(list_images(folder, what="adapter"), heldout)
        if not held or not train:
            raise click.ClickException(f"{folder} needs at least two images (some to train on, one held out)")
        config = AdaptConfig(kind=kind, rank=rank, minutes=minutes, steps=steps, seed=seed)
        click.echo(f"adapting {model_id} to {folder}: {len(train)} images to train on, {len(held)} held out, "
                   f"{minutes:g} CPU minutes on {torch.get_num_threads()} threads", err=True)  # fmt: skip
        with common.fraction_progress("adapting") as on_progress:
            result = make_adapter(train, held, output, model_id, config, on_progress=on_progress)
    except (ValueError, *common.user_errors()) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report(result))


def report(result: dict) -> str:
    """What ``aecodec adapt`` prints at the end."""
    held = result["heldout"]
    bd = held["bd_rate_percent"]
    needs = ("decoding its streams needs it (aecodec decode --adapter)" if result["decoder_side"] else
             "its streams are ordinary streams: any aecodec decodes them without it")  # fmt: skip
    lines = [
        f"wrote {result['path']}: {result['kind']} adapter of {result['base_model_id']}, {result['bytes']:,} bytes, "
        f"sha256 {result['sha256'][:12]}...; {needs}",
        f"trained {result['steps']} steps in {result['cpu_minutes']:.1f} CPU minutes ({result['wall_minutes']:.1f} "
        f"wall) on {result['training_images']} images",
        f"held-out images ({held['images']}): BD-rate against {result['base_model_id']} "
        + ("n/a (the curves do not overlap)" if bd is None else f"{bd:+.1f}% (negative: smaller files)"),
        "  quality   base bpp   dB      adapted bpp   dB",
    ]
    for b, a in zip(held["base"], held["adapted"]):
        lines.append(f"  {b['quality']:<8}  {b['bpp']:.3f}      {b['psnr_db']:.2f}   {a['bpp']:.3f}         "
                     f"{a['psnr_db']:.2f}")  # fmt: skip
    return "\n".join(lines)
