"""``aecodec models``: the shipped models and their quality levels."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(as_json):
    """List the models and quality levels available, with what each reaches on Kodak."""
    from aecodec.errors import AECodecError
    from aecodec.zoo import entries

    try:
        found = entries()
    except AECodecError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for e in found:
        kodak = e.info.get("kodak", {})
        rows.append({
            "model_id": e.model_id, "quality": e.quality, "lambda": e.info.get("lambda"),
            "config": e.info.get("config"), "file": e.path.name, "bytes": e.info.get("bytes"),
            "kodak_bpp": kodak.get("bpp"), "kodak_psnr_db": kodak.get("psnr_db"),
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':<12} {'q':>2} {'lambda':>8} {'kodak bpp':>10} {'PSNR dB':>8}  file")
    for r in rows:
        bpp = f"{r['kodak_bpp']:.3f}" if r["kodak_bpp"] is not None else "-"
        psnr = f"{r['kodak_psnr_db']:.2f}" if r["kodak_psnr_db"] is not None else "-"
        click.echo(f"{r['model_id']:<12} {r['quality']:>2} {r['lambda']:>8} {bpp:>10} {psnr:>8}  {r['file']}")
