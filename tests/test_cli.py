"""The command line: round trips, output rules, one-line errors, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from aecodec.zoo import DEFAULT_MODEL_ID, lookup

from conftest import natural_like


@pytest.fixture
def photos(tmp_path):
    paths = []
    for i, (size, mode) in enumerate([((33, 17), "RGB"), ((1, 9), "L"), ((20, 20), "RGBA")]):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(natural_like(*size, seed=i), "RGB").convert(mode).save(p)
        paths.append(p)
    return paths


def test_encode_decode_many(run, photos, tmp_path):
    enc, dec = tmp_path / "enc", tmp_path / "dec"
    result = run("encode", *photos, "--out-dir", enc, "-q", 1)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in enc.iterdir()) == ["img0.aec", "img1.aec", "img2.aec"]
    result = run("decode", *sorted(enc.iterdir()), "--out-dir", dec)
    assert result.exit_code == 0, result.output
    for src in photos:
        with Image.open(src) as a, Image.open(dec / src.name) as b:
            assert a.size == b.size and a.mode == b.mode


def test_default_outputs_sit_beside_inputs(run, photos):
    assert run("encode", photos[0], "-q", 2).exit_code == 0
    aec = photos[0].with_suffix(".aec")
    assert aec.exists()
    photos[0].unlink()
    assert run("decode", aec).exit_code == 0
    assert photos[0].exists()


def test_refuses_to_overwrite_without_force(run, photos):
    out = photos[0].with_suffix(".aec")
    out.write_bytes(b"keep me")
    result = run("encode", photos[0], "-q", 1)
    assert result.exit_code == 1 and "--force" in result.output
    assert out.read_bytes() == b"keep me"
    assert run("encode", photos[0], "-q", 1, "--force").exit_code == 0
    assert out.read_bytes()[:4] == b"\x89AEC"


def test_never_overwrites_its_input(run, photos):
    result = run("encode", photos[0], "-o", photos[0], "--force", "-q", 1)
    assert result.exit_code == 1 and "input" in result.output
    with Image.open(photos[0]) as img:
        assert img.size == (33, 17)


def test_output_flag_needs_single_input(run, photos, tmp_path):
    result = run("encode", *photos, "-o", tmp_path / "x.aec")
    assert result.exit_code == 2


@pytest.mark.parametrize("content", [b"", b"plain text, not an image", b"\x89AEC\x01garbage"])
def test_bad_inputs_give_one_line(run, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    result = run("encode", bad, "-o", tmp_path / "o.aec")
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0
    assert not (tmp_path / "o.aec").exists()


def test_missing_file_and_directory(run, tmp_path):
    for target in (tmp_path / "missing.png", tmp_path):
        result = run("encode", target, "--out-dir", tmp_path / "o")
        assert result.exit_code == 1 and "Traceback" not in result.output


def test_corrupt_stream_gives_one_line_and_no_output(run, photos, tmp_path):
    aec = tmp_path / "a.aec"
    assert run("encode", photos[0], "-o", aec, "-q", 1, "--model", "hyperprior").exit_code == 0
    data = bytearray(aec.read_bytes())
    data[-8] ^= 0xFF  # inside the ladder's coded string, which ends 4 bytes before the end (the CRC)
    aec.write_bytes(bytes(data))
    result = run("decode", aec, "-o", tmp_path / "a.png")
    assert result.exit_code == 1 and "checksum" in result.output
    assert not (tmp_path / "a.png").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_info_and_json(run, photos, tmp_path):
    aec = tmp_path / "a.aec"
    run("encode", photos[0], "-o", aec, "-q", 2)
    result = run("info", aec, "--json")
    facts = json.loads(result.output)
    assert facts["width"] == 33 and facts["height"] == 17 and facts["quality"] == 2
    assert facts["bytes"] == aec.stat().st_size
    default = lookup(DEFAULT_MODEL_ID, 2).model_id  # the default family (an alias names its newest weights)
    assert f"{default} q2" in run("info", aec).output
    from click.testing import CliRunner

    from aecodec.cli.main import main

    piped = CliRunner().invoke(main, ["info", "-", "--json"], input=aec.read_bytes())  # standard input, as decode
    assert piped.exit_code == 0 and json.loads(piped.output)["bytes"] == aec.stat().st_size


def test_models_json(run):
    rows = json.loads(run("models", "--json").output)
    expected = [(family, q) for family in ("factorized", "hyperprior") for q in (1, 2)]
    expected += [("hyperprior-vr1", None)]  # one row: a variable-rate model codes any quality
    assert [(r["model_id"], r["quality"]) for r in rows] == expected


def test_encode_defaults_to_the_zoo_default_quality(run):
    from aecodec.zoo import DEFAULT_QUALITY

    assert f"[default: {DEFAULT_QUALITY}]" in " ".join(run("encode", "--help").output.split())


def test_unknown_quality_is_one_line(run, photos):
    result = run("encode", photos[0], "-q", 7, "--model", "hyperprior")  # a ladder has whole levels only
    assert result.exit_code == 1 and "available: 1, 2" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from aecodec.cli.main import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().endswith("False")


def test_decoded_pixels_identical_across_runs(run, photos, tmp_path):
    aec = tmp_path / "a.aec"
    run("encode", photos[0], "-o", aec, "-q", 1)
    run("decode", aec, "-o", tmp_path / "1.png")
    run("decode", aec, "-o", tmp_path / "2.png")
    a, b = (np.asarray(Image.open(tmp_path / f"{i}.png")) for i in (1, 2))
    assert np.array_equal(a, b)


def test_decode_max_pixels_guards_and_lifts(run, photos, tmp_path):
    from aecodec.config import DEFAULT_MAX_PIXELS

    aec = tmp_path / "a.aec"
    assert run("encode", photos[0], "-o", aec, "-q", 1).exit_code == 0
    refused = run("decode", aec, "-o", tmp_path / "a.png", "--max-pixels", 100)
    assert refused.exit_code == 1 and "over the limit of 100" in refused.output
    assert not (tmp_path / "a.png").exists()
    assert run("decode", aec, "-o", tmp_path / "a.png", "--max-pixels", 0).exit_code == 0
    # the CLI's default is the library's
    from aecodec.cli.decode import decode

    assert next(p for p in decode.params if p.name == "max_pixels").default == DEFAULT_MAX_PIXELS


def test_default_decode_limit_is_pillows_so_what_encodes_by_default_decodes(run, photos, tmp_path):
    """Encoding takes what Pillow opens (it refuses past 2 x MAX_IMAGE_PIXELS); decoding's default guard is the
    same size, and its message names the CLI's option."""
    from aecodec.config import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS
    aec = tmp_path / "a.aec"
    assert run("encode", photos[0], "-o", aec, "-q", 1).exit_code == 0
    refused = run("decode", aec, "-o", tmp_path / "a.png", "--max-pixels", 10)
    assert refused.exit_code == 1 and "pass --max-pixels" in refused.output


