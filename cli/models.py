"""``aecodec models``: the shipped models and their quality levels."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def models(as_json):
    """List the models and quality levels available, with what each reaches on Kodak."""
    from aecodec.errors import AECodecError
    from aecodec.zoo import aliases, entries, retired

    try:
        found, _, gone = entries(), aliases(), retired()  # all read the MANIFEST: a broken one fails here
    except AECodecError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for e in found:
        # a variable-rate model codes every quality: one row per level it was measured at on Kodak
        points = e.info.get("kodak", {}).get("points") if e.variable_rate else [e.info.get("kodak", {})]
        for point in points or [{}]:
            quality = point.get("quality") if e.variable_rate else e.quality
            lmbda = e.info["lambdas"][quality - 1] if e.variable_rate and quality else e.info.get("lambda")
            rows.append({
                "model_id": e.model_id, "quality": quality, "variable_rate": e.variable_rate, "lambda": lmbda,
                "config": e.info.get("config"), "file": e.path.name, "bytes": e.info.get("bytes"),
                "kodak_bpp": point.get("bpp"), "kodak_psnr_db": point.get("psnr_db"), "retired": None,
            })  # fmt: skip
    for model_id, (last_version, retired_in) in gone.items():  # one row each: no longer shipped, no file
        rows.append({
            "model_id": model_id, "quality": None, "variable_rate": None, "lambda": None, "config": None,
            "file": None, "bytes": None, "kodak_bpp": None, "kodak_psnr_db": None,
            "retired": {"last_version": last_version, "retired_in": retired_in},
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':<15} {'q':>2} {'lambda':>8} {'kodak bpp':>10} {'PSNR dB':>8}  file")
    for r in rows:
        if r["retired"]:
            continue
        bpp = f"{r['kodak_bpp']:.3f}" if r["kodak_bpp"] is not None else "-"
        psnr = f"{r['kodak_psnr_db']:.2f}" if r["kodak_psnr_db"] is not None else "-"
        file = r["file"] + (" (any quality 1.0-8.0)" if r["variable_rate"] else "")
        click.echo(f"{r['model_id']:<15} {r['quality'] or '-':>2} {r['lambda'] or '-':>8} {bpp:>10} {psnr:>8}  {file}")
    for alias, model_id in aliases().items():
        click.echo(f"{alias} = {model_id}")
    for model_id, (last_version, retired_in) in gone.items():
        when = f" in {retired_in}" if retired_in else ""
        click.echo(f'{model_id}: retired{when}; aecodec {last_version} decodes its streams '
                   f'(pip install "aecodec=={last_version}")')  # fmt: skip
