"""One benchmark run, start to finish: load images, measure the codecs (cached), write the report.

    from aecodec.benchmarks.bench import run
    result = run(dataset="../shared/data/kodak", codecs=["aecodec", "jpeg"], out="out/bench")
"""

from __future__ import annotations

import platform
from pathlib import Path

from aecodec.zoo import DEFAULT_MODEL_ID

from . import datasets, harness, report
from .codecs import CODEC_NAMES, DEFAULT_CODECS, DEFAULT_QUALITIES

#: Published curves overlaid when an anchors file is given and no names are asked for.
DEFAULT_PUBLISHED = ("bmshj2018-factorized", "bmshj2018-hyperprior", "bpg444")


def parse_qualities(specs: list[str]) -> dict[str, list[float]]:
    """Parse ``CODEC=Q,Q,...`` (ranges of integers as ``A-B``), e.g. ``jpeg=10,50,90``, ``aecodec=1-8`` or
    ``aecodec-hyperprior-vr=1,1.5,2`` (the variable-rate model takes fractions)."""
    out: dict[str, list[int]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or name not in CODEC_NAMES:
            raise ValueError(f"bad quality list {spec!r}: expected CODEC=Q,Q,... with CODEC in {', '.join(CODEC_NAMES)}")
        qualities: list[int] = []
        try:
            for part in values.split(","):
                lo, dash, hi = part.partition("-")
                if dash:
                    qualities.extend(range(int(lo), int(hi) + 1))
                else:
                    value = float(lo)
                    qualities.append(int(value) if value == int(value) else value)
        except (ValueError, OverflowError):
            raise ValueError(f"bad quality list {spec!r}: qualities must be numbers or ranges A-B") from None
        if not qualities:
            raise ValueError(f"bad quality list {spec!r}: no qualities")
        out[name] = qualities
    return out


def run(
    dataset: str | Path | None = None,
    codecs: list[str] = DEFAULT_CODECS,
    qualities: dict[str, list[int]] | None = None,
    out: str | Path = "out/bench",
    *,
    model_id: str = DEFAULT_MODEL_ID,
    checkpoint_dir=None,
    cache_dir: str | Path | None = None,
    anchors: str | Path | None = None,
    published: list[str] | None = None,
    progress: bool = True,
) -> dict:
    """Benchmark ``codecs`` on ``dataset`` (None: scikit-image's sample photos) and write the report to ``out``.

    Returns ``{"summary", "bd_rate", "computed", "cached"}``. ``cache_dir`` defaults to
    ``~/.cache/aecodec/bench``; pass ``False`` to measure everything afresh.
    """
    unknown = [c for c in codecs if c not in CODEC_NAMES]
    if unknown:
        raise ValueError(f"unknown codec {', '.join(unknown)}; valid: {', '.join(CODEC_NAMES)}")
    qualities = qualities or {}
    sweeps = {name: list(qualities.get(name, DEFAULT_QUALITIES[name])) for name in codecs}
    images = datasets.load_default() if dataset is None else datasets.load_folder(dataset)
    curves = report.load_published(anchors, list(published or DEFAULT_PUBLISHED)) if anchors else None
    if cache_dir is None:
        cache_dir = harness.default_cache_dir()
    measured = harness.measure(
        images, sweeps, model_id=model_id, checkpoint_dir=checkpoint_dir,
        cache_dir=cache_dir or None, progress=progress,
    )  # fmt: skip
    import torch

    meta = {
        "dataset": str(dataset) if dataset is not None else "scikit-image: " + ", ".join(datasets.SKIMAGE_PHOTOS),
        "images": len(images), "sweeps": sweeps, "aecodec_model": model_id,
        "bpp": "8 * bytes of the stored file / pixels", "psnr_db": "8-bit RGB, mean over images",
        "ms_ssim": "pytorch-msssim on 8-bit RGB, mean over images", "enc_s/dec_s": "median seconds per image",
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
                   f"torch {torch.__version__} with {torch.get_num_threads()} threads",
        "published_overlay": sorted(curves) if curves else [],
    }  # fmt: skip
    written = report.write(Path(out), measured.rows, meta, curves)
    return {**written, "computed": measured.computed, "cached": measured.cached}
