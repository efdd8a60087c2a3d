"""codec/latent_coding.py: tile coding with the real rANS coder of the shipped hyperprior, floor skipping on
and off, against CompressAI's own GaussianConditional coding."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import aecodec
from aecodec import images, latent_coding
from aecodec.errors import CorruptStreamError
from aecodec.tiling import grid

from conftest import natural_like


@pytest.fixture(scope="module")
def tile():
    """The shipped q2 hyperprior, the latent of a 96 x 64 image, and its one tile's CDF indexes."""
    codec = aecodec.load_codec("hyperprior", 2)
    model = codec.model
    image = Image.fromarray(natural_like(96, 64, seed=3), "RGB")
    with torch.no_grad():
        y = codec._analyse(images.prepare(image))
        _, side = model.compress_side(y)
        (only,) = grid(tuple(y.shape[-2:]), 256)
        indexes, means = model.tile_parameters(side, only)
    return model.gaussian_conditional, y, indexes, means


def test_without_skipping_the_strings_and_symbols_are_compressais(tile):
    conditional, y, indexes, means = tile
    ours = latent_coding.encode_tile(conditional, y, indexes, means, skip_floor=False)
    assert ours == conditional.compress(y, indexes, means=means)[0]
    decoded = latent_coding.decode_tile(conditional, ours, indexes, means, skip_floor=False)
    assert torch.equal(decoded, torch.round(y))


def test_skipping_leaves_out_the_floor_and_decodes_it_as_zero(tile):
    conditional, y, indexes, means = tile
    floor = indexes == 0
    assert 0 < int(floor.sum()) < indexes.numel()  # the test needs both kinds of element
    full = latent_coding.encode_tile(conditional, y, indexes, means, skip_floor=False)
    skipped = latent_coding.encode_tile(conditional, y, indexes, means, skip_floor=True)
    assert len(skipped) <= len(full)
    decoded = latent_coding.decode_tile(conditional, skipped, indexes, means, skip_floor=True)
    expected = torch.where(floor, torch.zeros_like(y), torch.round(y))
    assert torch.equal(decoded, expected)


def test_a_tile_entirely_at_the_floor_codes_to_an_empty_string(tile):
    conditional, y, indexes, means = tile
    zeros = torch.zeros_like(indexes)
    string = latent_coding.encode_tile(conditional, y, zeros, means, skip_floor=True)
    assert string == b""
    decoded = latent_coding.decode_tile(conditional, string, zeros, means, skip_floor=True)
    assert torch.equal(decoded, torch.zeros_like(y))
    with pytest.raises(CorruptStreamError, match="nothing to decode"):
        latent_coding.decode_tile(conditional, b"\x00" * 8, zeros, means, skip_floor=True)


@pytest.mark.parametrize("skip_floor", [False, True])
def test_a_string_of_impossible_length_is_refused_before_decoding(tile, skip_floor):
    conditional, _, indexes, means = tile
    with pytest.raises(CorruptStreamError, match="coded string"):
        latent_coding.decode_tile(conditional, b"\x00" * 12, indexes, means, skip_floor)
