"""Fuzzing the decoder with hostile and damaged .aec streams.

A seeded generator mutates one valid stream (bit flips, byte edits, truncation at every offset, random
headers, huge or zero image sizes, absurd latent shapes, lengths pointing past the end, garbage coded strings
behind a valid header, ...). Many of the mutations are re-sealed with a correct CRC32, so they get past
the checksum and reach the deeper validation and the entropy decoder.

:func:`run_fuzz` decodes every mutated stream with a real model and sorts the outcomes: decoded to an image of
the declared size and mode, refused with an :class:`~aecodec.errors.AECodecError`, or anything else
(``UNEXPECTED``: another exception, or an image that does not match its header). A crash of the process or a
hang cannot be classified from inside: run the command, which names each case it starts when asked
(``--verbose``) and prints a traceback on a fatal signal::

    python tests/fuzz.py --cases 10000 --seed 0

It exits 1 when any outcome is UNEXPECTED.
"""

from __future__ import annotations

import random
import resource
import struct
import time
import traceback
import zlib
from collections import Counter
import dataclasses
from dataclasses import dataclass, field

import aecodec
from aecodec import container, zoo
from aecodec.errors import AECodecError

UNEXPECTED = "UNEXPECTED"
DECODED = "decoded"

# Values that sit on the edges of the fields' ranges.
_U32_EDGES = (0, 1, 2, 15, 16, 17, 255, 256, 4095, 65535, 65536, 1 << 20, (1 << 20) + 1, 1 << 24, 1 << 31,
              (1 << 32) - 1)  # fmt: skip
_BYTE_EDGES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


# -- stream layout -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Offsets of the fields of a valid stream (see docs/format.md)."""

    id_len: int
    quality: int
    width: int
    height: int
    mode: int
    ndim: int
    shape: int
    tile: int
    count: int
    strings: tuple[tuple[int, int], ...]  # (offset of the u32 length, length) per string
    crc: int


def layout(data: bytes) -> Layout:
    """Field offsets of a valid stream (raises CorruptStreamError on an invalid one)."""
    header, strings = container.unpack(data)
    adapter_name = len(header.adapter.name) if header.adapter is not None else 0
    at = container.field_offsets(len(header.model_id), len(header.latent_shape), adapter_name)
    pos, found = at["count"] + 4, []
    for s in strings:
        found.append((pos, len(s)))
        pos += 4 + len(s)
    fields = ("id_len", "quality", "width", "height", "mode", "ndim", "shape", "tile", "count")
    return Layout(*(at[f] for f in fields), tuple(found), len(data) - 4)


def reseal(data: bytes) -> bytes:
    """Replace the last 4 bytes with the CRC32 of everything before them, as a valid writer would."""
    return data if len(data) < 4 else container.seal(data[:-4])


def _put(data: bytes, offset: int, raw: bytes) -> bytes:
    return data[:offset] + raw + data[offset + len(raw) :]


def _repack(header: container.Header, strings: list[bytes], width=None, height=None, shape=None, tile=None) -> bytes:
    """A well-formed stream (valid CRC) around any header values, bypassing pack()'s checks."""
    changes = {"width": width, "height": height, "latent_shape": shape, "tile": tile}
    header = dataclasses.replace(header, **{k: v for k, v in changes.items() if v is not None})
    return container.write_unchecked(header, strings)


def _random_bytes(rng: random.Random, n: int) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return bytes([0xFF]) * n
    if kind == 1:
        return bytes(n)
    return rng.randbytes(n)


# -- mutators: each returns mutated bytes, and whether the result should be re-sealed ----------------------


def _bit_flips(rng, data, lay):
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out), rng.random() < 0.5


def _byte_edits(rng, data, lay):
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice(_BYTE_EDGES) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(out), rng.random() < 0.5


def _insert_delete(rng, data, lay):
    i = rng.randrange(len(data))
    if rng.random() < 0.5:
        return data[:i] + data[i + rng.randint(1, 8) :], rng.random() < 0.5
    return data[:i] + _random_bytes(rng, rng.randint(1, 16)) + data[i:], rng.random() < 0.5


def _append(rng, data, lay):
    return data + _random_bytes(rng, rng.randint(1, 64)), rng.random() < 0.5


def _truncate(rng, data, lay):
    return data[: rng.randrange(len(data))], rng.random() < 0.5


def _random_header(rng, data, lay):
    # Keep the magic (else every case stops at it); random bytes up to the string count.
    version = rng.choice([bytes([container.FORMAT_VERSION]), b""])
    head = container.MAGIC + version + rng.randbytes(rng.randint(0, lay.count + 8))
    return head + data[lay.count :], rng.random() < 0.7


