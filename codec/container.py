"""The .aec file format: one header, the entropy-coded strings, a CRC32.

Layout (all integers big-endian; see docs/format.md)::

    offset  size  field
    0       4     magic b"\\x89AEC"
    4       1     format version (6)
    5       1     n = length of the model id
    6       n     model id, ASCII (e.g. b"hyperprior")
    6+n     2     quality * 64 (u16: 64..512; a ladder model's are whole levels, 64 * 1..8)
    8+n     4     original image width in pixels
    12+n    4     original image height in pixels
    16+n    1     colour mode: 1 = L, 2 = LA, 3 = RGB, 4 = RGBA
    17+n    1     k = number of latent dimensions
    18+n    4k    latent shape (u32 each)
    18+n+4k 2     t = tile side in latent positions (u16): the latent is coded tile by tile
    20+n+4k 1     a = length of the decoder-side adapter's name (0: the stream needs none)
    ...     a+32  (a > 0 only) the adapter's name (ASCII), its sha256 (32 bytes)
    ...     4     s = number of strings (u32)
    ...           s times: u32 length, then that many bytes
    end-4   4     CRC32 of every byte before it

Since version 6 a hyperprior's tile strings hold their symbols grouped by CDF table, coded with constriction's ANS
coder (:mod:`aecodec.grouped_coding`); since version 5 they leave out the latent elements whose scale sits at the
table's floor (:mod:`aecodec.latent_coding`), and the adapter field is always there. Earlier versions, all still
read:

* version 2 (aecodec 0.1): the quality is one byte, the whole level; no adapter field;
* version 3: no adapter field;
* version 4: the adapter field, written only for a stream that needs an adapter (a > 0);
* version 5: tile strings coded symbol by symbol with CompressAI's rANS coder, floor elements left out.

``unpack`` checks every field, every length and the checksum before any byte reaches the entropy decoder,
and raises :class:`CorruptStreamError` (or :class:`UnsupportedVersionError`) saying what is wrong.
"""

from __future__ import annotations

import struct
import zlib
import enum
from dataclasses import dataclass

from .config import MAX_QUALITY, MIN_QUALITY, QUALITY_STEPS, exact_quality
from .errors import CorruptStreamError, UnsupportedVersionError

MAGIC = b"\x89AEC"
#: The version this aecodec writes.
FORMAT_VERSION = 6
#: The version that introduced the adapter field (written then only for streams that need an adapter).
ADAPTER_FORMAT_VERSION = 4
#: The first version whose tile strings skip the latent elements at the scale table's floor.
FLOOR_SKIPPING_VERSION = 5
#: The first version whose tile strings group their symbols by CDF table (constriction's ANS coder).
GROUPED_CODING_VERSION = 6
#: Versions this aecodec reads, and the struct of each one's quality field (in units of 1 / its scale).
QUALITY_FIELDS = {2: (">B", 1), **{v: (">H", QUALITY_STEPS) for v in range(3, FORMAT_VERSION + 1)}}


class TileLayout(enum.Enum):
    """How a hyperprior's tile strings are coded, by format version (:mod:`aecodec.latent_coding`)."""

    EVERY_ELEMENT = "CompressAI's rANS, every latent element in raster order"  # versions 2-4
    SKIP_FLOOR = "CompressAI's rANS, the elements at the scale table's floor left out"  # version 5
    GROUPED = "constriction's ANS, symbols grouped by CDF table, the floor left out"  # version 6 on

MODE_CODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
MODES_BY_CODE = {code: mode for mode, code in MODE_CODES.items()}