def test_threads_sets_the_transforms_thread_pool_and_refuses_zero(run, photos, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        result = run("encode", photos[0], "-o", tmp_path / "a.aec", "-q", 1, "--threads", "1")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
        result = run("decode", tmp_path / "a.aec", "-o", tmp_path / "a.png", "--threads", "2")
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 2 and (tmp_path / "a.png").exists()
    finally:
        torch.set_num_threads(before)
    result = run("decode", tmp_path / "a.aec", "-o", tmp_path / "b.png", "--threads", "0")
    assert result.exit_code != 0 and "--threads" in result.output and not (tmp_path / "b.png").exists()


def test_png_level_sets_the_zlib_level_of_png_output_only(run, photos, tmp_path):
    assert run("encode", photos[0], "-o", tmp_path / "a.aec", "-q", 1).exit_code == 0
    sizes = {}
    for level in (0, 9):
        result = run("decode", tmp_path / "a.aec", "-o", tmp_path / f"{level}.png", "--png-level", level)
        assert result.exit_code == 0, result.output
        sizes[level] = (tmp_path / f"{level}.png").stat().st_size
    assert sizes[0] > sizes[9]  # level 0 stores the pixels uncompressed
    same = [np.asarray(Image.open(tmp_path / f"{level}.png")) for level in (0, 9)]
    assert np.array_equal(*same)
    assert run("decode", tmp_path / "a.aec", "-o", tmp_path / "a.bmp", "--png-level", 0).exit_code == 0
    bad = run("decode", tmp_path / "a.aec", "-o", tmp_path / "b.png", "--png-level", 10)
    assert bad.exit_code != 0 and "--png-level" in bad.output and not (tmp_path / "b.png").exists()


def test_with_many_inputs_each_failure_names_its_file(run, photos, tmp_path):
    bad = tmp_path / "bad.aec"
    bad.write_bytes(b"garbage")
    assert run("encode", photos[0], "-o", tmp_path / "good.aec", "-q", 1).exit_code == 0
    result = run("decode", bad, tmp_path / "good.aec", "--out-dir", tmp_path / "dec")
    assert result.exit_code == 1 and (tmp_path / "dec" / "good.png").exists()
    assert f"error: {bad}: not an .aec stream" in result.stderr
    alone = run("decode", bad, "-o", tmp_path / "x.png")
    assert alone.stderr.startswith("error: not an .aec stream")  # one input: the line needs no name
    missing = tmp_path / "missing.png"
    result = run("encode", photos[0], missing, "--out-dir", tmp_path / "enc", "-q", 1)
    assert result.exit_code == 1 and result.stderr.count(str(missing)) == 1
