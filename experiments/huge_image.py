"""Measure huge-image coding: time and peak memory of plain `aecodec encode` / `decode` on a 48-megapixel
photo, and the largest pixel difference between tiled and untiled coding on an image small enough for both.

The 8000 x 6000 test photo is a mosaic of natural photos (a folder of them, or scikit-image's samples),
each resized to 1000 x 750; it is written to a temporary folder, never into the repository. Each command
runs in its own process under /usr/bin/time -v, which reports the peak resident set size. The commands are
the plain ones a user types (no options but the output file; ``--model`` / ``--quality`` only when given
here); the decode runs ``--decodes`` times and the median is reported::

    .venv/bin/python experiments/huge_image.py --photos ../shared/data/train --out benchmarks/results/huge-48mp.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from aecodec.metrics import psnr_db

REPO = Path(__file__).resolve().parent.parent


def mosaic(photos: list[Image.Image], columns: int, rows: int, cell: tuple[int, int]) -> Image.Image:
    """columns x rows cells of ``cell`` pixels, photo i in cell i (cycling), each cropped to the cell's shape."""
    width, height = cell
    out = Image.new("RGB", (columns * width, rows * height))
    for i in range(columns * rows):
        photo = photos[i % len(photos)].convert("RGB")
        scale = max(width / photo.width, height / photo.height)
        resized = photo.resize((round(photo.width * scale + 0.5), round(photo.height * scale + 0.5)), Image.LANCZOS)
        left, top = (resized.width - width) // 2, (resized.height - height) // 2
        cell_at = ((i % columns) * width, (i // columns) * height)
        out.paste(resized.crop((left, top, left + width, top + height)), cell_at)
    return out


def load_photos(folder: Path | None) -> list[Image.Image]:
    if folder is None:
        from skimage import data

        return [Image.fromarray(getattr(data, name)()) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    from aecodec.images import list_images

    return [Image.open(p) for p in list_images(folder)[:64]]


def timed(args: list[str]) -> dict:
    """Run ``python -m aecodec.cli.main ARGS`` under /usr/bin/time -v: wall seconds and peak RSS in MB."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "aecodec.cli.main", *args]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_kb / 1024, 1)}


def tiled_vs_untiled(image: Image.Image, model_id: str, quality: int) -> dict:
    """Code ``image`` with the default tiles and as one tile; compare the bytes and the decoded pixels."""
    import aecodec
    from aecodec import container

    tiled = aecodec.load_codec(model_id, quality)
    untiled = aecodec.load_codec(model_id, quality, tile=container.MAX_TILE)
    a_data, b_data = tiled.compress(image), untiled.compress(image)
    a = np.asarray(tiled.decompress(a_data)).astype(int)
    b = np.asarray(untiled.decompress(b_data)).astype(int)
    diff = np.abs(a - b)
    return {
        "size": f"{image.width}x{image.height}",
        "tiles": len(container.unpack(a_data)[1]),
        "bytes_tiled": len(a_data), "bytes_untiled": len(b_data),
        "max_pixel_diff": int(diff.max()), "pixels_differing": float(np.mean(diff.max(axis=2) > 0)),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos for the mosaic")
    parser.add_argument("--quality", type=float, default=None, help="quality (default: aecodec's default)")
    parser.add_argument("--model", default=None, help="model (default: aecodec's default)")
    parser.add_argument("--decodes", type=int, default=3, help="decode this many times, report the median")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    photos = load_photos(args.photos)
    big = mosaic(photos, 8, 8, (1000, 750))
    from aecodec.zoo import DEFAULT_MODEL_ID, DEFAULT_QUALITY

    model_id, quality = args.model or DEFAULT_MODEL_ID, args.quality or DEFAULT_QUALITY
    figures = {"model": model_id, "quality": quality, "cpu_cores": os.cpu_count()}
    figures["tiled_vs_untiled"] = tiled_vs_untiled(big.crop((0, 0, 4000, 3000)), model_id, quality)
    print(json.dumps(figures["tiled_vs_untiled"]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        png, aec, out = Path(tmp) / "big.png", Path(tmp) / "big.aec", Path(tmp) / "big.dec.png"
        big.save(png, compress_level=1)
        del big
        chosen = [*(["--model", args.model] if args.model else []), *(["-q", str(args.quality)] if args.quality else [])]
        figures["encode"] = timed(["encode", str(png), "-o", str(aec), *chosen])
        decodes = []
        for _ in range(args.decodes):  # a fresh output each time: the plain command, no --force
            out.unlink(missing_ok=True)
            decodes.append(timed(["decode", str(aec), "-o", str(out)]))
        figures["decode"] = {"seconds": statistics.median(d["seconds"] for d in decodes),
                             "runs_seconds": [d["seconds"] for d in decodes],
                             "peak_rss_mb": max(d["peak_rss_mb"] for d in decodes)}  # fmt: skip
        with Image.open(png) as original, Image.open(out) as decoded:
            psnr = psnr_db(np.asarray(original), np.asarray(decoded))
        figures["image"] = {"size": "8000x6000", "bytes": aec.stat().st_size,
                            "bpp": round(8 * aec.stat().st_size / 48e6, 4),
                            "psnr_db": round(psnr, 3)}  # fmt: skip
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
