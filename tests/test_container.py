"""The .aec container: round trip and a clear error for every kind of damage."""

from __future__ import annotations

import struct
import zlib

import pytest

from aecodec import container
from aecodec.container import Header
from aecodec.errors import CorruptStreamError, UnsupportedVersionError

HEADER = Header("factorized", 3, 37, 23, "RGB", (2, 3), 64)
STRINGS = [b"\x01\x02\x03coded", b"alpha-plane"]


@pytest.fixture
def stream() -> bytes:
    return container.pack(HEADER, STRINGS)


def test_round_trip(stream):
    header, strings = container.unpack(stream)
    assert header == HEADER
    assert strings == STRINGS


def test_layout_starts_with_magic_and_version(stream):
    assert stream[:4] == b"\x89AEC"
    assert stream[4] == container.FORMAT_VERSION
    assert struct.unpack(">I", stream[-4:])[0] == zlib.crc32(stream[:-4])


def test_every_flipped_byte_is_caught(stream):
    for i in range(len(stream)):
        damaged = bytearray(stream)
        damaged[i] ^= 0x5A
        with pytest.raises(CorruptStreamError):
            container.unpack(bytes(damaged))


def test_every_truncation_is_caught(stream):
    for n in range(len(stream)):
        with pytest.raises(CorruptStreamError):
            container.unpack(stream[:n])


def test_trailing_bytes_are_caught(stream):
    with pytest.raises(CorruptStreamError):
        container.unpack(stream + b"\x00")


def test_wrong_magic_says_so(stream):
    with pytest.raises(CorruptStreamError, match="magic"):
        container.unpack(b"\x89PNG" + stream[4:])
    with pytest.raises(CorruptStreamError, match="magic"):
        container.unpack(b"")


def test_future_version_says_so(stream):
    future = bytearray(stream)
    future[4] = container.FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError, match=f"version {container.FORMAT_VERSION + 1}"):
        container.unpack(bytes(future))


def test_version_1_streams_are_refused_with_the_version_read(stream):
    # Version 1 coded the whole latent as one string and had no tile side: this reader cannot take it.
    old = bytearray(stream)
    old[4] = 1
    with pytest.raises(UnsupportedVersionError, match="version 1 .*reads versions 2, 3"):
        container.unpack(bytes(old))


def _with_field(stream: bytes, offset: int, raw: bytes) -> bytes:
    body = stream[:offset] + raw + stream[offset + len(raw) : -4]
    return body + struct.pack(">I", zlib.crc32(body))


TILE_AT = container.field_offsets(len("factorized"), 2)["tile"]


@pytest.mark.parametrize("tile", [0, container.MIN_TILE - 1, container.MAX_TILE + 1, 65535])
def test_tile_side_out_of_range_is_caught(stream, tile):
    assert container.unpack(_with_field(stream, TILE_AT, struct.pack(">H", 64)))[0].tile == 64
    with pytest.raises(CorruptStreamError, match="tile side"):
        container.unpack(_with_field(stream, TILE_AT, struct.pack(">H", tile)))


@pytest.mark.parametrize("count", [0, 3, 1 << 20, (1 << 32) - 1])
def test_string_count_the_stream_cannot_hold_is_caught(stream, count):
    with pytest.raises(CorruptStreamError, match="string count|truncated"):
        container.unpack(_with_field(stream, TILE_AT + 2, struct.pack(">I", count)))


def test_length_pointing_past_the_end_is_caught():
    body = container.pack(HEADER, [b"abc"])[:-4]
    # rewrite the last string's length to a huge value and fix the CRC so only the length is wrong
    length_at = len(body) - 3 - 4
    forged = body[:length_at] + struct.pack(">I", 2**31) + body[length_at + 4 :]
    with pytest.raises(CorruptStreamError, match="truncated"):
        container.unpack(forged + struct.pack(">I", zlib.crc32(forged)))


@pytest.mark.parametrize(
    "header",
    [
        Header("", 1, 1, 1, "RGB", (1, 1), 64),
        Header("factorized", 0, 1, 1, "RGB", (1, 1), 64),
        Header("factorized", 1, 0, 1, "RGB", (1, 1), 64),
        Header("factorized", 1, 1, 1, "CMYK", (1, 1), 64),
        Header("factorized", 1, 1, 1, "RGB", (), 64),
        Header("factorized", 1, 1, 1, "RGB", (1, 1), container.MIN_TILE - 1),
        Header("factorized", 1, 1, 1, "RGB", (1, 1), container.MAX_TILE + 1),
    ],
)
def test_pack_refuses_invalid_headers(header):
    with pytest.raises(ValueError):
        container.pack(header, [b"x"])


def test_the_longest_header_fits_in_max_header_bytes():
    longest = Header("m" * container.MAX_MODEL_ID_LENGTH, 1, 16, 16, "RGB", (1,) * container.MAX_LATENT_DIMS, 8)
    data = container.pack(longest, [b"x"])
    assert container.peek_header(data[: container.MAX_HEADER_BYTES]) == longest
    with pytest.raises(CorruptStreamError):
        container.peek_header(data[: container.MAX_HEADER_BYTES - 1])
