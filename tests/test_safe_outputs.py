"""Safe outputs: results appear whole or not at all, inputs and existing files are kept, and a tampered
checkpoint is refused. (test_cli.py covers encode's --force and input rules and a corrupt stream's decode.)"""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from click.testing import CliRunner
from PIL import Image

import aecodec
from aecodec.cli import common
from aecodec.cli.main import main
from aecodec.errors import CheckpointError

from conftest import natural_like


@pytest.fixture
def coded(run, tmp_path):
    """An RGBA image coded to tmp_path/a.aec."""
    src = tmp_path / "a.png"
    Image.fromarray(natural_like(24, 16), "RGB").convert("RGBA").save(src)
    assert run("encode", src, "-o", tmp_path / "a.aec", "-q", 1).exit_code == 0
    return tmp_path / "a.aec"


def parts(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_atomic_output_writes_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with common.atomic_output(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("failed mid-way")
    assert not target.exists() and parts(tmp_path) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with common.atomic_output(target) as tmp:
            tmp.write_bytes(b"new")
            raise RuntimeError("failed mid-way")
    assert target.read_bytes() == b"old" and parts(tmp_path) == []


def test_decode_keeps_an_existing_output_without_force(run, coded, tmp_path):
    out = tmp_path / "b.png"
    out.write_bytes(b"keep me")
    result = run("decode", coded, "-o", out)
    assert result.exit_code == 1 and "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert run("decode", coded, "-o", out, "--force").exit_code == 0
    with Image.open(out) as img:
        assert img.size == (24, 16)


def test_decode_never_overwrites_its_input(run, coded, tmp_path):
    original = coded.read_bytes()
    link = tmp_path / "link.aec"
    link.symlink_to(coded)
    for target in (coded, link):
        result = run("decode", coded, "-o", target, "--force")
        assert result.exit_code == 1 and "refusing to overwrite the input" in result.stderr
    assert coded.read_bytes() == original


def test_failed_decode_with_force_keeps_the_old_output(run, coded, tmp_path):
    damaged = bytearray(coded.read_bytes())
    damaged[-10] ^= 0xFF
    coded.write_bytes(bytes(damaged))
    out = tmp_path / "old.png"
    out.write_bytes(b"old result")
    result = run("decode", coded, "-o", out, "--force")
    assert result.exit_code == 1 and "checksum" in result.stderr
    assert out.read_bytes() == b"old result" and parts(tmp_path) == []


def test_failure_while_saving_leaves_no_file(run, coded, tmp_path):
    # JPEG cannot hold alpha: Pillow fails inside the save, after the temporary file was opened.
    result = run("decode", coded, "-o", tmp_path / "a.jpg")
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and "RGBA" in result.stderr
    assert not (tmp_path / "a.jpg").exists() and parts(tmp_path) == []


def test_failed_encode_with_force_keeps_the_old_output(run, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "bad.aec"
    out.write_bytes(b"old")
    result = run("encode", bad, "--force", "-q", 1)
    assert result.exit_code == 1 and out.read_bytes() == b"old" and parts(tmp_path) == []


def test_tampered_checkpoint_is_refused(tiny_zoo, tmp_path, monkeypatch):
    zoo = shutil.copytree(tiny_zoo, tmp_path / "zoo")
    weights = zoo / "tiny-q1.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 3] ^= 0x01  # one bit of one byte
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        aecodec.load_codec("factorized", 1, checkpoint_dir=zoo)
    assert aecodec.load_codec("factorized", 2, checkpoint_dir=zoo).quality == 2  # the others still load

    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(zoo))
    src = tmp_path / "p.png"
    Image.fromarray(natural_like(8, 8), "RGB").save(src)
    result = CliRunner().invoke(main, ["encode", str(src), "-q", "1", "--model", "factorized"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: checkpoint tiny-q1.pt is corrupted") and result.stderr.count("\n") == 1
    assert "sha256" in result.stderr and not src.with_suffix(".aec").exists()


def test_finished_files_get_the_usual_permissions(tmp_path, rgb_image):
    """mkstemp makes owner-only files; what aecodec finishes writing is readable like any new file."""
    from aecodec.training.export import atomic_torch_save

    old = os.umask(0o022)
    try:
        with common.atomic_output(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"data")
        atomic_torch_save({"x": 1}, tmp_path / "model.pt")
    finally:
        os.umask(old)
    for name in ("out.bin", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
