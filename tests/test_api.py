"""Python API round trips: input kinds, odd sizes and modes, determinism, model checks."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import aecodec
from aecodec.errors import CorruptStreamError, ImageInputError, UnknownModelError

from conftest import natural_like


@pytest.fixture(scope="module")
def tiny(tiny_zoo):
    return aecodec.load_codec("factorized", 1, checkpoint_dir=tiny_zoo)


@pytest.mark.parametrize("size", [(1, 1), (1, 17), (17, 1), (16, 16), (37, 23), (100, 5)])
def test_odd_sizes_round_trip(tiny, size):
    image = Image.fromarray(natural_like(*size), "RGB")
    out = tiny.decompress(tiny.compress(image))
    assert out.size == size and out.mode == "RGB"


@pytest.mark.parametrize(
    "mode, expected",
    [("RGB", "RGB"), ("L", "L"), ("1", "L"), ("RGBA", "RGBA"), ("LA", "LA"), ("P", "RGB"), ("CMYK", "RGB"),
     ("I;16", "L"), ("YCbCr", "RGB")],
)  # fmt: skip
def test_modes(tiny, mode, expected):
    image = Image.fromarray(natural_like(21, 13), "RGB").convert(mode)
    out = tiny.decompress(tiny.compress(image))
    assert out.mode == expected and out.size == (21, 13)


def test_alpha_is_kept_losslessly(tiny):
    rgba = np.dstack([natural_like(30, 20), np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8)])
    out = tiny.decompress(tiny.compress(Image.fromarray(rgba, "RGBA")))
    assert np.array_equal(np.asarray(out)[:, :, 3], rgba[:, :, 3])


def test_sixteen_bit_gray_keeps_its_high_byte(tiny):
    wide = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    image = Image.fromarray(wide)
    assert image.mode.startswith("I;16")
    from aecodec.images import prepare

    prepared = prepare(image)
    expected = np.clip(np.rint(wide / 257.0), 0, 255)
    assert np.array_equal(prepared.pixels[:, :, 0], expected)


def test_numpy_and_tensor_inputs_match_pil(tiny):
    array = natural_like(19, 11)
    from_pil = tiny.compress(Image.fromarray(array, "RGB"))
    assert tiny.compress(array) == from_pil
    tensor = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    assert tiny.compress(tensor) == from_pil


def test_gray_numpy_input_comes_back_gray(tiny):
    out = tiny.decompress(tiny.compress(natural_like(12, 9)[:, :, 0]))
    assert out.mode == "L"


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float32), "not an image",
                                 torch.zeros(4, 4)])  # fmt: skip
def test_unsupported_inputs_raise_clear_error(tiny, bad):
    with pytest.raises(ImageInputError):
        tiny.compress(bad)


def test_exif_orientation_is_applied(tiny):
    image = Image.fromarray(natural_like(30, 10), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    image.save(buf, format="JPEG", exif=exif)
    with Image.open(io.BytesIO(buf.getvalue())) as tagged:
        out = tiny.decompress(tiny.compress(tagged))
    assert out.size == (10, 30)


def test_same_input_same_bytes_and_pixels(tiny):
    image = Image.fromarray(natural_like(40, 24, seed=3), "RGB")
    first, second = tiny.compress(image), tiny.compress(image)
    assert first == second
    assert np.array_equal(np.asarray(tiny.decompress(first)), np.asarray(tiny.decompress(first)))


def test_one_shot_functions(tiny_zoo):
    data = aecodec.compress(natural_like(20, 20), quality=2, checkpoint_dir=tiny_zoo)
    assert aecodec.read_header(data).quality == 2
    assert aecodec.decompress(data, checkpoint_dir=tiny_zoo).size == (20, 20)


def test_stream_of_another_quality_is_refused(tiny, tiny_zoo):
    other = aecodec.load_codec("factorized", 2, checkpoint_dir=tiny_zoo)
    with pytest.raises(CorruptStreamError, match="quality 2"):
        tiny.decompress(other.compress(natural_like(8, 8)))


def test_declared_size_over_the_limit_is_refused(tiny):
    data = tiny.compress(natural_like(64, 64))
    with pytest.raises(CorruptStreamError, match="over the limit"):
        tiny.decompress(data, max_pixels=1000)
    assert tiny.decompress(data, max_pixels=None).size == (64, 64)


def test_unknown_model_and_quality_list_the_choices(tiny_zoo):
    with pytest.raises(UnknownModelError, match="available: factorized"):
        aecodec.load_codec("nope", 1, checkpoint_dir=tiny_zoo)
    with pytest.raises(UnknownModelError, match="available: 1, 2"):
        aecodec.load_codec("factorized", 7, checkpoint_dir=tiny_zoo)


def test_import_codec_does_not_load_torch():
    import subprocess
    import sys

    code = "import aecodec, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