def _random_stream(rng, data, lay):
    return container.MAGIC + bytes([container.FORMAT_VERSION]) + rng.randbytes(rng.randint(0, 200)), rng.random() < 0.7


def _image_size(rng, data, lay):
    header, strings = container.unpack(data)
    width = rng.choice(_U32_EDGES) if rng.random() < 0.7 else rng.randrange(1 << 32)
    height = rng.choice(_U32_EDGES) if rng.random() < 0.7 else rng.randrange(1 << 32)
    if rng.random() < 0.5 and 1 <= width <= container.MAX_DIMENSION and 1 <= height <= container.MAX_DIMENSION:
        # Make the latent shape agree, so the size itself must be refused (or decoded).
        return _repack(header, strings, width, height, (-(-height // 16), -(-width // 16))), False
    return _put(_put(data, lay.width, struct.pack(">I", width)), lay.height, struct.pack(">I", height)), True


def _latent_shape(rng, data, lay):
    header, strings = container.unpack(data)
    ndim = rng.choice([0, 1, 2, 2, 2, 3, 4, 8, 9, 255])
    values = tuple(rng.choice(_U32_EDGES) if rng.random() < 0.8 else rng.randrange(1 << 32) for _ in range(ndim))
    return _repack(header, strings, shape=values), rng.random() < 0.2


def _string_length(rng, data, lay):
    at, length = rng.choice(lay.strings)
    value = rng.choice([0, 1, length - 1, length + 1, length + 4, len(data), 1 << 31, (1 << 32) - 1,
                        rng.randrange(1 << 32)])  # fmt: skip
    return _put(data, at, struct.pack(">I", max(0, value))), rng.random() < 0.8


def _string_count(rng, data, lay):
    value = rng.choice([0, 1, 2, 3, 16, 255, 1 << 16, container.MAX_STRINGS, container.MAX_STRINGS + 1,
                        (1 << 32) - 1])  # fmt: skip
    return _put(data, lay.count, struct.pack(">I", value)), rng.random() < 0.8


def _tile_side(rng, data, lay):
    """Another tile side, with the strings as they are or cut into as many pieces as the new grid has tiles."""
    header, strings = container.unpack(data)
    tile = rng.choice([0, 1, container.MIN_TILE - 1, container.MIN_TILE, 9, 16, container.MAX_TILE,
                       container.MAX_TILE + 1, 65535])  # fmt: skip
    if rng.random() < 0.5 or tile == 0:
        return _put(data, lay.tile, struct.pack(">H", tile)), rng.random() < 0.8
    height, width = (header.latent_shape + (1, 1))[:2]
    tiles = -(-height // tile) * -(-width // tile)
    coded, rest = strings[0], strings[1:]
    step = max(4, len(coded) // max(1, tiles)) & ~3
    pieces = [coded[i * step : (i + 1) * step] for i in range(min(tiles, 4096))]
    return _repack(header, [*pieces, *rest], tile=tile), False


def _many_tiles(rng, data, lay):
    """A valid header declaring an image of several tiles, with one string per tile: garbage, or copies of
    the real coded string (valid for its own tile size only when the shapes agree)."""
    header, strings = container.unpack(data)
    width, height = rng.choice([(300, 200), (129, 129), (1024, 16), (16, 2000), (2048, 2048)])
    tile = rng.choice([container.MIN_TILE, 9, 16, 64])
    shape = (-(-height // 16), -(-width // 16))
    tiles = -(-shape[0] // tile) * -(-shape[1] // tile)
    if rng.random() < 0.5:
        coded = [strings[0]] * tiles
    else:
        coded = [_random_bytes(rng, rng.choice([8, 64, 1024])) for _ in range(tiles)]
    alpha = [zlib.compress(bytes(width * height))] if len(strings) > 1 else []
    return _repack(header, [*coded, *alpha], width, height, shape, tile), False


def _small_fields(rng, data, lay):
    field_at = rng.choice([4, lay.id_len, lay.quality, lay.mode, lay.ndim])
    value = rng.choice(_BYTE_EDGES + (1, 2, 3, 4, 5, 8, 9, 64, 65))
    return _put(data, field_at, bytes([value])), rng.random() < 0.8


def _model_id(rng, data, lay):
    header, strings = container.unpack(data)
    alphabet = [b"factorized", b"Factorized", b"hyperprior", b"", b"x" * 64, b"\x00\x01", b"factorized\n"]
    raw = rng.choice(alphabet)
    body = data[:5] + bytes([len(raw) & 0xFF]) + raw + data[lay.quality :]
    return body, rng.random() < 0.8


def _garbage_coded_string(rng, data, lay):
    """A valid header and CRC around a coded string of garbage: straight into the entropy decoder."""
    header, strings = container.unpack(data)
    n = len(strings[0])
    length = rng.choice([0, 1, 4, 7, 8, 12, n - 4, n, n + 4, 2 * n, 8 * n, rng.randrange(4 * n + 8)])
    if rng.random() < 0.5:
        length -= length % 4
    return _repack(header, [_random_bytes(rng, max(0, length)), *strings[1:]]), False


def _garbage_alpha(rng, data, lay):
    header, strings = container.unpack(data)
    if len(strings) < 2:
        return _garbage_coded_string(rng, data, lay)
    pixels = header.width * header.height
    kind = rng.randrange(5)
    if kind == 0:
        alpha = _random_bytes(rng, rng.randrange(64))
    elif kind == 1:
        alpha = zlib.compress(bytes(pixels + rng.choice([-1, 1, 1000])))
    elif kind == 2:
        alpha = zlib.compress(bytes(20_000_000), 1)  # a zip bomb: 20 MB of zeros in ~90 kB
    elif kind == 3:
        alpha = zlib.compress(bytes(pixels))[:-3]
    else:
        alpha = zlib.compress(bytes(pixels)) + b"tail"
    return _repack(header, [*strings[:-1], alpha]), False


def _big_consistent_image(rng, data, lay):
    """A valid header declaring a larger image (latent shape agrees) around a short or garbage string."""
    header, strings = container.unpack(data)
    width, height = rng.choice([(256, 256), (512, 300), (4096, 4096), (6000, 6000), (7000, 7000), (1 << 20, 1)])
    length = rng.choice([4, 8, 64, 1024, 20_000])
    # An alpha plane of the declared size (when small), so the garbage reaches the entropy decoder.
    alpha = [zlib.compress(bytes(width * height))] if len(strings) > 1 and width * height <= 1 << 20 else strings[1:]
    return _repack(
        header, [_random_bytes(rng, length), *alpha], width, height, (-(-height // 16), -(-width // 16))
    ), False


MUTATORS = {
    "bit_flips": _bit_flips,
    "byte_edits": _byte_edits,
    "insert_delete": _insert_delete,
    "append": _append,
    "truncate": _truncate,
    "random_header": _random_header,
    "random_stream": _random_stream,
    "image_size": _image_size,
    "latent_shape": _latent_shape,
    "string_length": _string_length,
    "string_count": _string_count,
    "tile_side": _tile_side,
    "many_tiles": _many_tiles,
    "small_fields": _small_fields,
    "model_id": _model_id,
    "garbage_coded_string": _garbage_coded_string,
    "garbage_alpha": _garbage_alpha,
    "big_consistent_image": _big_consistent_image,
}


def mutations(data: bytes, cases: int, seed: int) -> list[tuple[str, bytes]]:
    """``cases`` (name, stream) pairs from one valid stream, the same for the same seed.

    Every other case truncates the stream at the next offset (as cut, then re-sealed) until every offset
    was tried; the others are random mutations, each named after its mutator (``+crc`` when its CRC was
    recomputed).
    """
    lay = layout(data)
    cuts = []
    for n in reversed(range(len(data))):  # reversed: pop() takes them from offset 0 up
        cuts += [(f"truncate@{n}+crc", reseal(data[:n])), (f"truncate@{n}", data[:n])]
    rng = random.Random(seed)
    names = sorted(MUTATORS)
    out: list[tuple[str, bytes]] = []
    while len(out) < cases:
        if len(out) % 2 and cuts:
            out.append(cuts.pop())
            continue
        name = rng.choice(names)
        mutated, sealed = MUTATORS[name](rng, data, lay)
        out.append((f"{name}+crc" if sealed else name, reseal(mutated) if sealed else mutated))
    return out


# -- running -----------------------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    """What happened to each mutated stream.

    Attributes:
        cases: number of streams decoded.
        crc_valid: how many of them carried a correct CRC32 (so their damage met the deeper checks).
        outcomes: count per outcome: "decoded", the name of the AECodecError subclass raised, or UNEXPECTED.
        unexpected: (case index, case name, what happened) for every UNEXPECTED outcome.
        by_mutator: count per (mutator, outcome).
        slowest_seconds, slowest_case: the longest single decode.
        peak_rss_mb: peak resident memory of the process (resource.getrusage), model and all.
        start_rss_mb: the same, measured before the first case.
    """

    cases: int = 0
    crc_valid: int = 0
    outcomes: Counter = field(default_factory=Counter)
    unexpected: list[tuple[int, str, str]] = field(default_factory=list)
    by_mutator: Counter = field(default_factory=Counter)
    slowest_seconds: float = 0.0
    slowest_case: str = ""
    peak_rss_mb: float = 0.0
    start_rss_mb: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.unexpected

    def lines(self) -> list[str]:
        out = [f"cases: {self.cases} ({self.crc_valid} with a valid CRC32)", "outcomes:"]
        out += [f"  {kind}: {n}" for kind, n in sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append(f"  {UNEXPECTED}: {self.outcomes.get(UNEXPECTED, 0)}")
        out.append(f"slowest case: {self.slowest_seconds:.3f} s ({self.slowest_case})")
        out.append(f"peak RSS: {self.peak_rss_mb:.1f} MB (before the first case: {self.start_rss_mb:.1f} MB)")
        out += [f"UNEXPECTED #{i} {name}: {what}" for i, name, what in self.unexpected]
        return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def classify(model, data: bytes) -> tuple[str, str]:
    """Decode one stream with ``model`` (an ImageCodec): (outcome, detail)."""
    try:
        image = model.decompress(data)
    except AECodecError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001 - anything else is what the fuzzer looks for
        return UNEXPECTED, "".join(traceback.format_exception_only(type(exc), exc)).strip()
    # It decoded: the stream was valid, so the image must be what the header says.
    header, _ = container.unpack(data)
    if image.size != (header.width, header.height) or image.mode != header.mode:
        declared = f"{header.width}x{header.height} {header.mode}"
        return UNEXPECTED, f"decoded {image.width}x{image.height} {image.mode}, header says {declared}"
    return DECODED, ""


def run_fuzz(data: bytes, model, cases: int, seed: int, on_case=None) -> FuzzReport:
    """Decode ``cases`` mutations of the valid stream ``data`` with ``model`` and report the outcomes.

    Args:
        data: a valid .aec stream written by ``model``.
        model: an :class:`~aecodec.api.ImageCodec` (the real decoder, real entropy coding).
        cases: how many mutated streams to try.
        seed: seed of the mutations (same seed, same streams).
        on_case: optional callback(index, name) called before each decode (progress, crash forensics).
    """
    report = FuzzReport(start_rss_mb=_peak_rss_mb())
    for index, (name, mutated) in enumerate(mutations(data, cases, seed)):
        if on_case is not None:
            on_case(index, name)
        start = time.perf_counter()
        outcome, detail = classify(model, mutated)
        seconds = time.perf_counter() - start
        report.cases += 1
        report.crc_valid += len(mutated) >= 4 and zlib.crc32(mutated[:-4]) == int.from_bytes(mutated[-4:], "big")
        report.outcomes[outcome] += 1
        report.by_mutator[(name.split("@")[0].removesuffix("+crc"), outcome)] += 1
        if outcome == UNEXPECTED:
            report.unexpected.append((index, name, detail))
        if seconds > report.slowest_seconds:
            report.slowest_seconds, report.slowest_case = seconds, f"#{index} {name}"
    report.peak_rss_mb = _peak_rss_mb()
    return report


def base_stream(model, mode: str = "RGBA", width: int = 37, height: int = 23) -> bytes:
    """A small valid stream from ``model``: a smooth image of ``mode`` (RGBA and LA add the alpha string)."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1), (xx + yy) % 256], axis=2)
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    if mode in ("RGBA", "LA"):
        image.putalpha(Image.fromarray(((xx * 7 + yy * 3) % 256).astype(np.uint8), "L"))
    return model.compress(image.convert(mode))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import faulthandler
    import sys

    parser = argparse.ArgumentParser(prog="python tests/fuzz.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=zoo.DEFAULT_MODEL_ID)
    parser.add_argument("--quality", type=int, default=zoo.DEFAULT_QUALITY)
    parser.add_argument("--mode", default="RGBA", choices=sorted(container.MODE_CODES))
    parser.add_argument("--checkpoints", help="folder with MANIFEST.json (default: the shipped models)")
    parser.add_argument("--verbose", action="store_true", help="name each case before decoding it")
    args = parser.parse_args(argv)

    # A crash in native code (the entropy decoder is C++) cannot be caught: at least say where it happened.
    faulthandler.enable()
    model = aecodec.load_codec(args.model, args.quality, checkpoint_dir=args.checkpoints)
    data = base_stream(model, args.mode)
    print(f"fuzzing {model!r} with {args.cases} mutations of a {len(data)}-byte {args.mode} stream, seed {args.seed}")

    def announce(index, name):
        print(f"case #{index} {name}", file=sys.stderr, flush=True)

    report = run_fuzz(data, model, args.cases, args.seed, on_case=announce if args.verbose else None)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
