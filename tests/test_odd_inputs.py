"""Odd inputs through ``aecodec encode`` and ``decode``: a correct result or one ``error:`` line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image


from conftest import REPO
from odd_inputs import CASES, build


def assert_one_error_line(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.suffix in (".aec", ".part") or p.name.endswith(".part")]


@pytest.mark.parametrize("name", list(CASES))
def test_encode_then_decode(run, tmp_path, name):
    kind, size, mode = CASES[name]
    src = build(name, tmp_path)
    aec, png = tmp_path / "out.aec", tmp_path / "back.png"
    result = run("encode", src, "-o", aec, "-q", 1)
    if kind == "error":
        assert_one_error_line(result)
        assert leftovers(tmp_path) == []
        return
    assert result.exit_code == 0, result.output
    assert f": {size[0]}x{size[1]}, " in result.stdout  # the coded size (upright for EXIF-rotated input)
    if "animated" in name:
        assert result.stderr.strip() == f"note: {src} has 3 frames; only the first is encoded"
    else:
        assert result.stderr == ""
    result = run("decode", aec, "-o", png)
    assert result.exit_code == 0 and result.stderr == "", result.output
    with Image.open(png) as back:
        assert (back.size, back.mode) == (size, mode)


def test_exif_rotated_photo_comes_out_upright(run, tmp_path):
    src = build("EXIF orientation 6 JPEG (stored 30x10)", tmp_path)
    with Image.open(src) as stored:
        assert stored.size == (30, 10) and stored.getexif()[0x0112] == 6
    assert run("encode", src, "-o", tmp_path / "r.aec", "-q", 1).exit_code == 0
    assert run("decode", tmp_path / "r.aec", "-o", tmp_path / "r.png").exit_code == 0
    with Image.open(tmp_path / "r.png") as out:
        # upright: width and height swapped, and no orientation tag left to rotate it a second time
        assert out.size == (10, 30) and out.getexif().get(0x0112) in (None, 1)


def test_one_call_with_every_odd_input(run, tmp_path):
    """Bad inputs are reported one line each; the good ones in the same call are still coded."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    sources = [build(name, inputs) for name in CASES]
    result = run("encode", *sources, "--out-dir", tmp_path / "out", "-q", 1)
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == sum(kind == "error" for kind, _, _ in CASES.values())
    coded = sorted(p.stem for p in (tmp_path / "out").iterdir())
    assert coded == sorted(src.stem for src, (kind, _, _) in zip(sources, CASES.values()) if kind == "ok")


@pytest.mark.parametrize(
    "name, content",
    [("empty.aec", b""), ("text.aec", b"hello\n"), ("image.png.aec", None), ("cut.aec", "truncated"),
     ("folder.aec", "dir"), ("missing.aec", "missing")],
)  # fmt: skip
def test_decode_odd_inputs(run, tmp_path, name, content):
    src = tmp_path / name
    if content == "dir":
        src.mkdir()
    elif content == "truncated":
        good = tmp_path / "good.aec"
        assert run("encode", build("1x40 RGB PNG", tmp_path), "-o", good, "-q", 1).exit_code == 0
        src.write_bytes(good.read_bytes()[:-9])
    elif content is None:
        src.write_bytes(build("RGBA PNG", tmp_path).read_bytes())
    elif content != "missing":
        src.write_bytes(content)
    out = tmp_path / "o.png"
    assert_one_error_line(run("decode", src, "-o", out))
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_the_real_command_prints_one_line(tiny_zoo, tmp_path):
    """Outside pytest (whose config hides warnings), an error is still exactly one line on stderr."""
    bad = build("text file named .png", tmp_path)
    env = {**os.environ, "AECODEC_CHECKPOINTS": str(tiny_zoo), "PYTHONPATH": str(REPO)}
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run([sys.executable, "-m", "aecodec.cli.main", "encode", str(bad), "-q", "1"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
