"""Entropy coding of one tile of a hyperprior latent, in the layout its stream's format version names
(:class:`aecodec.container.TileLayout`).

Streams since format 6 group the symbols by CDF table and code each group as one array with constriction's ANS
coder (:mod:`aecodec.grouped_coding`): 5 ms instead of 30 to encode a Kodak image's latent, 8 instead of 67 to
decode it. Streams of formats 2 to 5 were coded as ``GaussianConditional.compress`` / ``decompress`` do, symbol
by symbol with CompressAI's rANS coder, and still decode that way, with two differences:

* **Floor skipping** (stream format 5 onwards; the grouped layout too). An element whose CDF index is 0, the
  scale table's floor (sigma 0.11: P(symbol 0) > 0.999999), is not coded at all: the encoder sets its symbol
  to 0 and the decoder fills in 0 without reading anything. Both sides know the indexes before the tile is
  coded (the integer hyper-synthesis computes them from z), so nothing in the stream says which elements were
  skipped. On Kodak 37% of the elements sit at the floor at quality 6 and 70% at quality 1 (the ladder model);
  among them 4 in a million were not 0 (the encoder rounds them to 0: a change far below a level's
  distortion), and their bits are saved.
* **Less Python per symbol.** The decoded values come back as a list of Python ints; turning them into a
  tensor through ``array.array`` takes a third of the time ``torch.tensor`` takes.

Older streams (``TileLayout.EVERY_ELEMENT``) decode through the same coder to the same symbols as before.
"""

from __future__ import annotations

import array

import torch

from . import grouped_coding, rans_guard
from .container import TileLayout
from .errors import CorruptStreamError


def _tables(conditional) -> tuple[list, list, list]:
    return (
        conditional._quantized_cdf.tolist(),
        conditional._cdf_length.reshape(-1).int().tolist(),
        conditional._offset.reshape(-1).int().tolist(),
    )


def _coded(indexes: torch.Tensor, layout: TileLayout) -> torch.Tensor | None:
    """Boolean mask of the elements the string holds (None: all of them)."""
    return None if layout is TileLayout.EVERY_ELEMENT else indexes > 0


def encode_tile(
    conditional, y: torch.Tensor, indexes: torch.Tensor, means: torch.Tensor | None, layout: TileLayout,
    tables: grouped_coding.GroupedTables | None = None,
) -> bytes:  # fmt: skip
    """String of ``y`` (1, M, h, w) coded with the Gaussian tables ``indexes`` (same shape) picks, in ``layout``;
    ``tables``: ``conditional``'s tables for the grouped layout (built here when not given)."""
    symbols = conditional.quantize(y, "symbols", means).reshape(-1)
    indexes = indexes.reshape(-1)
    if layout is TileLayout.GROUPED:
        tables = tables or grouped_coding.GroupedTables(conditional)
        return grouped_coding.encode(tables, symbols.to(torch.int32).numpy(), indexes.numpy())
    coded = _coded(indexes, layout)
    if coded is not None:
        symbols, indexes = symbols[coded], indexes[coded]
    if not indexes.numel():
        return b""  # CompressAI's coder crashes on no symbols; nothing to code is an empty string
    return conditional.entropy_coder.encode_with_indexes(
        symbols.int().tolist(), indexes.int().tolist(), *_tables(conditional)
    )


def decode_tile(
    conditional, string: bytes, indexes: torch.Tensor, means: torch.Tensor | None, layout: TileLayout,
    tables: grouped_coding.GroupedTables | None = None,
) -> torch.Tensor:  # fmt: skip
    """The latent tile (float, shape of ``indexes``) that :func:`encode_tile` coded into ``string``.

    Raises:
        CorruptStreamError: a string that no latent of this shape and these tables can have given.
    """
    flat = indexes.reshape(-1)
    if layout is TileLayout.GROUPED:
        tables = tables or grouped_coding.GroupedTables(conditional)
        symbols = torch.from_numpy(grouped_coding.decode(tables, string, flat.numpy()))
        return conditional.dequantize(symbols.reshape(indexes.shape), means, torch.float)
    coded = _coded(flat, layout)
    selected = flat if coded is None else flat[coded]
    if not selected.numel():
        if string:
            raise CorruptStreamError(f"coded string of {len(string)} bytes for a tile with nothing to decode")
        return conditional.dequantize(torch.zeros_like(indexes, dtype=torch.int32), means, torch.float)
    # the guard sees exactly the symbols the decoder will read: its bounds and padding stay tight
    (safe,) = rans_guard.safe_gaussian_strings([string], conditional, selected.reshape(1, -1))
    values = conditional.entropy_coder.decode_with_indexes(safe, selected.int().tolist(), *_tables(conditional))
    decoded = torch.frombuffer(array.array("i", values), dtype=torch.int32) if values else selected.new_zeros(0)
    symbols = decoded if coded is None else flat.new_zeros(flat.shape, dtype=torch.int32).masked_scatter(coded, decoded)
    return conditional.dequantize(symbols.reshape(indexes.shape), means, torch.float)
