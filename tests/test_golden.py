"""Golden streams: .aec files written by shipped models of an earlier version (tests/data/golden, made by
tools/release/make_golden_streams.py) still decode to exactly the same latents, and to pixels within 1 (the float
synthesis may move a pixel by 1 across thread counts and CPUs). A stream a shipped version wrote keeps
decoding."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aecodec

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
TABLE = json.loads((GOLDEN / "golden.json").read_text())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_golden_stream_decodes_to_the_same_latent_and_pixels(name):
    entry = TABLE[name]
    data = (GOLDEN / f"{name}.aec").read_bytes()
    image_codec = aecodec.load_codec(entry["model_id"], entry["quality"])
    header, y_hat, _ = image_codec.decode_latent(data)
    assert (header.model_id, header.quality, header.mode) == (entry["model_id"], entry["quality"], entry["mode"])
    assert list(y_hat.shape) == entry["latent_shape"]
    assert hashlib.sha256(y_hat.contiguous().numpy().astype("<f4").tobytes()).hexdigest() == entry["latent_sha256"]
    decoded = aecodec.decompress(data)
    expected = Image.open(GOLDEN / f"{name}.png")
    assert (decoded.mode, decoded.size) == (expected.mode, expected.size) == (entry["mode"], tuple(entry["size"]))
    diff = np.abs(np.asarray(decoded).astype(int) - np.asarray(expected).astype(int))
    assert diff.max() <= 1, f"{name}: pixels differ by up to {diff.max()}"
