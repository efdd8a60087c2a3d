"""Bounded zlib inflation: compressed data from a file or stream is never inflated past a stated size, so a
small hostile input (a "zip bomb") cannot take the machine's memory."""

from __future__ import annotations

import zlib


def inflate_bounded(data: bytes, max_bytes: int) -> bytes:
    """Inflate a whole zlib stream of at most ``max_bytes`` inflated bytes.

    Raises:
        ValueError: damaged data, a stream that would inflate past ``max_bytes``, or a truncated stream
            (the message says which).
    """
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, max_bytes)
    except zlib.error as exc:
        raise ValueError(f"damaged compressed data ({exc})") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"more than {max_bytes} bytes inflated")
    if not inflater.eof:
        raise ValueError("compressed data is truncated")
    return raw
