"""Guards around CompressAI's rANS decoder, which trusts its input.

``compressai.ans.RansDecoder`` (C++) reads the coded string through a raw pointer with no bounds check: it
decodes one symbol per latent element whatever the string holds, so a short or garbage string makes it read
past the end of its buffer. A CRC-valid .aec file declaring a 4096x4096 image with a 4-byte string crashed
the process with SIGSEGV (and smaller over-reads would copy heap memory into the decoded pixels).

Two guards, applied before a byte reaches the decoder:

1. The string length must be possible for the declared latent: whole 32-bit words (the coder writes u32s),
   at least the 8 bytes of the final state, at least the fewest bits any symbols of these distributions can
   cost, at most what the costliest symbols can cost. A tiny string that declares a huge image fails here, at
   once, before anything of the image's size is allocated.
2. The string is padded with words of ``PAD_WORD`` so that even garbage that passes (1) can only read
   padding, never past it; the padding is sized from a worst-case bound on how far the decoder can read.

Why the bound holds (decoder of rans_interface.cpp: 64-bit state x, 32-bit renormalisation, 16-bit
probabilities, bypass nibbles for out-of-range values):

* Every operation (decode one symbol, or get one 4-bit bypass nibble) reads at most one word, and only when
  x fell below 2^31.
* Once the decoder reads padding, every refill is ``x << 32 | PAD_WORD``: x >= 2^31 from then on, so a
  refill only comes after the operations took >= 32 bits out of x. A symbol takes at most 16 bits, a nibble 4.
* The bypass count is a run of 0xF nibbles; a refill puts a 0 nibble at the bottom of x, so in padding a run
  is at most the 9 nibbles x held (<= 150 nibbles read after it: <= 161 nibbles per symbol, 660 bits).
  Only the one symbol whose run started in the string can run longer: at most 2 nibbles per string byte,
  times 16 for the nibbles it then reads.

So the decoder reads at most about 16 L + 83 S + 200 bytes past the string (L string bytes, S symbols); the
padding below has margin on each term (tests/test_fuzz.py checks it against a Python mirror of the decoder,
on garbage and on tables that make bypass symbols likely). Valid streams are never affected: the decoder stops
exactly where the encoder started.
"""

from __future__ import annotations

import math
import sys

import torch

from .errors import CorruptStreamError

#: Padding byte: the decoder reads the padding as words of four of them, 0x80808080 in either byte order, whose
#: high bit keeps the state >= 2^31 and whose lowest nibble is 0, so a run of bypass nibbles stops there (and
#: which contain no 0xF nibble at all). One repeated byte lets the padding be one fill instead of a built string
#: joined to the coded one (0.7 s of a 12-megapixel decode, against 0.36).
PAD_BYTE = 0x80
PAD_WORD = int.from_bytes(bytes([PAD_BYTE]) * 4, sys.byteorder)

#: Bytes of padding per string byte and per symbol, and a constant (bound: 16, 83, 200; see the docstring).
PAD_PER_BYTE = 20
PAD_PER_SYMBOL = 96
PAD_CONSTANT = 1024

#: A symbol costs at most 16 bits plus 9 bypass nibbles (8 value nibbles and their count): 52 bits.
MAX_BITS_PER_SYMBOL = 64


def min_bits_per_row(entropy_model) -> list[float]:
    """Fewest bits a symbol coded with each CDF row of ``entropy_model`` can cost: its likeliest symbol."""
    cdf = entropy_model._quantized_cdf.to(torch.int64)
    lengths = entropy_model._cdf_length.reshape(-1, 1).to(torch.int64)
    steps = cdf[:, 1:] - cdf[:, :-1]
    # a row's probabilities are its first length - 1 steps; a row of one entry has none: 16 bits (probability 1)
    inside = torch.arange(steps.shape[1]) < lengths - 1
    top = torch.where(inside, steps, 0).amax(dim=1).clamp(1, 1 << 16)
    top = torch.where(lengths.reshape(-1) > 1, top, 1 << 16)
    return (16 - torch.log2(top.to(torch.float64))).tolist()


