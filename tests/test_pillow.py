"""The Pillow plugin: Image.open reads the header only, load() decodes, save() writes what the CLI writes."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps, UnidentifiedImageError

import aecodec.pillow  # noqa: F401  (registers the format)
from aecodec import container, zoo
from aecodec.api import load_codec

from conftest import natural_like


@pytest.fixture
def aec_file(use_tiny_zoo, tmp_path):
    path = tmp_path / "k.aec"
    Image.fromarray(natural_like(40, 24), "RGB").save(path, quality=1, model="factorized")
    return path


class CountingReader(io.BytesIO):
    """A file object that remembers how many bytes were read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n=-1):
        chunk = super().read(n)
        self.bytes_read += len(chunk)
        return chunk


def test_open_reads_the_header_only(aec_file):
    data = aec_file.read_bytes()
    header, strings = container.unpack(data)
    big = container.pack(header, [strings[0] + bytes(100_000)])  # same header, a long (undecodable) body
    fp = CountingReader(big)
    im = Image.open(fp)
    assert (im.format, im.size, im.mode) == ("AEC", (40, 24), "RGB")
    assert im.info["model"] == "factorized" and im.info["quality"] == 1
    assert im.info["bpp"] == pytest.approx(8 * len(big) / (40 * 24))
    assert fp.bytes_read < 300  # the longest header (one with an adapter field) and Pillow's prefix check
    fp = CountingReader(data)
    with Image.open(fp) as im:
        im.load()
    assert fp.bytes_read >= len(data)


def test_open_a_stream_the_cli_wrote_and_save_what_the_cli_writes(run, tiny_zoo, tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(natural_like(33, 21, seed=3), "RGB").save(png)
    assert run("encode", png, "-o", tmp_path / "cli.aec", "-q", 2, "--model", "factorized").exit_code == 0
    Image.open(png).save(tmp_path / "pil.aec", quality=2, model="factorized")
    assert (tmp_path / "pil.aec").read_bytes() == (tmp_path / "cli.aec").read_bytes()
    with Image.open(tmp_path / "cli.aec") as im:
        decoded = np.asarray(im)
    expected = load_codec("factorized", 2, checkpoint_dir=tiny_zoo).decompress((tmp_path / "cli.aec").read_bytes())
    assert np.array_equal(decoded, np.asarray(expected))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_round_trip_of_each_mode(use_tiny_zoo, tmp_path, mode):
    original = Image.fromarray(natural_like(19, 13, seed=1), "RGB").convert(mode)
    path = tmp_path / "m.aec"
    original.save(path, quality=1)  # the default family
    with Image.open(path) as im:
        default = zoo.lookup(zoo.DEFAULT_MODEL_ID, 1, use_tiny_zoo).model_id
        assert im.mode == mode and im.size == (19, 13) and im.info["model"] == default
        im.load()
        if "A" in mode:  # alpha is lossless
            assert np.array_equal(np.asarray(im)[..., -1], np.asarray(original)[..., -1])


def test_verify(aec_file):
    with Image.open(aec_file) as im:
        im.verify()
    damaged = bytearray(aec_file.read_bytes())
    damaged[-10] ^= 0xFF
    with Image.open(io.BytesIO(bytes(damaged))) as im:
        with pytest.raises(SyntaxError, match="checksum"):
            im.verify()


def test_damaged_files_raise_pillows_errors_with_aecodecs_message(aec_file):
    data = aec_file.read_bytes()
    future = data[:4] + bytes([99]) + data[5:]
    with pytest.raises(UnidentifiedImageError, match="version 99"):
        Image.open(io.BytesIO(future))
    with pytest.raises(UnidentifiedImageError, match="truncated"):
        Image.open(io.BytesIO(data[:12]))
    body = bytearray(data)
    body[-10] ^= 0xFF
    im = Image.open(io.BytesIO(bytes(body)))  # the header is intact: opening works, decoding does not
    with pytest.raises(OSError, match="checksum mismatch"):
        im.load()


def test_image_ops_on_an_opened_file(aec_file):
    with Image.open(aec_file) as im:
        fitted = ImageOps.fit(im, (16, 16))
        assert fitted.size == (16, 16)
    with Image.open(aec_file) as im:
        im.thumbnail((20, 20))
        assert im.size == (20, 12)
    with Image.open(aec_file) as im:
        assert ImageOps.grayscale(im).mode == "L"


def test_bad_save_quality(use_tiny_zoo, tmp_path):
    with pytest.raises(ValueError, match="quality"):
        Image.new("RGB", (8, 8)).save(tmp_path / "x.aec", quality=95)


def test_import_registers_without_torch():
    code = (
        "import sys, aecodec.pillow; from PIL import Image; "
        "assert Image.EXTENSION['.aec'] == 'AEC' and Image.MIME['AEC'] == 'image/x-aec'; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
