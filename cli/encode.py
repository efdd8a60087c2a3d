"""``aecodec encode``: images -> .aec files."""

from __future__ import annotations

import io
from pathlib import Path

import click

from aecodec.config import MAX_QUALITY, MIN_QUALITY  # light: config and zoo import no torch
from aecodec.zoo import DEFAULT_MODEL_ID, DEFAULT_QUALITY, VARIABLE_RATE_MODEL_ID

from . import common


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(allow_dash=True),
              help="Output file (single input only); - writes standard output.")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for the .aec files.")
@click.option("-q", "--quality", type=click.FloatRange(MIN_QUALITY, MAX_QUALITY), default=None,
              help=f"{MIN_QUALITY} = smallest files .. {MAX_QUALITY} = best quality  [default: {DEFAULT_QUALITY}]. "
                   f"The {VARIABLE_RATE_MODEL_ID} model takes any value between (steps of 1/64), a ladder the "
                   "whole levels.")  # fmt: skip
@click.option("--bpp", "target_bpp", type=click.FloatRange(min=0, min_open=True),
              help="Aim each file at this many bits per pixel: the highest quality whose file fits "
                   f"(uses {VARIABLE_RATE_MODEL_ID} unless --model names another variable-rate model).")  # fmt: skip
@click.option("--size", "target_size", type=common.ByteSize(),
              help="Aim each file at this size, e.g. 40KB (1000 bytes), 40KiB (1024), 1.5MB: as --bpp.")
@click.option("--model", "model_id", default=None,
              help=f"Model, e.g. hyperprior or {VARIABLE_RATE_MODEL_ID} (see `aecodec models`)  "
                   f"[default: {DEFAULT_MODEL_ID}; with --bpp or --size: {VARIABLE_RATE_MODEL_ID}].")  # fmt: skip
@click.option("--refine", "refine_steps", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Optimise the latent of each image for N steps before coding it (the benchmarks use 40): "
                   "smaller files at better quality for ~N times the decoder's work more encoding time. "
                   "Decoding is unchanged.")  # fmt: skip
@click.option("--adapter", "adapter_path", type=click.Path(dir_okay=False, path_type=Path),
              help="An adapter file made by `aecodec adapt` (its model is the default --model). A decoder-side "
                   "adapter's files need it to decode.")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@common.threads_option
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
def encode(images, output, out_dir, quality, target_bpp, target_size, model_id, adapter_path, refine_steps, device,
           force):  # fmt: skip
    """Compress IMAGE files into .aec files (default: beside each input, same name, .aec).

    \b
    With - as IMAGE the image is read from standard input, and -o - writes the .aec stream to standard
    output (progress and notes go to standard error); a file named - is ./-:
      aecodec encode - -o - < photo.png | aecodec decode - -o - > back.png

    Any image Pillow reads works. Grayscale stays grayscale, alpha is kept losslessly, EXIF orientation is
    applied; see the README for the details.

    \b
    Aim at a size instead of a quality (each file lands at or just under it, within about 1%):
      aecodec encode photo.png --size 40KB
      aecodec encode *.png --out-dir small --bpp 0.5
    """
    from aecodec.adapter import read_adapter
    from aecodec.api import load_codec
    from aecodec.container import peek_header
    from aecodec.images import load_image

    aiming = target_bpp is not None or target_size is not None
    if aiming and (quality is not None or (target_bpp is not None and target_size is not None)):
        raise click.UsageError("use one of -q/--quality, --bpp and --size")
    images = common.input_paths(images)
    targets = common.output_paths(images, output, out_dir, ".aec")
    try:
        adapter = read_adapter(adapter_path) if adapter_path is not None else None
        if model_id is None:
            model_id = adapter.base_model_id if adapter else VARIABLE_RATE_MODEL_ID if aiming else DEFAULT_MODEL_ID
        codec = load_codec(model_id, DEFAULT_QUALITY if quality is None else quality, device=device,
                           refine_steps=refine_steps, adapter=adapter)  # fmt: skip
        if aiming and not codec.variable_rate:
            raise ValueError(f"--bpp and --size need a variable-rate model such as {VARIABLE_RATE_MODEL_ID}, "
                             f"not {model_id}")  # fmt: skip
    except common.user_errors() as exc:
        # The same one-line `error: ...` as every other failure (click would print `Error: ...`).
        common.fail(str(exc))
        raise SystemExit(1) from None
    failures = 0
    bar = common.progress(list(zip(images, targets)), "encoding")
    for src, dst in bar:
        try:
            common.check_writable(src, dst, force)
            if src == common.STREAM:
                image = load_image(io.BytesIO(common.read_input(src)), "standard input")
            else:
                image = load_image(src)
            frames = image.info.get("aecodec_frames", 1)
            if frames > 1:
                click.echo(f"note: {src} has {frames} frames; only the first is encoded", err=True)
            label = f"refining {getattr(src, 'name', 'standard input')}"
            note = ""
            if aiming:
                pixels = image.width * image.height
                target = target_size if target_size is not None else target_bpp * pixels / 8
                sized = codec.compress_to_size(image, target)
                data = sized.data
                note = f", quality {sized.quality}"
                if not sized.fits:
                    note += f" (the smallest this model makes: over the {target:,.0f}-byte target)"
            else:
                with common.step_progress(label, enabled=refine_steps > 0) as on_step:
                    data = codec.compress(image, on_refine=on_step)
            common.write_output(dst, data)
            # The size that was coded, i.e. after EXIF orientation (a rotated photo swaps width and height).
            header = peek_header(data)
            bpp = 8 * len(data) / (header.width * header.height)
            common.report(f"{src} -> {dst}: {header.width}x{header.height}, {len(data):,} bytes, {bpp:.3f} bpp{note}",
                          bar, err=dst == common.STREAM)  # fmt: skip
        except common.user_errors() as exc:
            failures += 1
            common.fail_input(src, str(exc), many=len(images) > 1)
    common.finish(failures)
