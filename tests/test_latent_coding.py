"""codec/latent_coding.py and codec/grouped_coding.py: tile coding with the real entropy coders and tables of the
shipped hyperprior, in each layout: every element and floor skipping against CompressAI's own GaussianConditional
coding; the grouped layout (constriction) against the floor-skipped latent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import aecodec
from aecodec import grouped_coding, images, latent_coding
from aecodec.container import TileLayout
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
    ours = latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.EVERY_ELEMENT)
    assert ours == conditional.compress(y, indexes, means=means)[0]
    decoded = latent_coding.decode_tile(conditional, ours, indexes, means, layout=TileLayout.EVERY_ELEMENT)
    assert torch.equal(decoded, torch.round(y))


def test_skipping_leaves_out_the_floor_and_decodes_it_as_zero(tile):
    conditional, y, indexes, means = tile
    floor = indexes == 0
    assert 0 < int(floor.sum()) < indexes.numel()  # the test needs both kinds of element
    full = latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.EVERY_ELEMENT)
    skipped = latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.SKIP_FLOOR)
    assert len(skipped) <= len(full)
    decoded = latent_coding.decode_tile(conditional, skipped, indexes, means, layout=TileLayout.SKIP_FLOOR)
    expected = torch.where(floor, torch.zeros_like(y), torch.round(y))
    assert torch.equal(decoded, expected)


def test_grouping_decodes_the_floor_skipped_latent_in_as_many_bytes(tile):
    conditional, y, indexes, means = tile
    skipped = latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.SKIP_FLOOR)
    grouped = latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.GROUPED)
    assert abs(len(grouped) - len(skipped)) <= 0.01 * len(skipped) + 8  # the same tables, coded in another order
    decoded = latent_coding.decode_tile(conditional, grouped, indexes, means, layout=TileLayout.GROUPED)
    expected = torch.where(indexes == 0, torch.zeros_like(y), torch.round(y))
    assert torch.equal(decoded, expected)


def test_grouping_escapes_symbols_outside_their_tables(tile):
    """Values far outside every table (and both signs, up to the int32 range) come back exactly."""
    conditional, _, indexes, _ = tile
    tables = grouped_coding.GroupedTables(conditional)
    flat = indexes.reshape(-1).numpy()
    rng = np.random.default_rng(0)
    symbols = rng.integers(-3, 4, flat.size).astype(np.int32)
    far = np.flatnonzero(flat > 0)[:: max(1, flat.size // 50)]
    symbols[far] = rng.choice([-(2**31), -70000, -300, 300, 65537, 2**31 - 1], far.size)
    symbols[flat == 0] = 0
    string = grouped_coding.encode(tables, symbols, flat)
    assert np.array_equal(grouped_coding.decode(tables, string, flat), symbols)
    with pytest.raises(CorruptStreamError, match="does not end"):
        grouped_coding.decode(tables, string + b"\x01\x00\x00\x00", flat)


@pytest.mark.parametrize("layout", [TileLayout.SKIP_FLOOR, TileLayout.GROUPED])
def test_a_tile_entirely_at_the_floor_codes_to_an_empty_string(tile, layout):
    conditional, y, indexes, means = tile
    zeros = torch.zeros_like(indexes)
    string = latent_coding.encode_tile(conditional, y, zeros, means, layout=layout)
    assert string == b""
    decoded = latent_coding.decode_tile(conditional, string, zeros, means, layout=layout)
    assert torch.equal(decoded, torch.zeros_like(y))
    with pytest.raises(CorruptStreamError, match="nothing to decode|does not end"):
        latent_coding.decode_tile(conditional, b"\x01\x00\x00\x00" * 2, zeros, means, layout=layout)


@pytest.mark.parametrize("layout", list(TileLayout))
def test_a_string_of_impossible_length_is_refused_before_decoding(tile, layout):
    conditional, _, indexes, means = tile
    with pytest.raises(CorruptStreamError, match="coded string"):
        latent_coding.decode_tile(conditional, b"\x00" * 13 if layout is TileLayout.GROUPED else b"\x00" * 12,
                                  indexes, means, layout)  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_grouped_garbage_is_refused_or_decodes_within_the_tables(tile, seed):
    """A damaged grouped string raises CorruptStreamError or gives some latent; it never crashes."""
    conditional, y, indexes, means = tile
    string = bytearray(latent_coding.encode_tile(conditional, y, indexes, means, layout=TileLayout.GROUPED))
    rng = np.random.default_rng(seed)
    string[rng.integers(len(string))] ^= 1 << int(rng.integers(8))
    garbage = [bytes(string), bytes(string[: len(string) // 8 * 4]), rng.bytes(4 * int(rng.integers(1, 64)))]
    for data in garbage:
        try:
            decoded = latent_coding.decode_tile(conditional, data, indexes, means, layout=TileLayout.GROUPED)
        except CorruptStreamError:
            continue
        assert decoded.shape == y.shape and bool(torch.isfinite(decoded).all())
