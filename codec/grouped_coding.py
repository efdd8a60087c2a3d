"""Entropy coding of a tile's latent symbols grouped by their CDF table, with constriction's ANS coder (stream
format 6 onwards).

CompressAI's coder takes one Python int per symbol and looks up its CDF table symbol by symbol: on a Kodak image
that was a third of decoding (and with its guards, :mod:`aecodec.rans_guard`, more). Here the order of the
symbols in the string is chosen so that whole arrays share one table: both sides know every element's CDF index
before the tile is coded (the integer hyper-synthesis computes them from z), so the string holds

1. for each table, from index 1 up (index 0 is the scale table's floor, whose elements are left out as in
   format 5, see :mod:`aecodec.latent_coding`), the symbols of the elements with that index, in raster order
   (channel, row, column), each coded as its position in the table's alphabet, whose last entry is the escape;
2. then the value of every escaped symbol (one outside the table's range, in the order step 1 met them) as a
   32-bit two's-complement integer, in two 16-bit halves (high, low) of a uniform distribution.

Each table is CompressAI's quantized CDF row of that index (16-bit integers, the escape's tail mass last), given
to constriction's ``Categorical`` model as exact float64 probabilities; constriction turns them into its own
fixed point (24 bits, ``perfect=False``) with float64 arithmetic alone, so every machine builds the same
tables from the same rows. The string is the coder's 32-bit words, little-endian.

constriction is written in Rust: a damaged string decodes to wrong symbols or raises, never reads outside its
buffer, so these strings need none of rans_guard's padding. A string that does not come out exactly used up
is refused.
"""

from __future__ import annotations

import constriction
import numpy as np
import torch

from .errors import CorruptStreamError

#: Escaped values are coded as two halves of this many bits each (a 32-bit integer).
ESCAPE_HALF_BITS = 16


class GroupedTables:
    """One Gaussian conditional's CDF tables as constriction models (built once per coded image).

    Args:
        conditional: CompressAI ``GaussianConditional`` with its tables frozen (``update`` called).
    """

    def __init__(self, conditional) -> None:
        cdfs = conditional._quantized_cdf.to(torch.int64).numpy()
        lengths = conditional._cdf_length.reshape(-1).to(torch.int64).numpy()
        self.offsets = conditional._offset.reshape(-1).to(torch.int64).numpy()
        #: The escape's position in each table's alphabet: one past its last in-range symbol.
        self.escapes = lengths - 2
        self.models = [
            constriction.stream.model.Categorical(np.diff(row[:length]).astype(np.float64), perfect=False)
            for row, length in zip(cdfs, lengths)
        ]
        self.uniform_half = constriction.stream.model.Uniform(1 << ESCAPE_HALF_BITS)

    def __len__(self) -> int:
        return len(self.models)


class _Groups:
    """Where each table's symbols lie in a tile's string: the coded elements (index > 0) listed table by table,
    raster order within a table (``coded``: their flat positions), and each table's run in that list."""

    def __init__(self, tables: GroupedTables, indexes: np.ndarray) -> None:
        n = len(tables)
        if indexes.size and (indexes.min() < 0 or indexes.max() >= n):
            raise ValueError(f"CDF indexes must lie in 0..{n - 1}")
        # CDF indexes fit a byte (64 tables): numpy's stable sort of bytes is a radix sort, ten times faster
        order = np.argsort(indexes.astype(np.uint8 if n <= 256 else np.int32), kind="stable")
        counts = np.bincount(indexes, minlength=n)
        self.coded = order[counts[0] :]
        ends = np.cumsum(counts[1:]).tolist()
        self.runs = [(g, slice(end - int(counts[g]), end)) for g, end in enumerate(ends, 1) if counts[g]]
        # each coded element's table offset and escape position, in the coded order
        self.offsets = np.repeat(tables.offsets[1:].astype(np.int32), counts[1:])
        self.escapes = np.repeat(tables.escapes[1:].astype(np.int32), counts[1:])


def encode(tables: GroupedTables, symbols: np.ndarray, indexes: np.ndarray) -> bytes:
    """String of the int32 ``symbols`` whose CDF indexes are ``indexes`` (both flat, same length); elements of
    index 0 are left out."""
    groups = _Groups(tables, indexes)
    values = symbols[groups.coded].astype(np.int32, copy=False)
    shifted = values - groups.offsets
    outside = (shifted < 0) | (shifted >= groups.escapes)
    positions = np.where(outside, groups.escapes, shifted)
    coder = constriction.stream.stack.AnsCoder()
    # a stack: what the decoder reads last is pushed first
    words = values[outside].view(np.uint32)
    if words.size:
        halves = np.stack([words >> ESCAPE_HALF_BITS, words & ((1 << ESCAPE_HALF_BITS) - 1)], axis=1)
        coder.encode_reverse(halves.reshape(-1).astype(np.int32), tables.uniform_half)
    for table, run in reversed(groups.runs):
        coder.encode_reverse(positions[run], tables.models[table])
    return coder.get_compressed().astype("<u4").tobytes()


def decode(tables: GroupedTables, string: bytes, indexes: np.ndarray) -> np.ndarray:
    """The int32 symbols (flat, 0 where the index is 0) that :func:`encode` coded into ``string``.

    Raises:
        CorruptStreamError: a string that is not whole 32-bit words, or that does not decode to exactly these
            symbols' worth of data.
    """
    if len(string) % 4:
        raise CorruptStreamError(f"coded string of {len(string)} bytes is not whole 32-bit words")
    groups = _Groups(tables, indexes)
    positions = np.empty(groups.coded.size, np.int32)
    try:
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(string, "<u4").astype(np.uint32))
        for table, run in groups.runs:
            positions[run] = coder.decode(tables.models[table], run.stop - run.start)
        values = positions + groups.offsets
        escaped = np.flatnonzero(positions == groups.escapes)
        if escaped.size:
            halves = coder.decode(tables.uniform_half, 2 * escaped.size).astype(np.uint32).reshape(-1, 2)
            values[escaped] = ((halves[:, 0] << ESCAPE_HALF_BITS) | halves[:, 1]).view(np.int32)
        used_up = coder.is_empty()
    except ValueError as exc:  # constriction's word for data it cannot decode
        raise CorruptStreamError(f"damaged coded string: {exc}") from None
    if not used_up:
        raise CorruptStreamError("coded string does not end where the tile's symbols do")
    symbols = np.zeros(indexes.size, np.int32)
    symbols[groups.coded] = values
    return symbols
