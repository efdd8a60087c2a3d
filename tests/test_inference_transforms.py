"""The inference forms of the transforms (aecodec.models.inference) compute what the trained modules compute, to
float rounding, for every shipped model and the variable-rate family; golden streams decode through them to
within 1 of the trained modules' pixels; the trained modules are left as they were."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import aecodec
from aecodec import zoo
from aecodec.models import inference
from aecodec.models.inference import FastGDN, InferenceTransforms, PixelShuffleDeconv
from aecodec.models.layers import deconv
from aecodec.models.variable_rate import AtQuality
from aecodec._compressai import GDN

from test_golden import DECODABLE, GOLDEN, TABLE
from test_variable_rate import vr_zoo  # noqa: F401 (the fixture)

SHIPPED = sorted({(e.model_id, e.quality or 6) for e in zoo.entries()})


def assert_close(fast: torch.Tensor, plain: torch.Tensor) -> None:
    assert fast.shape == plain.shape
    scale = max(1.0, float(plain.abs().max()))
    assert float((fast - plain).abs().max()) <= 1e-5 * scale


def transforms_agree(model: nn.Module, height: int = 80, width: int = 112) -> None:
    """Fast analysis and synthesis of ``model`` (an Autoencoder or AtQuality) equal its own on random input."""
    torch.manual_seed(0)
    fast = InferenceTransforms(model)
    assert fast.g_a is not None and fast.g_s is not None  # the fast forms, not the fallback
    config = model.model.config if isinstance(model, AtQuality) else model.config
    x = torch.rand(2, 3, height, width)
    y_hat = torch.round(torch.randn(2, config.M, height // 16, width // 16) * 4)
    with torch.no_grad():
        assert_close(fast.analysis(x), model.analysis(x))
        assert_close(fast.synthesis(y_hat), model.synthesis(y_hat))


@pytest.mark.parametrize("model_id, quality", SHIPPED)
def test_fast_transforms_equal_the_trained_modules(model_id, quality):
    transforms_agree(aecodec.load_codec(model_id, quality).model)


def test_fast_transforms_of_a_variable_rate_model(vr_zoo):
    """Gains applied as AtQuality applies them, at a level and between levels; at_quality shares g_a / g_s."""
    codec = aecodec.load_codec("tiny-vr", 3, checkpoint_dir=vr_zoo)
    for quality in (3, 5.25):
        transforms_agree(codec.model.model.at_quality(quality))
    built = codec.transforms  # built on first use; a codec at another quality then shares them
    other = codec.at_quality(5.25)
    assert other.transforms.g_s is built.g_s
    assert torch.equal(other.transforms.gain, other.model.gain)


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 6)])
def test_pixel_shuffle_deconv_equals_the_transposed_convolution(size):
    torch.manual_seed(1)
    layer = deconv(7, 3)
    x = torch.randn(2, 7, *size)
    with torch.no_grad():
        assert_close(PixelShuffleDeconv(layer)(x.contiguous(memory_format=torch.channels_last)), layer(x))


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_in_bands_equals_compressai_gdn(monkeypatch, inverse):
    torch.manual_seed(2)
    model = aecodec.load_codec("hyperprior", 4).model
    gdn = model.g_s[1] if inverse else model.g_a[1]
    monkeypatch.setattr(inference, "GDN_BAND_PIXELS", 20)  # several bands of 2 rows, and a last one of 1
    x = torch.randn(2, gdn.beta.numel(), 7, 9)
    with torch.no_grad():
        expected = gdn(x)
        assert_close(FastGDN(gdn)(x.clone().contiguous(memory_format=torch.channels_last)), expected)


def test_trained_modules_are_left_as_they_were():
    model = aecodec.load_codec("hyperprior", 2).model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    InferenceTransforms(model).synthesis(torch.zeros(1, model.config.M, 2, 3))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].is_contiguous() for k in before)
    assert isinstance(model.g_s[1], GDN)  # still CompressAI's GDN


@pytest.mark.parametrize("name", DECODABLE)
def test_golden_stream_decodes_within_one_of_the_trained_modules(name):
    entry = TABLE[name]
    data = (GOLDEN / f"{name}.aec").read_bytes()
    codec = aecodec.load_codec(entry["model_id"], entry["quality"])
    fast = np.asarray(codec.decompress(data)).astype(int)
    codec._transforms = SimpleNamespace(analysis=codec.model.analysis, synthesis=codec.model.synthesis,
                                        stale=lambda: False)  # fmt: skip
    plain = np.asarray(codec.decompress(data)).astype(int)
    assert np.abs(fast - plain).max() <= 1


def test_bfloat16_analysis_stays_near_the_float32_one_and_leaves_the_synthesis_alone():
    """With bf16_analysis the analysis's inner convolutions run in bfloat16 (wherever the CPU can; emulated
    elsewhere, so this runs anywhere): the latent moves by bfloat16 rounding, the synthesis not at all."""
    model = aecodec.load_codec(zoo.DEFAULT_MODEL_ID, 6).model
    exact, bf16 = InferenceTransforms(model), InferenceTransforms(model, bf16_analysis=True)
    assert isinstance(bf16.g_a[0], nn.Conv2d)  # the first convolution, on the pixels, stays float32
    assert [type(m).__name__ for m in bf16.g_a[2::2]] == ["Bfloat16Conv"] * 3
    torch.manual_seed(0)
    x = torch.rand(1, 3, 64, 96)
    y_hat = torch.round(torch.randn(1, model.model.config.M, 4, 6) * 4)
    with torch.no_grad():
        y, y_bf16 = exact.analysis(x), bf16.analysis(x)
        assert torch.equal(exact.synthesis(y_hat), bf16.synthesis(y_hat))
    error = float((y - y_bf16).abs().max()) / float(y.abs().max())
    assert 0 < error < 0.02


def test_the_codec_picks_bfloat16_analysis_where_the_cpu_has_it():
    codec = aecodec.load_codec()
    assert codec.bf16_analysis is inference.native_bfloat16(torch.device("cpu"))
    assert not inference.native_bfloat16(torch.device("meta"))
    assert aecodec.load_codec(bf16_analysis=False).transforms.g_a[2].__class__ is nn.Conv2d
    assert codec.at_quality(3).bf16_analysis is codec.bf16_analysis


def test_bfloat16_analysis_codes_a_photo_as_well_as_float32():
    """The real model on a real photo: the same size and quality to a fraction of a percent, and its streams
    decode (decoding never depends on the encoder's precision)."""
    from skimage import data as skdata

    photo = skdata.astronaut()[:256, :256]
    sizes, qualities = [], []
    for bf16 in (False, True):
        codec = aecodec.load_codec(zoo.DEFAULT_MODEL_ID, 4, bf16_analysis=bf16)
        stream = codec.compress(photo)
        decoded = np.asarray(aecodec.decompress(stream)).astype(float)
        sizes.append(len(stream))
        qualities.append(10 * np.log10(255**2 / np.mean((decoded - photo) ** 2)))
    assert abs(sizes[1] / sizes[0] - 1) < 0.01 and abs(qualities[1] - qualities[0]) < 0.05
