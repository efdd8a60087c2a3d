"""The factorized ladder, retired in 0.2.0, and the variable-rate round 2, retired in 0.3.0 (docs/format.md,
"Which models stay decodable"): every way in, the command line, the Python API and Pillow, says in one line
which version still has it; nothing fails with a traceback. The shipped MANIFEST is used as it is (no model is
loaded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

import aecodec
import aecodec.pillow  # noqa: F401  (registers the format)
from aecodec.cli.main import main

from conftest import natural_like

GOLDEN_STREAM = Path(__file__).resolve().parent / "data" / "golden" / "factorized-q4-rgb.aec"
INSTALL = 'pip install "aecodec==0.1.0"'


@pytest.fixture
def shipped(monkeypatch):
    """The installed checkpoints, whatever the environment says."""
    monkeypatch.delenv("AECODEC_CHECKPOINTS", raising=False)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_models_lists_the_retired_family_and_the_version_that_decodes_it(shipped):
    result = invoke("models")
    assert result.exit_code == 0
    assert f'factorized: retired in 0.2.0; aecodec 0.1.0 decodes its streams ({INSTALL})' in result.stdout
    vr2 = 'hyperprior-vr2: retired in 0.3.0; aecodec 0.2.0 decodes its streams (pip install "aecodec==0.2.0")'
    assert vr2 in result.stdout  # the oldest variable-rate round, retired for the budget in 0.3.0
    assert not [line for line in result.stdout.splitlines() if line.startswith(("factorized ", "hyperprior-vr2 "))]
    rows = json.loads(invoke("models", "--json").stdout)
    retired = [r for r in rows if r["retired"]]
    assert [(r["model_id"], r["retired"]) for r in retired] == [
        ("factorized", {"last_version": "0.1.0", "retired_in": "0.2.0"}),
        ("hyperprior-vr2", {"last_version": "0.2.0", "retired_in": "0.3.0"})]
    assert not {"factorized", "hyperprior-vr2"} & {r["model_id"] for r in rows if not r["retired"]}


def test_encoding_with_the_retired_family_is_one_line(shipped, tmp_path):
    Image.fromarray(natural_like(40, 24), "RGB").save(tmp_path / "a.png")
    result = invoke("encode", tmp_path / "a.png", "--model", "factorized", "-q", 3)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: model 'factorized' was retired in aecodec 0.2.0")
    assert result.stderr.count("\n") == 1 and INSTALL in result.stderr
    assert not (tmp_path / "a.aec").exists()
    assert "factorized" not in " ".join(invoke("encode", "--help").stdout.split())


def test_the_api_names_the_version(shipped):
    image = natural_like(8, 8)
    for call in (lambda: aecodec.load_codec("factorized", 3), lambda: aecodec.compress(image, 3, "factorized"),
                 lambda: aecodec.decompress(GOLDEN_STREAM.read_bytes())):  # fmt: skip
        with pytest.raises(aecodec.UnknownModelError, match="retired") as raised:
            call()
        assert INSTALL in str(raised.value)


def test_pillow_opens_the_header_and_load_names_the_version(shipped, tmp_path):
    with Image.open(GOLDEN_STREAM) as im:  # the header reads: size, mode and model are there
        assert (im.size, im.mode, im.info["model"], im.info["quality"]) == ((72, 48), "RGB", "factorized", 4)
        with pytest.raises(OSError) as raised:
            im.load()
    message = str(raised.value)
    assert "broken" not in message and "retired" in message and INSTALL in message and "\n" not in message
    with pytest.raises(aecodec.UnknownModelError, match="retired"):
        Image.fromarray(natural_like(8, 8), "RGB").save(tmp_path / "never.aec", model="factorized")
    assert not (tmp_path / "never.aec").exists()


def test_bench_with_the_retired_family_is_one_line(shipped, tmp_path):
    pytest.importorskip("bjontegaard")
    (tmp_path / "photos").mkdir()
    Image.fromarray(natural_like(32, 32), "RGB").save(tmp_path / "photos" / "a.png")
    result = invoke("bench", "--dataset", tmp_path / "photos", "--codecs", "aecodec-factorized,jpeg", "--no-cache",
                    "--out", tmp_path / "out")  # fmt: skip
    assert result.exit_code == 1 and "retired" in result.stderr and INSTALL in result.stderr
