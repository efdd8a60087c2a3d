"""The variable-rate hyperprior: exact integer gains, any quality 1.0..8.0 in one network, streams that
record their quality and decode the same latents on every float path."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

import aecodec
from aecodec import container, zoo
from aecodec.config import QUALITY_STEPS, ModelConfig, exact_quality, lambda_for_quality
from aecodec.errors import UnknownModelError
from aecodec.metrics import psnr_db
from aecodec.models import build_model
from aecodec.models.integer_net import GAIN_BITS
from aecodec.models.variable_rate import integer_root

from conftest import KODAK, REPO, make_vr_zoo, natural_like

FRACTIONAL = [q / 2 for q in range(3, 17) if q % 2] + [7.75]  # 1.5, 2.5, ..., 7.5 and one finer step


@pytest.fixture(scope="module")
def vr_zoo(tmp_path_factory):
    return make_vr_zoo(tmp_path_factory.mktemp("vr-zoo"))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if (KODAK / "kodim23.png").exists():
        return np.asarray(Image.open(KODAK / "kodim23.png").convert("RGB"))[64:320, 128:512]
    return natural_like(384, 256, seed=3)


def test_integer_root_is_the_exact_floor():
    rng = np.random.default_rng(0)
    for degree in (1, 2, 4, 64):
        for _ in range(200):
            value = int(rng.integers(1, 2**62)) ** int(rng.integers(1, 5))
            root = integer_root(value, degree)
            assert root**degree <= value < (root + 1) ** degree
    with pytest.raises(ValueError):
        integer_root(100, 3)


def test_quality_rounds_to_the_step_a_stream_records():
    assert exact_quality(3) == 3 and isinstance(exact_quality(3.0), int)
    assert exact_quality(2.5) == 2.5 and exact_quality(2.501) == 2.5 and exact_quality(7.99) == 7.984375
    for bad in (0.9, 8.01, float("nan"), "high"):
        with pytest.raises(ValueError, match="quality"):
            exact_quality(bad)
    # lambda: each level's own, log-interpolated between
    assert lambda_for_quality(3) == 0.0035 and lambda_for_quality(8) == 0.18
    assert lambda_for_quality(3.5) == pytest.approx((0.0035 * 0.0067) ** 0.5)


def test_gains_are_frozen_integers_interpolated_geometrically(vr_zoo):
    codec = aecodec.load_codec("tiny-vr", 3, checkpoint_dir=vr_zoo)
    model = codec.model.model
    frozen = model.gain_fixed
    assert torch.equal(frozen, torch.round(model.log_gain.double().exp() * 2**GAIN_BITS).long())
    assert torch.equal(model.fixed_gains(3), frozen[2])
    half = model.fixed_gains(3.5).double()
    expected = torch.sqrt(frozen[2].double() * frozen[3].double())
    assert torch.all((half - expected).abs() <= 1)
    # every step between two levels moves every channel's gain the same way, never past the next level
    steps = torch.stack([model.fixed_gains(3 + k / QUALITY_STEPS) for k in range(QUALITY_STEPS + 1)]).double()
    direction = torch.sign(frozen[3] - frozen[2]).double()
    assert torch.all((steps[1:] - steps[:-1]) * direction >= 0)


def test_any_quality_round_trips_and_the_stream_records_it(vr_zoo):
    image = natural_like(70, 45, seed=2)
    codec = aecodec.load_codec("tiny-vr", 1, checkpoint_dir=vr_zoo)
    assert codec.model_id == "tiny-vr1"  # the alias resolved: streams name the concrete weights
    for quality in (1, 2.5, 4.015625, 8):
        data = codec.at_quality(quality).compress(image)
        header = aecodec.read_header(data)
        assert (header.model_id, header.quality) == ("tiny-vr1", exact_quality(quality))
        decoded = aecodec.decompress(data, checkpoint_dir=vr_zoo)  # loads what the header names
        assert decoded.size == (70, 45)
        with pytest.raises(aecodec.CorruptStreamError, match="quality"):
            codec.at_quality(5.25 if quality != 5.25 else 6).decompress(data)


def test_ladders_refuse_fractional_qualities_and_headers_refuse_off_step_ones(tiny_zoo):
    with pytest.raises(UnknownModelError, match="has no quality 1.5"):
        aecodec.load_codec("hyperprior", 1.5, checkpoint_dir=tiny_zoo)
    header = container.Header("tiny-vr1", 2.5, 4, 4, "RGB", (1, 1), 64)
    assert container.unpack(container.pack(header, [b"x"]))[0] == header
    with pytest.raises(ValueError, match="multiple of 1/64"):
        container.pack(container.Header("tiny-vr1", 2.001, 4, 4, "RGB", (1, 1), 64), [b"x"])


def test_same_bytes_across_threads_and_processes_at_a_fractional_quality(vr_zoo, tmp_path):
    image = natural_like(160, 96, seed=7)  # large enough that the convolutions are split across threads
    codec = aecodec.load_codec("tiny-vr", 5.5, checkpoint_dir=vr_zoo, tile=8)  # 2 tiles
    before = torch.get_num_threads()
    try:
        coded = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            coded[n] = codec.compress(image)
    finally:
        torch.set_num_threads(before)
    assert coded[1] == coded[2]
    Image.fromarray(image).save(tmp_path / "photo.png")
    code = textwrap.dedent(
        f"""
        import numpy as np, torch
        from PIL import Image
        import aecodec
        torch.set_num_threads(2)
        codec = aecodec.load_codec("tiny-vr", 5.5, checkpoint_dir={str(vr_zoo)!r}, tile=8)
        open("there.aec", "wb").write(codec.compress(np.asarray(Image.open("photo.png"))))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "there.aec").read_bytes() == coded[1]


