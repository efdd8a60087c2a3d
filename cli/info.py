"""``aecodec info``: print the header of .aec files (no model is loaded)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import common


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
def info(files, as_json):
    """Validate .aec FILES and show what their headers say."""
    from aecodec.container import unpack

    failures = 0
    for path in files:
        try:
            if path.is_dir():
                raise click.ClickException(f"{path} is a directory")
            data = path.read_bytes()
            header, strings = unpack(data)
        except (click.ClickException, *common.user_errors()) as exc:
            failures += 1
            common.fail(f"{path}: {exc.format_message() if isinstance(exc, click.ClickException) else exc}")
            continue
        facts = {
            "file": str(path),
            **header.to_dict(),
            "bytes": len(data),
            "bpp": round(8 * len(data) / (header.width * header.height), 5),
            "string_bytes": [len(s) for s in strings],
        }
        if as_json:
            click.echo(json.dumps(facts))
        else:
            click.echo(
                f"{path}: {facts['model_id']} q{facts['quality']}, {facts['width']}x{facts['height']} "
                f"{facts['mode']}, latent {'x'.join(map(str, facts['latent_shape']))}, "
                f"{facts['bytes']:,} bytes, {facts['bpp']:.4f} bpp, format v{facts['format_version']}"
                + (f", needs the adapter {header.adapter.short}" if header.adapter else "")
            )
    common.finish(failures)
