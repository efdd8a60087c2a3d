"""``aecodec decode``: .aec files -> images."""

from __future__ import annotations

import io
from pathlib import Path

import click

from aecodec.config import DEFAULT_MAX_PIXELS  # light: imports no torch

from . import common

#: zlib level of decoded PNGs. Pillow's default, 6, took 14.6 s to write a 48-megapixel photo here, longer than
#: decoding it; level 1 took 3.0 s for a file 8% larger.
PNG_LEVEL = 1


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(allow_dash=True),
              help="Output image (single input only); the extension picks the format; - writes standard output.")
@click.option("--format", "image_format", metavar="FORMAT",
              help="Image format to write: png, ppm, bmp, tiff, webp, ... (default: the output's extension; "
                   "png on standard output).")  # fmt: skip
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for the decoded images.")
@click.option("--adapter", "adapter_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The adapter file that files coded with a decoder-side adapter need (they name it); files "
                   "that need none decode without it.")  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@common.threads_option
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
@click.option("--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse files that declare a larger image (a decompression-bomb guard); 0: no limit.")  # fmt: skip
@click.option("--png-level", type=click.IntRange(0, 9), default=PNG_LEVEL, show_default=True,
              help="zlib level of PNG output: 1 writes about 5x faster than Pillow's default 6, for files about "
                   "8% larger; 9 for the smallest.")  # fmt: skip
def decode(files, output, out_dir, image_format, adapter_path, device, force, max_pixels, png_level):
    """Decompress .aec FILES into images (default: PNG beside each input).

    \b
    With - as FILE the stream is read from standard input, and -o - writes the image to standard output
    (progress and notes go to standard error); a file named - is ./-:
      cat photo.aec | aecodec decode - -o - --format ppm | pnmtojpeg > photo.jpg

    Large images are decoded tile by tile, so memory stays bounded: a 48-megapixel photo decodes with the
    defaults in about 1.5 GB (26 s on 2 cores). Every image that `aecodec encode` accepts by default decodes by default.
    """
    from aecodec.adapter import read_adapter
    from aecodec.api import check_size, load_codec
    from aecodec.container import peek_header

    try:
        adapter = read_adapter(adapter_path) if adapter_path is not None else None
    except common.user_errors() as exc:
        raise click.ClickException(str(exc)) from None

    files = common.input_paths(files)
    targets = common.output_paths(files, output, out_dir, ".png")
    fixed_format = _format_named(image_format) if image_format else None
    codecs = {}  # one loaded model per (model id, quality, adapter) among the inputs
    failures = 0
    bar = common.progress(list(zip(files, targets)), "decoding")
    for src, dst in bar:
        try:
            common.check_writable(src, dst, force)
            if src != common.STREAM and src.is_dir():
                raise click.ClickException(f"{src} is a directory")
            data = common.read_input(src)
            header = peek_header(data)  # picks the model; decompress validates the whole stream once
            check_size(header, max_pixels or None, option="--max-pixels (0: no limit)")
            use = adapter if header.adapter is not None else None  # the codec checks it is the one needed
            key = (header.model_id, header.quality, use.sha256 if use else None)
            if key not in codecs:
                codecs[key] = load_codec(header.model_id, header.quality, device=device, adapter=use)
            image = codecs[key].decompress(data, max_pixels=max_pixels or None)
            # Encoded in memory first: a format that cannot hold the mode (RGBA as PPM) fails before any byte
            # reaches standard output or the file.
            buffer = io.BytesIO()
            fmt = fixed_format or ("PNG" if dst == common.STREAM else _format_for(dst))
            image.save(buffer, format=fmt, **({"compress_level": png_level} if fmt == "PNG" else {}))
            common.write_output(dst, buffer.getvalue())
            common.report(f"{src} -> {dst}: {image.width}x{image.height} {image.mode}", bar, err=dst == common.STREAM)
        except (click.ClickException, *common.user_errors()) as exc:
            failures += 1
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            common.fail_input(src, message, many=len(files) > 1)
    common.finish(failures)


def _format_named(name: str) -> str:
    """Pillow's format for a name the user gives (png, jpg, tif, PPM...)."""
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get("." + name.lower(), name.upper())
    if fmt not in Image.SAVE:
        raise click.BadParameter(f"unknown image format {name!r} (e.g. png, ppm, bmp, tiff, webp)",
                                 param_hint="--format")  # fmt: skip
    return fmt


def _format_for(path: Path) -> str:
    from PIL import Image

    Image.init()
    fmt = Image.EXTENSION.get(path.suffix.lower())
    if fmt is None:
        raise click.ClickException(f"{path}: unknown image extension {path.suffix!r} (use .png, .bmp, .tif, ...)")
    return fmt