def _shipped_variable_rate():
    entry = next((e for e in zoo.entries() if e.variable_rate), None)
    if entry is None:
        pytest.skip("no variable-rate model shipped")
    return aecodec.load_codec(entry.model_id, 6)


def test_shipped_model_decodes_the_same_latent_in_float64(photo):
    """The integer path picks every CDF index: the whole model in float64 decodes the same latent."""
    codec = _shipped_variable_rate().at_quality(3.75)
    data = codec.compress(photo)
    _, y_hat, _ = codec.decode_latent(data)
    model64 = copy.deepcopy(codec.model.model).double()
    codec64 = aecodec.ImageCodec(model64.at_quality(3.75), codec.model_id, codec.quality)
    _, y_hat64, _ = codec64.decode_latent(data)
    assert torch.equal(y_hat.double(), y_hat64.double())


def test_shipped_model_rate_and_quality_rise_with_every_fractional_step(photo):
    codec = _shipped_variable_rate()
    points = []
    for quality in sorted([1, 2, 3, 4, 5, 6, 7, 8] + FRACTIONAL):
        at = codec.at_quality(quality)
        data = at.compress(photo)
        bpp = 8 * len(data) / (photo.shape[0] * photo.shape[1])
        points.append((quality, bpp, psnr_db(photo, np.asarray(at.decompress(data)))))
    _, bpps, psnrs = zip(*points)
    assert list(bpps) == sorted(bpps), points
    assert list(psnrs) == sorted(psnrs), points


def test_compress_to_size_lands_at_or_just_under_the_target(vr_zoo):
    image = natural_like(128, 96, seed=4)
    codec = aecodec.load_codec("tiny-vr", 4, checkpoint_dir=vr_zoo)
    smallest, largest = (len(codec.at_quality(q).compress(image)) for q in (1, 8))
    target = (smallest + largest) / 2
    sized = codec.compress_to_size(image, target)
    assert sized.fits and len(sized.data) <= target
    assert aecodec.read_header(sized.data).quality == sized.quality
    one_step_up = codec.at_quality(sized.quality + 1 / QUALITY_STEPS).compress(image)
    assert len(one_step_up) > target  # the highest quality that fits
    too_small = codec.compress_to_size(image, smallest / 2)
    assert not too_small.fits and too_small.quality == 1
    ladder = aecodec.ImageCodec(build_model(ModelConfig(family="hyperprior", N=8, M=8)), "x", 1)
    with pytest.raises(ValueError, match="ladder"):
        ladder.compress_to_size(image, target)


