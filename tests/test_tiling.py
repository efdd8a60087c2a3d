"""Tile-by-tile coding: the tiles cover the latent, and tiled transforms equal the untiled ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aecodec
from aecodec import container, tiling
from aecodec.config import preset
from aecodec.errors import CorruptStreamError
from aecodec.models import build_model

from conftest import natural_like


def test_grid_covers_the_latent_once_in_raster_order():
    tiles = tiling.grid((13, 19), 8)
    assert [t.shape for t in tiles] == [(8, 8), (8, 8), (8, 3), (5, 8), (5, 8), (5, 3)]
    covered = np.zeros((13, 19), int)
    for t in tiles:
        covered[t.top : t.bottom, t.left : t.right] += 1
    assert (covered == 1).all()
    assert tiling.grid((5, 5), 64) == [tiling.Tile(0, 0, 5, 5)]


@pytest.fixture(scope="module")
def model64():
    # float64 so that the comparison measures the tiling, not float32 summation order
    torch.manual_seed(0)
    model = build_model(preset("tiny")).double().eval()
    for p in model.parameters():  # an untrained GDN is almost linear: make it bite
        p.data += 0.05 * torch.randn_like(p)
    return model


def _tiled_analysis(model, pixels, latent_shape, tile, margin):
    y = torch.zeros(1, model.config.M, *latent_shape, dtype=torch.float64)
    analysis = lambda x: model.analysis(x.double())  # noqa: E731
    for t, y_tile in tiling.analyse(analysis, pixels, latent_shape, tile, margin, 16, torch.device("cpu")):
        y[..., t.top : t.bottom, t.left : t.right] = y_tile
    return y


def _tiled_synthesis(model, y_hat, tile, margin):
    x = torch.zeros(1, 3, y_hat.shape[-2] * 16, y_hat.shape[-1] * 16, dtype=torch.float64)
    for t, x_tile in tiling.synthesise(model.synthesis, y_hat, tile, margin, 16):
        x[..., t.top * 16 : t.bottom * 16, t.left * 16 : t.right * 16] = x_tile
    return x


@torch.no_grad()
def test_tiled_transforms_equal_the_untiled_ones(model64):
    pixels = natural_like(150, 115)  # latent 8 x 10: 3 x 4 tiles of 3, edge tiles partial
    latent_shape = (8, 10)
    whole, _ = tiling.tile_input(pixels, tiling.Tile(0, 0, *latent_shape), 0, 16, latent_shape)
    y = model64.analysis(whole.double())
    margin = model64.latent_margin
    assert torch.allclose(_tiled_analysis(model64, pixels, latent_shape, 3, margin), y, rtol=0, atol=1e-10)
    y_hat = torch.round(y * 4)
    x = model64.synthesis(y_hat)
    assert torch.allclose(_tiled_synthesis(model64, y_hat, 3, margin), x, rtol=0, atol=1e-10)
    # The margin is what makes them equal: one latent less and the tiles' edges differ.
    assert not torch.allclose(_tiled_analysis(model64, pixels, latent_shape, 3, margin - 1), y, rtol=0, atol=1e-4)
    assert not torch.allclose(_tiled_synthesis(model64, y_hat, 3, margin - 1), x, rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def tiny(tiny_zoo):
    return aecodec.load_codec("factorized", 1, checkpoint_dir=tiny_zoo)


@pytest.fixture(scope="module")
def tiny_tiled(tiny_zoo):
    return aecodec.load_codec("factorized", 1, checkpoint_dir=tiny_zoo, tile=8)


@pytest.mark.parametrize("mode", ["RGB", "LA"])
def test_multi_tile_stream_decodes_like_the_single_tile_one(tiny, tiny_tiled, mode):
    from PIL import Image

    image = Image.fromarray(natural_like(300, 205), "RGB").convert(mode)  # latent 13 x 19
    single = tiny.compress(image)
    tiled = tiny_tiled.compress(image)
    header, strings = container.unpack(tiled)
    assert header.tile == 8 and len(strings) == 6 + (mode == "LA")
    # Decoding follows the stream's tile side, whichever codec object reads it.
    a = np.asarray(tiny.decompress(single)).astype(int)
    b = np.asarray(tiny.decompress(tiled)).astype(int)
    assert a.shape == b.shape == np.asarray(image).shape
    # Equal up to float rounding (a latent on a rounding edge may flip): no seams.
    assert np.abs(a - b).max() <= 2 and np.mean(a != b) < 1e-3


def test_wrong_number_of_tile_strings_is_refused(tiny, tiny_tiled):
    header, strings = container.unpack(tiny_tiled.compress(natural_like(300, 205)))
    with pytest.raises(CorruptStreamError, match="expected 6 coded strings \\(6 tiles\\), found 5"):
        tiny.decompress(container.pack(header, strings[:5]))


def test_tile_side_is_checked(tiny_zoo):
    with pytest.raises(ValueError, match="tile"):
        aecodec.load_codec("factorized", 1, checkpoint_dir=tiny_zoo, tile=container.MAX_TILE + 1)


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (130, 70), (17, 200)])
def test_tile_input_repeats_the_last_row_and_column_past_the_image(size):
    """Every tile's input (margins of 0..4, tiles wholly in the padding too) is the image indexed with its row and
    column numbers clamped to the last ones: the edge padding the model's input has."""
    height, width = size
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    latent_shape = (-(-height // 64) * 4, -(-width // 64) * 4)
    for margin in (0, 1, 4):
        for tile in tiling.grid(latent_shape, 1):
            x, outer = tiling.tile_input(pixels, tile, margin, 16, latent_shape)
            rows = np.minimum(np.arange(outer.top * 16, outer.bottom * 16), height - 1)
            cols = np.minimum(np.arange(outer.left * 16, outer.right * 16), width - 1)
            expected = torch.from_numpy(pixels[rows[:, None], cols[None, :]]).permute(2, 0, 1).float() / 255
            assert x.is_contiguous(memory_format=torch.channels_last)
            assert torch.equal(x[0], expected)
