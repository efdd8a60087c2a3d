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
    """Validate .aec FILES and show what their headers say (- reads one stream from standard input)."""
    from aecodec.container import unpack

    retired = _retired_models()
    failures = 0
    for path in files:
        try:
            if str(path) != common.STREAM and path.is_dir():
                raise click.ClickException(f"{path} is a directory")
            data = common.read_input(str(path))
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
        if header.model_id in retired:  # a sound file, but this version no longer has its model
            facts["retired"] = {"last_version": retired[header.model_id][0]}
        if as_json:
            click.echo(json.dumps(facts))
        else:
            gone = facts.get("retired")
            note = f" (model retired: aecodec {gone['last_version']} decodes it)" if gone else ""
            click.echo(
                f"{path}: {facts['model_id']} q{facts['quality']}, {facts['width']}x{facts['height']} "
                f"{facts['mode']}, latent {'x'.join(map(str, facts['latent_shape']))}, "
                f"{facts['bytes']:,} bytes, {facts['bpp']:.4f} bpp, format v{facts['format_version']}{note}"
                + (f", needs the adapter {header.adapter.short}" if header.adapter else "")
            )
    common.finish(failures)


def _retired_models() -> dict[str, tuple[str, str | None]]:
    """The MANIFEST's retired models, to say which files this version cannot decode; a missing or broken MANIFEST
    leaves the headers to be shown as they are (decoding would report it)."""
    from aecodec.errors import AECodecError
    from aecodec.zoo import retired

    try:
        return retired()
    except AECodecError:
        return {}
