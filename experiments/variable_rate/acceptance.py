"""Measure what the variable-rate issue accepts on, for the shipped variable-rate model, and write one JSON.

1. Fractional qualities, from an ``aecodec bench`` summary.json that measured the model at the integer levels
   and the fractions between (per quality: mean bpp and PSNR over the images): bpp and PSNR must rise with
   quality, and no fractional point may lie more than 2% in rate above the curve through the integer points
   (log-rate interpolated linearly in PSNR between the two integer points around it).
2. Target sizes: ``compress_to_size`` of every image at --bpp targets and --size targets (the same call
   ``aecodec encode --bpp/--size`` makes): how far each file lands from its target; images whose smallest
   stream (quality 1) is already over the target are counted apart.

    aecodec bench --dataset KODAK --codecs aecodec-hyperprior-vr,aecodec-hyperprior,jpeg \
        --qualities aecodec-hyperprior-vr=1,1.5,2,...,8 --no-cache --out out/vr-bench
    python experiments/variable_rate/acceptance.py --summary out/vr-bench/summary.json --images KODAK \
        --out benchmarks/results/variable_rate/acceptance-round2.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

import aecodec
from aecodec import zoo
from aecodec.benchmarks.report import bd_rate_percent, curve
from aecodec.images import list_images

CODEC = "aecodec-hyperprior-vr"


def fractional_check(points: list[dict]) -> dict:
    """Monotonicity over all points, and each fractional point's rate excess over the integer curve."""
    points = sorted(points, key=lambda p: p["quality"])
    bpps, psnrs = [p["bpp"] for p in points], [p["psnr_db"] for p in points]
    integers = [p for p in points if float(p["quality"]).is_integer()]
    excess = []
    for p in points:
        if float(p["quality"]).is_integer():
            continue
        below = max((q for q in integers if q["quality"] < p["quality"]), key=lambda q: q["quality"])
        above = min((q for q in integers if q["quality"] > p["quality"]), key=lambda q: q["quality"])
        t = (p["psnr_db"] - below["psnr_db"]) / (above["psnr_db"] - below["psnr_db"])
        curve = math.exp((1 - t) * math.log(below["bpp"]) + t * math.log(above["bpp"]))
        excess.append({"quality": p["quality"], "rate_above_curve_pct": round(100 * (p["bpp"] / curve - 1), 3)})
    return {
        "qualities": [p["quality"] for p in points],
        "bpp_rises": all(b > a for a, b in zip(bpps, bpps[1:])),
        "psnr_rises": all(b > a for a, b in zip(psnrs, psnrs[1:])),
        "fractional_points": len(excess),
        "worst_rate_above_curve_pct": max(e["rate_above_curve_pct"] for e in excess) if excess else None,
        "per_point": excess,
    }


def target_check(codec, files: list[Path], bpps: list[float], sizes: list[int]) -> dict:
    rows = []
    for path in files:
        image = np.asarray(Image.open(path).convert("RGB"))
        pixels = image.shape[0] * image.shape[1]
        for kind, value, target in [("bpp", b, b * pixels / 8) for b in bpps] + [("size", s, s) for s in sizes]:
            t = time.perf_counter()
            sized = codec.compress_to_size(image, target)
            rows.append({"image": path.stem, "kind": kind, "target": value, "bytes": len(sized.data),
                         "quality": sized.quality, "fits": sized.fits, "seconds": round(time.perf_counter() - t, 3),
                         "off_pct": round(100 * (len(sized.data) / target - 1), 3)})  # fmt: skip
    summary = {}
    for kind, value in [("bpp", b) for b in bpps] + [("size", s) for s in sizes]:
        mine = [r for r in rows if r["kind"] == kind and r["target"] == value]
        reached = [r for r in mine if r["fits"]]
        summary[f"{kind}={value}"] = {
            "images": len(mine),
            "reached": len(reached),
            "worst_off_pct": min((r["off_pct"] for r in reached), default=None),  # files land at or under
            "within_3pct": sum(abs(r["off_pct"]) <= 3 for r in reached),
            "unreachable_images": [(r["image"], r["bytes"]) for r in mine if not r["fits"]],
            "median_seconds": float(np.median([r["seconds"] for r in mine])),
        }
    return {"summary": summary, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--summary", type=Path, required=True, help="aecodec bench summary.json with the model's rows")
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--bpp", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    p.add_argument("--size", type=int, nargs="+", default=[12_000, 25_000, 50_000], help="target sizes in bytes")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    bench = json.loads(args.summary.read_text())
    integer_points = [p for p in bench["codecs"][CODEC] if float(p["quality"]).is_integer()]
    codec = aecodec.load_codec(zoo.VARIABLE_RATE_MODEL_ID, 4)
    result = {
        "model_id": codec.model_id,
        "sha256": zoo.lookup(codec.model_id, 4).sha256,
        "images": bench["meta"]["images"],
        "fractional": fractional_check(bench["codecs"][CODEC]),
        # the BD-rate: the integer qualities 1..8 only, against the same run's JPEG and ladder rows
        "bd_rate_integer_qualities_pct": {
            anchor: bd_rate_percent(curve(bench["codecs"][anchor]), curve(integer_points))
            for anchor in bench["codecs"] if anchor != CODEC
        },
        "targets": target_check(codec, list_images(args.images), args.bpp, args.size),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"bd_rate": result["bd_rate_integer_qualities_pct"],
                      "fractional": {k: v for k, v in result["fractional"].items() if k != "per_point"},
                      "targets": result["targets"]["summary"]}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
