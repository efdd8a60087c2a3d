"""Write the golden streams of tests/data/golden: small .aec files coded by the shipped models, with the
sha256 of each decoded latent and the decoded pixels, so that later versions prove they still decode what
this one wrote (tests/test_golden.py).

Run once per stream-format or model change that must stay readable; never rewrite existing entries. Streams of a
retired model (the MANIFEST's "retired" table, e.g. the factorized ones) stay in the folder and are not written
anew: tests/test_golden.py checks that decoding them names the version that does.

    python tools/release/make_golden_streams.py tests/data/golden
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

import aecodec
from aecodec import zoo

# name -> (model id, quality, colour mode, width, height, tile side in latent positions)
STREAMS = {
    "hyperprior-q6-rgb": ("hyperprior", 6, "RGB", 72, 48, 64),
    "hyperprior-q1-l": ("hyperprior", 1, "L", 64, 40, 64),
    "hyperprior-q8-rgba": ("hyperprior", 8, "RGBA", 40, 56, 64),
    "hyperprior-q3-rgb-tiled": ("hyperprior", 3, "RGB", 300, 190, 8),
    "factorized-q4-rgb": ("factorized", 4, "RGB", 72, 48, 64),  # the factorized family: retired in 0.2.0
    "factorized-q2-la": ("factorized", 2, "LA", 48, 33, 64),
    "factorized-q7-rgb-tiled": ("factorized", 7, "RGB", 260, 150, 8),
    # format version 3 (2026-12-03): a ladder stream, and the variable-rate model between levels and at one
    # (hyperprior-vr2: retired in 0.3.0)
    "hyperprior-q5-rgb-v3": ("hyperprior", 5, "RGB", 72, 48, 64),
    "hyperprior-vr2-q2.5-rgb": ("hyperprior-vr2", 2.5, "RGB", 72, 48, 64),
    "hyperprior-vr2-q7.25-rgba-tiled": ("hyperprior-vr2", 7.25, "RGBA", 300, 190, 8),
    "hyperprior-vr2-q4-l": ("hyperprior-vr2", 4, "L", 64, 40, 64),
    "hyperprior-vr3-q3.5-rgb": ("hyperprior-vr3", 3.5, "RGB", 72, 48, 64),
    "hyperprior-vr3-q6.75-rgba-tiled": ("hyperprior-vr3", 6.75, "RGBA", 300, 190, 8),
    # format version 5 (2026-12-05): tile strings skip the latent elements at the scale table's floor
    "hyperprior-q2-l-v5": ("hyperprior", 2, "L", 64, 40, 64),
    "hyperprior-vr3-q1.5-rgb-tiled-v5": ("hyperprior-vr3", 1.5, "RGB", 300, 190, 8),
    "hyperprior-vr3-q7-rgba-v5": ("hyperprior-vr3", 7, "RGBA", 72, 48, 64),
    "hyperprior-vr4-q2.25-rgb-v5": ("hyperprior-vr4", 2.25, "RGB", 72, 48, 64),
    "hyperprior-vr4-q5.5-la-tiled-v5": ("hyperprior-vr4", 5.5, "LA", 300, 190, 8),
    "hyperprior-vr5-q3.25-rgba-v5": ("hyperprior-vr5", 3.25, "RGBA", 72, 48, 64),
    "hyperprior-vr6-q6.75-rgb-v5": ("hyperprior-vr6", 6.75, "RGB", 72, 48, 64),
    # format version 6 (2026-12-05): tile strings grouped by CDF table, coded with constriction's ANS coder
    "hyperprior-q4-rgb-v6": ("hyperprior", 4, "RGB", 72, 48, 64),
    "hyperprior-vr6-q5.5-rgba-tiled-v6": ("hyperprior-vr6", 5.5, "RGBA", 300, 190, 8),
    "hyperprior-vr6-q2.75-l-v6": ("hyperprior-vr6", 2.75, "L", 64, 40, 64),
    "hyperprior-vr7-q4.5-rgb-v6": ("hyperprior-vr7", 4.5, "RGB", 72, 48, 64),
}


def source_image(mode: str, width: int, height: int) -> Image.Image:
    """A crop of scikit-image's astronaut (a real photo shipped with the package), in ``mode``."""
    photo = Image.fromarray(skdata.astronaut()[100 : 100 + height, 150 : 150 + width])
    if mode in ("L", "LA"):
        photo = photo.convert("L")
    if mode in ("LA", "RGBA"):
        yy, xx = np.mgrid[0:height, 0:width]
        alpha = Image.fromarray(((xx * 255) // max(width - 1, 1) ^ (yy * 7 % 256)).astype(np.uint8), "L")
        photo.putalpha(alpha)
    return photo


def latent_sha256(y_hat) -> str:
    return hashlib.sha256(y_hat.contiguous().numpy().astype("<f4").tobytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    table_path = folder / "golden.json"
    table = json.loads(table_path.read_text()) if table_path.exists() else {}
    retired = zoo.retired()
    for name, (model_id, quality, mode, width, height, tile) in STREAMS.items():
        if name in table:  # written by an earlier version: the point is that it still decodes, never rewrite it
            continue
        if model_id in retired:
            print(name, f"skipped: {model_id} is retired (aecodec {retired[model_id][0]} writes it)")
            continue
        image_codec = aecodec.load_codec(model_id, quality, tile=tile)
        data = image_codec.compress(source_image(mode, width, height))
        header, y_hat, _ = image_codec.decode_latent(data)
        decoded = image_codec.decompress(data)
        (folder / f"{name}.aec").write_bytes(data)
        decoded.save(folder / f"{name}.png")
        table[name] = {
            "model_id": model_id, "quality": quality, "mode": mode, "size": [width, height], "tile": tile,
            "latent_shape": list(y_hat.shape), "latent_sha256": latent_sha256(y_hat), "bytes": len(data),
            "format_version": header.version,
        }  # fmt: skip
        print(name, len(data), "bytes", table[name]["latent_shape"])
    table_path.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
