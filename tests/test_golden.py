"""Golden streams: .aec files written by shipped models of an earlier version (tests/data/golden, made by
tools/release/make_golden_streams.py) still decode to exactly the same latents, and to pixels within 1 (the float
synthesis may move a pixel by 1 across thread counts and CPUs). A stream a shipped version wrote keeps
decoding, or, once its model is retired (docs/format.md, "Which models stay decodable"), its header still reads
and decoding it says, in one line, which version decodes it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import aecodec
from aecodec import container, zoo
from aecodec.cli.main import main

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
TABLE = json.loads((GOLDEN / "golden.json").read_text())
RETIRED = zoo.retired()
DECODABLE = sorted(name for name, entry in TABLE.items() if entry["model_id"] not in RETIRED)
OF_RETIRED_MODELS = sorted(name for name, entry in TABLE.items() if entry["model_id"] in RETIRED)


@pytest.mark.parametrize("name", DECODABLE)
def test_golden_stream_decodes_to_the_same_latent_and_pixels(name):
    entry = TABLE[name]
    data = (GOLDEN / f"{name}.aec").read_bytes()
    image_codec = aecodec.load_codec(entry["model_id"], entry["quality"])
    header, y_hat, _ = image_codec.decode_latent(data)
    assert (header.model_id, header.quality, header.mode) == (entry["model_id"], entry["quality"], entry["mode"])
    assert header.version == data[4] == entry.get("format_version", data[4])
    assert list(y_hat.shape) == entry["latent_shape"]
    assert hashlib.sha256(y_hat.contiguous().numpy().astype("<f4").tobytes()).hexdigest() == entry["latent_sha256"]
    decoded = aecodec.decompress(data)
    expected = Image.open(GOLDEN / f"{name}.png")
    assert (decoded.mode, decoded.size) == (expected.mode, expected.size) == (entry["mode"], tuple(entry["size"]))
    diff = np.abs(np.asarray(decoded).astype(int) - np.asarray(expected).astype(int))
    assert diff.max() <= 1, f"{name}: pixels differ by up to {diff.max()}"


def test_the_golden_set_holds_a_decodable_stream_of_every_format_version_a_plain_stream_was_written_in():
    """Version 4 was only written for streams that needed an adapter: tests/test_container.py reads its layout."""
    versions = {(GOLDEN / f"{name}.aec").read_bytes()[4] for name in DECODABLE}
    assert versions == {2, 3, 5, container.FORMAT_VERSION}


def test_the_golden_set_keeps_the_streams_of_the_models_it_retired():
    # the factorized family was retired in 0.2.0, vr2 in 0.3.0; their golden streams stay, to prove the error below
    assert RETIRED == {"factorized": ("0.1.0", "0.2.0"), "hyperprior-vr2": ("0.2.0", "0.3.0")}
    assert {TABLE[name]["model_id"] for name in OF_RETIRED_MODELS} == set(RETIRED)
    assert len(OF_RETIRED_MODELS) == 6


@pytest.mark.parametrize("name", OF_RETIRED_MODELS)
def test_a_golden_stream_of_a_retired_model_reads_and_names_the_version_that_decodes_it(name, tmp_path):
    entry = TABLE[name]
    path = GOLDEN / f"{name}.aec"
    data = path.read_bytes()
    version = RETIRED[entry["model_id"]][0]
    install = f'pip install "aecodec=={version}"'
    header = aecodec.read_header(data)  # the whole stream validates: it is sound, only its model is gone
    assert (header.model_id, header.quality, header.mode) == (entry["model_id"], entry["quality"], entry["mode"])
    with pytest.raises(aecodec.UnknownModelError) as raised:
        aecodec.decompress(data)
    assert "retired" in str(raised.value) and install in str(raised.value)
    runner = CliRunner()
    result = runner.invoke(main, ["decode", str(path), "-o", str(tmp_path / "out.png")], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and install in result.stderr
    assert not (tmp_path / "out.png").exists()
    result = runner.invoke(main, ["info", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{entry['model_id']} q{entry['quality']}" in result.stdout
    assert f"aecodec {version} decodes it" in result.stdout
    facts = json.loads(runner.invoke(main, ["info", "--json", str(path)]).stdout)
    assert facts["bytes"] == entry["bytes"] and facts["retired"] == {"last_version": version}