def test_cli_aims_at_a_size_or_bpp(vr_zoo, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from aecodec.cli.main import main

    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(vr_zoo))
    Image.fromarray(natural_like(128, 96, seed=4)).save(tmp_path / "a.png")
    runner = CliRunner()
    result = runner.invoke(main, ["encode", str(tmp_path / "a.png"), "--model", "tiny-vr", "--size", "1.2KB"])
    assert result.exit_code == 0, result.output
    size = (tmp_path / "a.aec").stat().st_size
    assert size <= 1200 and "quality" in result.output
    result = runner.invoke(main, ["encode", str(tmp_path / "a.png"), "--model", "tiny-vr", "--bpp", "0.01", "-f"])
    assert result.exit_code == 0 and "smallest this model makes" in result.output, result.output
    for bad in (["-q", "3", "--bpp", "1"], ["--bpp", "1", "--size", "1KB"], ["--size", "lots"]):
        result = runner.invoke(main, ["encode", str(tmp_path / "a.png"), "--model", "tiny-vr", "-f", *bad])
        assert result.exit_code == 2, (bad, result.output)
    result = runner.invoke(main, ["encode", str(tmp_path / "a.png"), "--model", "tiny-vr", "-q", "2.5", "-f"])
    assert result.exit_code == 0 and aecodec.read_header((tmp_path / "a.aec").read_bytes()).quality == 2.5
    result = runner.invoke(main, ["decode", str(tmp_path / "a.aec"), "-o", str(tmp_path / "b.png")])
    assert result.exit_code == 0 and Image.open(tmp_path / "b.png").size == (128, 96), result.output


def test_byte_sizes_parse_with_their_units():
    from aecodec.cli.common import ByteSize

    size = ByteSize()
    assert [size.convert(v, None, None) for v in ("40000", "40KB", "40kB", "40K", "1.5MB", "40KiB", "2MiB")] == [
        40000, 40000, 40000, 40000, 1.5e6, 40960, 2 * 1024**2]


@pytest.mark.parametrize("record", ["0.1.0", {"last_version": "0.1.0", "retired_in": "0.2.0", "qualities": {}}])
def test_a_retired_model_names_the_version_that_decodes_its_streams(vr_zoo, tmp_path, record):
    # the "retired" table maps an id to that version, or to a record of the model that names it
    folder = tmp_path / "zoo"
    folder.mkdir()
    manifest = json.loads((vr_zoo / "MANIFEST.json").read_text())
    manifest["retired"] = {"factorized": record}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    header = container.Header("factorized", 3, 16, 16, "RGB", (1, 1), 64)
    data = container.pack(header, [b"\x00" * 8])
    when = " in aecodec 0.2.0" if isinstance(record, dict) else ""
    expected = (
        f"model 'factorized' was retired{when}; aecodec 0.1.0 is the last version that decodes its streams "
        '(and encodes with it): pip install "aecodec==0.1.0"'
    )
    with pytest.raises(UnknownModelError) as raised:
        aecodec.decompress(data, checkpoint_dir=folder)
    assert str(raised.value) == expected


def test_pillow_saves_and_opens_a_fractional_quality(vr_zoo, tmp_path, monkeypatch):
    import aecodec.pillow  # noqa: F401  (registers the format)

    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(vr_zoo))
    Image.fromarray(natural_like(40, 24, seed=1)).save(tmp_path / "x.aec", quality=3.5, model="tiny-vr")
    with Image.open(tmp_path / "x.aec") as im:
        assert (im.info["model"], im.info["quality"]) == ("tiny-vr1", 3.5)
        assert im.convert("RGB").size == (40, 24)


def test_quick_fuzz_of_variable_rate_streams_has_no_unexpected_outcome(vr_zoo):
    import fuzz

    codec = aecodec.load_codec("tiny-vr", 3.25, checkpoint_dir=vr_zoo)
    report = fuzz.run_fuzz(fuzz.base_stream(codec, "RGB", 20, 12), codec, 200, seed=1)
    assert report.ok, "\n".join(report.lines())
    assert report.outcomes["CorruptStreamError"] > 0 and report.outcomes[fuzz.DECODED] > 0


def test_refinement_codes_a_fractional_quality(vr_zoo):
    image = natural_like(48, 32, seed=6)
    plain = aecodec.load_codec("tiny-vr", 2.5, checkpoint_dir=vr_zoo)
    refined = aecodec.load_codec("tiny-vr", 2.5, checkpoint_dir=vr_zoo, refine_steps=3)
    data = refined.compress(image)
    assert aecodec.read_header(data).quality == 2.5
    assert np.asarray(plain.decompress(data)).shape == image.shape  # an ordinary stream of that quality
