"""``aecodec encode``: images -> .aec files."""

from __future__ import annotations

import io
from pathlib import Path

import click

from aecodec.config import MAX_QUALITY, MIN_QUALITY  # light: config and zoo import no torch
from aecodec.zoo import DEFAULT_MODEL_ID, DEFAULT_QUALITY

from . import common


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(allow_dash=True),
              help="Output file (single input only); - writes standard output.")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for the .aec files.")
@click.option("-q", "--quality", type=click.IntRange(MIN_QUALITY, MAX_QUALITY), default=DEFAULT_QUALITY,
              show_default=True, help=f"{MIN_QUALITY} = smallest files .. {MAX_QUALITY} = best quality.")  # fmt: skip
@click.option("--model", "model_id", default=DEFAULT_MODEL_ID, show_default=True,
              help="Model family, e.g. factorized or hyperprior (see `aecodec models`).")  # fmt: skip
@click.option("--refine", "refine_steps", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Optimise the latent of each image for N steps before coding it (the benchmarks use 40): "
                   "smaller files at better quality for ~N times the decoder's work more encoding time. "
                   "Decoding is unchanged.")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
def encode(images, output, out_dir, quality, model_id, refine_steps, device, force):
    """Compress IMAGE files into .aec files (default: beside each input, same name, .aec).

    \b
    With - as IMAGE the image is read from standard input, and -o - writes the .aec stream to standard
    output (progress and notes go to standard error); a file named - is ./-:
      aecodec encode - -o - < photo.png | aecodec decode - -o - > back.png

    Any image Pillow reads works. Grayscale stays grayscale, alpha is kept losslessly, EXIF orientation is
    applied; see the README for the details.
    """
    from aecodec.api import load_codec
    from aecodec.container import peek_header
    from aecodec.images import load_image

    images = common.input_paths(images)
    targets = common.output_paths(images, output, out_dir, ".aec")
    try:
        codec = load_codec(model_id, quality, device=device, refine_steps=refine_steps)
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
            with common.step_progress(label, enabled=refine_steps > 0) as on_step:
                data = codec.compress(image, on_refine=on_step)
            common.write_output(dst, data)
            # The size that was coded, i.e. after EXIF orientation (a rotated photo swaps width and height).
            header = peek_header(data)
            bpp = 8 * len(data) / (header.width * header.height)
            common.report(f"{src} -> {dst}: {header.width}x{header.height}, {len(data):,} bytes, {bpp:.3f} bpp", bar,
                          err=dst == common.STREAM)  # fmt: skip
        except common.user_errors() as exc:
            failures += 1
            common.fail(str(exc))
    common.finish(failures)
