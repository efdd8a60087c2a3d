"""`-` for standard input and output: real pipes between real `aecodec` processes, and the rules around them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from aecodec.cli.main import main

from conftest import natural_like

AECODEC = f"{sys.executable} -m aecodec.cli.main"


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(natural_like(45, 31, seed=5), "RGB").save(path)
    return path


def shell(command: str, cwd, zoo, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "AECODEC_CHECKPOINTS": str(zoo)}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, **kwargs)


def test_pipe_round_trip_equals_file_to_file(run, tiny_zoo, png, tmp_path):
    before = set(os.listdir(tmp_path))
    piped = shell(f"{AECODEC} encode - -o - -q 2 < a.png | tee piped.aec | {AECODEC} decode - -o - > b.png",
                  tmp_path, tiny_zoo)  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert set(os.listdir(tmp_path)) == before | {"piped.aec", "b.png"}  # -o - creates no file
    assert b"bpp" in piped.stderr  # the reports go to stderr, stdout carries the data alone
    # file to file in-process (the same command; one start of a process fewer)
    assert run("encode", png, "-o", tmp_path / "file.aec", "-q", 2).exit_code == 0
    assert run("decode", tmp_path / "file.aec", "-o", tmp_path / "file.png").exit_code == 0
    assert (tmp_path / "piped.aec").read_bytes() == (tmp_path / "file.aec").read_bytes()
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "file.png").read_bytes()


def test_broken_pipe_ends_quietly_with_failure(tiny_zoo, png, tmp_path):
    env = {**os.environ, "AECODEC_CHECKPOINTS": str(tiny_zoo)}
    proc = subprocess.Popen([sys.executable, "-m", "aecodec.cli.main", "encode", "-", "-o", "-", "-q", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(png.read_bytes())
    assert proc.returncode == 1
    assert b"Traceback" not in err and b"Broken pipe" not in err


def cli(use_tiny_zoo, *args, stdin: bytes = b""):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin, catch_exceptions=False)


def test_decode_to_stdout_in_a_chosen_format(use_tiny_zoo, png, tmp_path):
    stream = cli(use_tiny_zoo, "encode", "-", "-o", "-", "-q", "1", stdin=png.read_bytes()).stdout_bytes
    ppm = cli(use_tiny_zoo, "decode", "-", "-o", "-", "--format", "ppm", stdin=stream)
    assert ppm.exit_code == 0 and ppm.stdout_bytes.startswith(b"P6") 
    assert "45x31 RGB" in ppm.stderr
    assert cli(use_tiny_zoo, "decode", "-", "-o", "-", stdin=stream).stdout_bytes.startswith(b"\x89PNG")
    bad = cli(use_tiny_zoo, "decode", "-", "-o", "-", "--format", "nope", stdin=stream)
    assert bad.exit_code == 2 and bad.stdout_bytes == b""


def test_a_format_that_cannot_hold_the_image_writes_nothing(use_tiny_zoo, tmp_path):
    rgba = Image.fromarray(natural_like(9, 9), "RGB").convert("RGBA")
    rgba.save(tmp_path / "t.png")
    stream = cli(use_tiny_zoo, "encode", "-", "-o", "-", "-q", "1", stdin=(tmp_path / "t.png").read_bytes())
    result = cli(use_tiny_zoo, "decode", "-", "-o", "-", "--format", "jpeg", stdin=stream.stdout_bytes)
    assert result.exit_code == 1 and result.stdout_bytes == b"" and "RGBA" in result.stderr


def test_a_file_named_dash_is_dot_slash_dash(use_tiny_zoo, png, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_bytes(png.read_bytes())
    result = cli(use_tiny_zoo, "encode", "./-", "-o", "dash.aec", "-q", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dash.aec").read_bytes()[:4] == b"\x89AEC"


@pytest.mark.parametrize("args", [["-"], ["-", "x.png", "-o", "-"], ["-", "--out-dir", "d"]])
def test_stdin_needs_an_explicit_single_output(use_tiny_zoo, args):
    result = cli(use_tiny_zoo, "encode", *args)
    assert result.exit_code == 2 and result.stdout_bytes == b""
    assert "standard input" in result.stderr or "single input" in result.stderr