MAX_MODEL_ID_LENGTH = 64
MAX_DIMENSION = 1 << 20  # a side longer than a million pixels is never a real photo
MAX_LATENT_DIMS = 8
MAX_ADAPTER_NAME_LENGTH = 64
SHA256_BYTES = 32
#: Largest tile side a stream may declare: a decoder holds one tile's symbols at a time, so this bounds its
#: memory (a 256 x 256 tile of 192 channels is 12.6 M symbols).
MAX_TILE = 256
#: Smallest tile side: with it the largest image still has a bounded number of tiles to decode one by one.
MIN_TILE = 8
#: Enough strings for the tiles of the largest image at the smallest tile, and an alpha plane.
MAX_STRINGS = (MAX_DIMENSION // (16 * MIN_TILE)) ** 2 + 1
#: The longest header (everything :func:`peek_header` reads): what a reader of headers alone needs at most.
MAX_HEADER_BYTES = (
    len(MAGIC) + struct.calcsize(">BB") + MAX_MODEL_ID_LENGTH + struct.calcsize(">HIIBB")
    + struct.calcsize(f">{MAX_LATENT_DIMS}I") + struct.calcsize(">H") + 1 + MAX_ADAPTER_NAME_LENGTH + SHA256_BYTES
)  # fmt: skip


@dataclass(frozen=True)
class AdapterRef:
    """The decoder-side adapter a stream was coded with: its name and the sha256 (hex) of its content, so that
    a decoder can load it and refuse any other."""

    name: str
    sha256: str

    @property
    def short(self) -> str:
        """How messages name it: the name and the first 12 hex digits of the hash."""
        return f"{self.name!r} (sha256 {self.sha256[:12]}...)"



@dataclass(frozen=True)
class Header:
    """Everything in an .aec file except the coded strings.

    Args:
        model_id: the model family that wrote the file (e.g. "factorized").
        quality: quality 1..8, a multiple of 1 / QUALITY_STEPS (whole levels for a ladder model).
        width, height: size of the original image in pixels.
        mode: colour mode of the original ("L", "LA", "RGB" or "RGBA").
        latent_shape: shape of the coded latent (height, width for the factorized model).
        tile: side, in latent positions, of the square tiles the latent is coded in (one string each, in
            raster order); an image whose latent fits in one tile has a single string.
        adapter: the decoder-side adapter decoding needs, or None.
        version: the format version the stream is (to be) written in; a read header keeps its stream's.
    """

    model_id: str
    quality: int | float
    width: int
    height: int
    mode: str
    latent_shape: tuple[int, ...]
    tile: int
    adapter: AdapterRef | None = None
    version: int = FORMAT_VERSION

    @property
    def tile_layout(self) -> TileLayout:
        """How the stream's tile strings are coded."""
        if self.version >= GROUPED_CODING_VERSION:
            return TileLayout.GROUPED
        return TileLayout.SKIP_FLOOR if self.version >= FLOOR_SKIPPING_VERSION else TileLayout.EVERY_ELEMENT

    @property
    def has_adapter_field(self) -> bool:
        """Whether the layout holds the adapter field (always since version 5; in version 4, with an adapter)."""
        with_one = self.version == ADAPTER_FORMAT_VERSION and self.adapter is not None
        return self.version > ADAPTER_FORMAT_VERSION or with_one

    def to_dict(self) -> dict:
        adapter = {} if self.adapter is None else {"adapter": vars(self.adapter).copy()}
        return {
            "format_version": self.version,
            "model_id": self.model_id,
            "quality": self.quality,
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "latent_shape": list(self.latent_shape),
            "tile": self.tile,
            **adapter,
        }


def field_offsets(model_id_length: int, latent_rank: int, adapter_name_length: int = 0) -> dict[str, int]:
    """Byte offset of each header field of a stream of the current version (the table in this module's
    docstring) given its adapter's name length (0: none), for tools that edit streams in place (the fuzzing
    harness, tests)."""
    n, k, a = model_id_length, latent_rank, adapter_name_length
    offsets = {"version": 4, "id_len": 5, "model_id": 6, "quality": 6 + n, "width": 8 + n, "height": 12 + n,
               "mode": 16 + n, "ndim": 17 + n, "shape": 18 + n, "tile": 18 + n + 4 * k,
               "adapter_len": 20 + n + 4 * k, "count": 21 + n + 4 * k}  # fmt: skip
    if a:
        offsets.update(adapter_name=21 + n + 4 * k, adapter_sha256=21 + n + 4 * k + a,
                       count=21 + n + 4 * k + a + SHA256_BYTES)  # fmt: skip
    return offsets


def _printable_ascii(raw: bytes) -> bool:
    return raw.isascii() and raw.decode("ascii").isprintable()


def _check_header(header: Header) -> None:
    if not header.model_id or len(header.model_id) > MAX_MODEL_ID_LENGTH or not header.model_id.isascii():
        raise ValueError(f"model id must be 1..{MAX_MODEL_ID_LENGTH} ASCII characters, got {header.model_id!r}")
    if not (MIN_QUALITY <= header.quality <= MAX_QUALITY and exact_quality(header.quality) == header.quality):
        raise ValueError(
            f"quality must be a multiple of 1/{QUALITY_STEPS} in {MIN_QUALITY}..{MAX_QUALITY}, got {header.quality}"
        )
    if not (1 <= header.width <= MAX_DIMENSION and 1 <= header.height <= MAX_DIMENSION):
        raise ValueError(f"image size out of range: {header.width}x{header.height}")
    if header.mode not in MODE_CODES:
        raise ValueError(f"unsupported colour mode {header.mode!r}")
    if not 1 <= len(header.latent_shape) <= MAX_LATENT_DIMS:
        raise ValueError(f"latent shape must have 1..{MAX_LATENT_DIMS} dimensions")
    if not MIN_TILE <= header.tile <= MAX_TILE:
        raise ValueError(f"tile side must be {MIN_TILE}..{MAX_TILE}, got {header.tile}")
    if header.version != FORMAT_VERSION:  # an older layout would not say how its strings were coded
        raise ValueError(f"this aecodec writes format version {FORMAT_VERSION} only, got {header.version}")
    if header.adapter is not None:
        name, digest = header.adapter.name, header.adapter.sha256
        if not 1 <= len(name) <= MAX_ADAPTER_NAME_LENGTH or not _printable_ascii(name.encode("utf-8")):
            raise ValueError(
                f"adapter name must be 1..{MAX_ADAPTER_NAME_LENGTH} printable ASCII characters, got {name!r}"
            )
        if len(digest) != 2 * SHA256_BYTES or digest.strip("0123456789abcdef"):
            raise ValueError(f"adapter sha256 must be {2 * SHA256_BYTES} lowercase hex digits, got {digest!r}")


def pack(header: Header, strings: list[bytes]) -> bytes:
    """Serialise a header and its coded strings into the bytes of an .aec file.

    Raises:
        ValueError: a header field out of its range, or no strings / too many.
    """
    _check_header(header)
    if not 1 <= len(strings) <= MAX_STRINGS:
        raise ValueError(f"need 1..{MAX_STRINGS} strings, got {len(strings)}")
    return write_unchecked(header, strings)


def write_unchecked(header: Header, strings: list[bytes]) -> bytes:
    """The byte layout of an .aec file, with no range checks: :func:`pack` checks first; the fuzzing harness
    builds hostile streams (any field value a struct can hold) with it, so there is one writer of the layout."""
    model_id = header.model_id.encode("ascii")
    parts = [
        MAGIC,
        struct.pack(">BB", header.version, len(model_id)),
        model_id,
        struct.pack(">H", round(header.quality * QUALITY_STEPS)),
        struct.pack(">IIBB", header.width, header.height, MODE_CODES[header.mode], len(header.latent_shape)),
        struct.pack(f">{len(header.latent_shape)}I", *header.latent_shape),
        struct.pack(">H", header.tile),
    ]
    if header.has_adapter_field:
        name = b"" if header.adapter is None else header.adapter.name.encode("ascii")
        parts.append(struct.pack(">B", len(name)))
        if name:
            parts += [name, bytes.fromhex(header.adapter.sha256)]
    parts.append(struct.pack(">I", len(strings)))
    for s in strings:
        parts += [struct.pack(">I", len(s)), bytes(s)]
    return seal(b"".join(parts))


def seal(body: bytes) -> bytes:
    """``body`` followed by its CRC32, the last field of every stream."""
    return body + struct.pack(">I", zlib.crc32(body))


class _Reader:
    """Bounds-checked cursor over the body of a stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n > len(self.data) - self.pos:
            raise CorruptStreamError(
                f"truncated stream: {what} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def peek_header(data: bytes) -> Header:
    """Parse and validate the header alone, without reading the strings or the checksum: cheap, for choosing
    the model that decodes a stream (which :func:`unpack` then validates whole) or showing its size."""
    return _read_header(data)[0]


def _read_header(data: bytes) -> tuple[Header, _Reader]:
    """Parse and validate the header; the reader is left at the string count."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise CorruptStreamError("not an .aec stream (wrong magic bytes)")
    reader = _Reader(data)
    reader.take(len(MAGIC), "magic")
    (version,) = reader.unpack(">B", "format version")
    if version not in QUALITY_FIELDS:
        readable = ", ".join(map(str, QUALITY_FIELDS))
        raise UnsupportedVersionError(
            f"unsupported .aec format version {version} (this aecodec reads versions {readable})"
        )
    model_id = _read_name(reader, "model id", MAX_MODEL_ID_LENGTH)
    quality_format, scale = QUALITY_FIELDS[version]
    (quality_units,) = reader.unpack(quality_format, "quality")
    if not MIN_QUALITY * scale <= quality_units <= MAX_QUALITY * scale:
        raise CorruptStreamError(f"invalid quality {quality_units / scale:g}")
    quality = exact_quality(quality_units / scale)  # exact: QUALITY_STEPS is a power of two
    width, height, mode_code, ndim = reader.unpack(">IIBB", "image header")
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise CorruptStreamError(f"invalid image size {width}x{height}")
    if mode_code not in MODES_BY_CODE:
        raise CorruptStreamError(f"invalid colour mode code {mode_code}")
    if not 1 <= ndim <= MAX_LATENT_DIMS:
        raise CorruptStreamError(f"invalid latent rank {ndim}")
    latent_shape = reader.unpack(f">{ndim}I", "latent shape")
    (tile,) = reader.unpack(">H", "tile side")
    if not MIN_TILE <= tile <= MAX_TILE:
        raise CorruptStreamError(f"invalid tile side {tile} ({MIN_TILE}..{MAX_TILE})")
    adapter = _read_adapter(reader, version)
    mode = MODES_BY_CODE[mode_code]
    header = Header(model_id, quality, width, height, mode, tuple(latent_shape), tile, adapter, version)
    return header, reader


def _read_adapter(reader: _Reader, version: int) -> AdapterRef | None:
    """The adapter field, if the version has one: in version 4 always a name (only streams that need an adapter
    had the field); since version 5 a name of length 0 says the stream needs none."""
    if version < ADAPTER_FORMAT_VERSION:
        return None
    name = _read_name(reader, "adapter name", MAX_ADAPTER_NAME_LENGTH, empty_ok=version > ADAPTER_FORMAT_VERSION)
    return AdapterRef(name, reader.take(SHA256_BYTES, "adapter sha256").hex()) if name else None


def _read_name(reader: _Reader, what: str, max_length: int, empty_ok: bool = False) -> str:
    """A one-byte length, then that many printable ASCII bytes (the model id, an adapter's name)."""
    (length,) = reader.unpack(">B", f"{what} length")
    if not (0 if empty_ok else 1) <= length <= max_length:
        raise CorruptStreamError(f"invalid {what} length {length}")
    raw = reader.take(length, what)
    if not _printable_ascii(raw):
        raise CorruptStreamError(f"{what} is not printable ASCII")
    return raw.decode("ascii")


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parse and validate an .aec stream.

    Returns:
        The header and the list of coded strings.

    Raises:
        CorruptStreamError: wrong magic, bad field, truncation, trailing bytes or CRC mismatch.
        UnsupportedVersionError: a format version this aecodec does not read.
    """
    header, reader = _read_header(data)
    body_end = len(reader.data) - 4
    if body_end < reader.pos:
        raise CorruptStreamError("truncated stream: missing strings and checksum")
    (stored_crc,) = struct.unpack(">I", reader.data[body_end:])
    reader.data = reader.data[:body_end]
    (count,) = reader.unpack(">I", "string count")
    # Each string takes at least its 4-byte length: a count the file cannot hold is refused before the loop.
    if not 1 <= count <= min(MAX_STRINGS, (body_end - reader.pos) // 4):
        raise CorruptStreamError(f"invalid string count {count} for a stream of {len(data)} bytes")
    strings = []
    for i in range(count):
        (length,) = reader.unpack(">I", f"length of string {i}")
        strings.append(reader.take(length, f"string {i}"))
    if reader.pos != body_end:
        raise CorruptStreamError(f"{body_end - reader.pos} unexpected bytes after the last string")
    if zlib.crc32(reader.data) != stored_crc:
        raise CorruptStreamError("checksum mismatch: the stream is damaged")
    return header, strings
