"""The .aec container: round trip and a clear error for every kind of damage."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest

from aecodec import container
from aecodec.container import AdapterRef, Header, TileLayout
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
    future[4] = max(container.QUALITY_FIELDS) + 1
    with pytest.raises(UnsupportedVersionError, match=f"version {max(container.QUALITY_FIELDS) + 1}"):
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
COUNT_AT = container.field_offsets(len("factorized"), 2)["count"]


@pytest.mark.parametrize("tile", [0, container.MIN_TILE - 1, container.MAX_TILE + 1, 65535])
def test_tile_side_out_of_range_is_caught(stream, tile):
    assert container.unpack(_with_field(stream, TILE_AT, struct.pack(">H", 64)))[0].tile == 64
    with pytest.raises(CorruptStreamError, match="tile side"):
        container.unpack(_with_field(stream, TILE_AT, struct.pack(">H", tile)))


@pytest.mark.parametrize("count", [0, 3, 1 << 20, (1 << 32) - 1])
def test_string_count_the_stream_cannot_hold_is_caught(stream, count):
    with pytest.raises(CorruptStreamError, match="string count|truncated"):
        container.unpack(_with_field(stream, COUNT_AT, struct.pack(">I", count)))


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
    adapter = AdapterRef("a" * container.MAX_ADAPTER_NAME_LENGTH, "0" * 64)
    longest = Header("m" * container.MAX_MODEL_ID_LENGTH, 1, 16, 16, "RGB", (1,) * container.MAX_LATENT_DIMS, 8,
                     adapter)  # fmt: skip
    data = container.pack(longest, [b"x"])
    assert container.peek_header(data[: container.MAX_HEADER_BYTES]) == longest
    with pytest.raises(CorruptStreamError):
        container.peek_header(data[: container.MAX_HEADER_BYTES - 1])


ADAPTED = Header("hyperprior-vr2", 3.5, 40, 30, "RGB", (4, 4), 64, AdapterRef("charts", "ab" * 32))


def test_a_stream_with_an_adapter_names_it_and_round_trips():
    data = container.pack(ADAPTED, STRINGS)
    assert data[4] == container.FORMAT_VERSION == 6
    assert container.unpack(data) == (ADAPTED, STRINGS)
    assert container.peek_header(data).adapter == AdapterRef("charts", "ab" * 32)
    assert ADAPTED.to_dict()["adapter"] == {"name": "charts", "sha256": "ab" * 32}
    at = container.field_offsets(len(ADAPTED.model_id), 2, len("charts"))
    assert data[at["adapter_name"] : at["adapter_sha256"]] == b"charts"
    assert struct.unpack(">I", data[at["count"] : at["count"] + 4])[0] == len(STRINGS)
    # without an adapter the field is one byte, a name of length 0
    plain = container.pack(replace(ADAPTED, adapter=None), STRINGS)
    assert plain[4] == container.FORMAT_VERSION
    assert plain[container.field_offsets(len(ADAPTED.model_id), 2)["adapter_len"]] == 0
    assert container.unpack(plain) == (replace(ADAPTED, adapter=None), STRINGS)
    assert len(data) == len(plain) + len("charts") + 32


def test_every_damage_to_a_stream_with_an_adapter_is_caught():
    data = container.pack(ADAPTED, STRINGS)
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= 0x5A
        with pytest.raises(CorruptStreamError):
            container.unpack(bytes(damaged))
    for n in range(len(data)):
        with pytest.raises(CorruptStreamError):
            container.unpack(data[:n])


def test_a_bad_adapter_name_length_says_so():
    data = bytearray(container.pack(ADAPTED, STRINGS))
    at = container.field_offsets(len(ADAPTED.model_id), 2, len("charts"))["adapter_len"]
    data[at] = 65
    with pytest.raises(CorruptStreamError, match="adapter name length 65"):
        container.peek_header(container.seal(bytes(data[:-4])))
    data[at] = 0  # a valid header that needs no adapter, followed by bytes that are no string count
    with pytest.raises(CorruptStreamError, match="string count|truncated"):
        container.unpack(container.seal(bytes(data[:-4])))


def test_streams_of_versions_3_and_4_keep_their_layout_and_version():
    """Version 3 had no adapter field; version 4 had it only with an adapter: both read as before."""
    for version, header in [(3, replace(ADAPTED, adapter=None)), (4, ADAPTED)]:
        old = replace(header, version=version)
        read, strings = container.unpack(container.write_unchecked(old, STRINGS))
        assert (read, strings) == (old, STRINGS) and read.tile_layout is TileLayout.EVERY_ELEMENT
    assert replace(ADAPTED, version=5).tile_layout is TileLayout.SKIP_FLOOR
    assert Header("m", 1, 1, 1, "RGB", (1, 1), 64).tile_layout is TileLayout.GROUPED
    with pytest.raises(ValueError, match="writes format version 6 only"):
        container.pack(replace(ADAPTED, version=4), STRINGS)


@pytest.mark.parametrize("adapter", [AdapterRef("", "ab" * 32), AdapterRef("caf\u00e9", "ab" * 32),
                                     AdapterRef("x" * 65, "ab" * 32), AdapterRef("charts", "AB" * 32),
                                     AdapterRef("charts", "ab" * 31)])  # fmt: skip
def test_pack_refuses_invalid_adapter_fields(adapter):
    with pytest.raises(ValueError, match="adapter"):
        container.pack(replace(ADAPTED, adapter=adapter), STRINGS)
