"""``aecodec bench``: rate-distortion curves of aecodec against classical codecs."""

from __future__ import annotations

from pathlib import Path

import click

from aecodec.zoo import DEFAULT_MODEL_ID  # light: the zoo module imports no torch

CODECS_HELP = (
    "Comma-separated: aecodec (the --model family), jpeg, webp, avif, jxl, jpeg2000; aecodec-hyperprior and "
    "aecodec-hyperprior-vr name a model, to compare models in one run; aecodec-hyperprior-refined encodes with "
    "refinement (see `aecodec encode --refine`; slow). aecodec-factorized[-refined] needs the factorized models, "
    "retired in 0.2.0 (aecodec 0.1.0 has them)."
)


@click.command()
@click.option("--dataset", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of lossless images (PNG, PPM, BMP, TIFF). Default: scikit-image's sample photos.")
@click.option("--codecs", default="aecodec,jpeg,webp,avif,jxl,jpeg2000", show_default=True, help=CODECS_HELP)
@click.option("--qualities", "quality_specs", multiple=True, metavar="CODEC=Q,Q,...",
              help="Override a codec's sweep, e.g. jpeg=10,50,90 or aecodec=1-8 (repeatable). JPEG 2000's "
                   "qualities are target PSNRs in dB.")
@click.option("--model", "model_id", default=DEFAULT_MODEL_ID, show_default=True, help="aecodec model id.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/bench"),
              show_default=True, help="Where the CSV, JSON, plots and BD-rate table go.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Measurement cache (default ~/.cache/aecodec/bench).")
@click.option("--no-cache", is_flag=True, help="Measure everything again and store nothing.")
@click.option("--anchors", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON of published curves (name -> bpp, psnr, ms-ssim lists) to overlay and BD-rate against.")
@click.option("--published", default=None,
              help="Comma-separated curve names from --anchors [default: bmshj2018-factorized,"
                   "bmshj2018-hyperprior,bpg444].")
def bench(dataset, codecs, quality_specs, model_id, out_dir, cache_dir, no_cache, anchors, published):
    """Measure bpp, PSNR, MS-SSIM and speed of each codec over a quality sweep; draw RD curves.

    bpp counts every byte of the stored file (the whole .aec for aecodec). Results are cached per
    (codec, quality, image), so an interrupted or repeated run only measures what is missing.

    \b
      aecodec bench                                   # scikit-image photos, all codecs
      aecodec bench --dataset kodak/ --out results/   # a folder of your own
      aecodec bench --codecs aecodec,jpeg --qualities jpeg=20,50,80
    """
    from aecodec.benchmarks.bench import parse_qualities, run
    from aecodec.errors import AECodecError

    names = [c.strip() for c in codecs.split(",") if c.strip()]
    try:
        qualities = parse_qualities(list(quality_specs))
        result = run(
            dataset, names, qualities, out_dir, model_id=model_id, cache_dir=False if no_cache else cache_dir,
            anchors=anchors, published=published.split(",") if published else None,
        )  # fmt: skip
    except ImportError as exc:  # the plotting / metric libraries are the optional "bench" extras
        raise click.ClickException(f"aecodec bench needs {exc.name}: pip install 'aecodec[bench]'") from None
    except (ValueError, FileNotFoundError, RuntimeError, AECodecError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"measured {result['computed']} (codec, quality, image) results, reused {result['cached']} from cache")
    click.echo((out_dir / "bd_rate.md").read_text().rstrip())
    click.echo(f"results in {out_dir}/ (per_image.csv, summary.json, bd_rate.md, rd_psnr.png, rd_ms_ssim.png)")