def min_bits_per_position(bottleneck) -> float:
    """Fewest bits one latent position (all channels) can cost: the likeliest symbol of each channel."""
    return sum(min_bits_per_row(bottleneck))


def _bounds(fewest_bits: float, symbols: int) -> tuple[int, int]:
    # A coded string holds the symbols' information content minus at most 32 bits (its final state takes 64
    # bits and starts at 2^31), less 1e-4 bit per symbol of rounding: keep a wide margin on both.
    shortest = max(8, math.floor((fewest_bits * (1 - 1e-3) - 64) / 8))
    longest = 8 + math.ceil(symbols * MAX_BITS_PER_SYMBOL / 8) + 64
    return shortest, longest


def length_bounds(bottleneck, shape: tuple[int, ...]) -> tuple[int, int]:
    """Shortest and longest byte length a valid coded string of a latent of ``shape`` can have."""
    positions = math.prod(shape)
    return _bounds(min_bits_per_position(bottleneck) * positions, positions * bottleneck._quantized_cdf.shape[0])


def check_string(string: bytes, bottleneck, shape: tuple[int, ...]) -> None:
    """Raise CorruptStreamError when ``string`` cannot be a coded latent of ``shape`` for these tables."""
    _check_length(string, length_bounds(bottleneck, shape), "x".join(map(str, shape)))


def _check_length(string: bytes, bounds: tuple[int, int], shape_text: str) -> None:
    shortest, longest = bounds
    if len(string) % 4:
        raise CorruptStreamError(f"coded string of {len(string)} bytes is not whole 32-bit words")
    if len(string) < shortest:
        raise CorruptStreamError(
            f"coded string of {len(string)} bytes is too short for a latent of {shape_text} "
            f"(at least {shortest} bytes)"
        )
    if len(string) > longest:
        raise CorruptStreamError(
            f"coded string of {len(string)} bytes is too long for a latent of {shape_text} "
            f"(at most {longest} bytes)"
        )


def padded(string: bytes, n_symbols: int) -> bytes:
    """``string`` followed by enough padding words that the decoder cannot read past them."""
    pad_bytes = PAD_PER_BYTE * len(string) + PAD_PER_SYMBOL * n_symbols + PAD_CONSTANT
    return string.ljust(len(string) + 4 * math.ceil(pad_bytes / 4), bytes([PAD_BYTE]))


def safe_strings(strings: list[bytes], bottleneck, shape: tuple[int, ...]) -> list[bytes]:
    """Validate and pad each coded string of a batch for ``bottleneck.decompress(..., shape)``."""
    n_symbols = math.prod(shape) * bottleneck._quantized_cdf.shape[0]
    for s in strings:
        check_string(s, bottleneck, shape)
    return [padded(s, n_symbols) for s in strings]


def safe_gaussian_strings(strings: list[bytes], conditional, indexes: torch.Tensor) -> list[bytes]:
    """Validate and pad each coded string of a batch for ``conditional.decompress(strings, indexes)``: the
    same guards as :func:`safe_strings`, with each symbol's fewest bits taken from the CDF its index picks."""
    row_bits = torch.tensor(min_bits_per_row(conditional), dtype=torch.float64)
    if len(strings) != indexes.shape[0]:
        raise CorruptStreamError(f"{len(strings)} coded strings for a batch of {indexes.shape[0]}")
    out = []
    for string, item in zip(strings, indexes):
        counts = torch.bincount(item.reshape(-1).to(torch.int64), minlength=row_bits.numel()).to(torch.float64)
        bounds = _bounds(float(counts @ row_bits), item.numel())
        _check_length(string, bounds, "x".join(map(str, item.shape)))
        out.append(padded(string, item.numel()))
    return out
