"""Hostile and damaged .aec streams: a quick seeded fuzz run, and the guards it relies on."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import aecodec
import fuzz
from aecodec import container, rans_guard
from aecodec.errors import CorruptStreamError

from conftest import REPO


@pytest.fixture(scope="module")
def tiny(tiny_zoo):
    return aecodec.load_codec("factorized", 1, checkpoint_dir=tiny_zoo)


def test_reseal_gives_a_valid_checksum(tiny):
    data = bytearray(fuzz.base_stream(tiny, "RGB", 20, 12))
    data[-6] ^= 0x10  # inside the coded string
    with pytest.raises(CorruptStreamError, match="checksum"):
        container.unpack(bytes(data))
    header, _ = container.unpack(fuzz.reseal(bytes(data)))
    assert (header.width, header.height) == (20, 12)


def test_mutations_are_seeded(tiny):
    data = fuzz.base_stream(tiny, "RGB", 20, 12)
    first = fuzz.mutations(data, 200, seed=3)
    assert first == fuzz.mutations(data, 200, seed=3)
    assert first != fuzz.mutations(data, 200, seed=4)
    names = {name.split("@")[0].removesuffix("+crc") for name, _ in first}
    assert set(fuzz.MUTATORS) <= names  # every mutator is drawn in 200 cases
    assert sum(name.startswith("truncate@") for name, _ in first) == 100


@pytest.mark.parametrize("mode, cases", [("RGB", 300), ("LA", 200)])
def test_quick_fuzz_has_no_unexpected_outcome(tiny, mode, cases):
    report = fuzz.run_fuzz(fuzz.base_stream(tiny, mode, 20, 12), tiny, cases, seed=0)
    assert report.cases == cases
    assert report.ok, "\n".join(report.lines())
    # Both ends were reached: refusals, and garbage behind a valid header that still decodes.
    assert report.outcomes["CorruptStreamError"] > 0 and report.outcomes[fuzz.DECODED] > 0
    assert report.slowest_seconds < 5


def test_a_decoded_image_must_match_its_header(tiny):
    class Liar:
        def decompress(self, data):
            return Image.new("RGB", (3, 3))

    outcome, detail = fuzz.classify(Liar(), fuzz.base_stream(tiny, "RGB", 20, 12))
    assert outcome == fuzz.UNEXPECTED and "header says 20x12" in detail


def test_short_coded_string_for_a_huge_image_is_refused_before_decoding(tiny):
    # This stream crashed the process (SIGSEGV in CompressAI's rANS decoder) before the length check.
    header = container.Header("factorized", 1, 4096, 4096, "RGB", tiny.latent_shape(4096, 4096), 256)
    with pytest.raises(CorruptStreamError, match="too short"):
        tiny.decompress(container.pack(header, [b"\xff" * 4]))


@pytest.mark.parametrize("length", [3, 10, 4])
def test_coded_string_lengths_that_no_encoder_writes(tiny, length):
    header = container.Header("factorized", 1, 8, 8, "RGB", (1, 1), 64)
    with pytest.raises(CorruptStreamError, match="32-bit words|too short"):
        tiny.decompress(container.pack(header, [b"\x00" * length]))


def test_streams_that_crashed_the_decoder_now_fail_cleanly(tiny_zoo):
    # In a child process: before the guards, the first stream killed the process with SIGSEGV (CompressAI's
    # rANS decoder read megabytes past its 4-byte string); garbage of a plausible length still reads past
    # its string unless it is padded.
    code = textwrap.dedent(
        f"""
        import aecodec
        from aecodec import container, rans_guard
        from aecodec.errors import CorruptStreamError
        model = aecodec.load_codec("factorized", 1, checkpoint_dir={str(tiny_zoo)!r})
        header = container.Header("factorized", 1, 4096, 4096, "RGB", model.latent_shape(4096, 4096), 256)
        try:
            model.decompress(container.pack(header, [b"\\xff" * 4]))
        except CorruptStreamError as exc:
            print("refused:", exc)
        for size in (512, 1024):
            shape = model.latent_shape(size, size)
            shortest, _ = rans_guard.length_bounds(model.model.entropy_bottleneck, shape)
            for fill in (b"\\xff", b"\\x00", b"\\xf0\\xff\\xff\\xff"):
                string = (fill * (shortest + 4))[: shortest + (-shortest) % 4]
                header = container.Header("factorized", 1, size, size, "RGB", shape, 256)
                assert model.decompress(container.pack(header, [string])).size == (size, size)
        print("survived")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "refused: coded string of 4 bytes is too short" in result.stdout and "survived" in result.stdout


def _mirror_decode(words: list[int], cdfs: list[list[int]], indexes: list[int], pad_word: int) -> int:
    """Words read by CompressAI's RansDecoder.decode_with_indexes (rans_interface.cpp), mirrored in Python."""
    mask64, low = (1 << 64) - 1, 1 << 31
    reads = 0

    def read() -> int:
        nonlocal reads
        reads += 1
        return words[reads - 1] if reads <= len(words) else pad_word

    def get_bits() -> int:  # Rans64DecGetBits(4)
        nonlocal x
        value, x = x & 15, x >> 4
        if x < low:
            x = ((x << 32) | read()) & mask64
        return value

    x = read() | (read() << 32)
    for index in indexes:
        cdf = cdfs[index]
        s = max(i for i in range(len(cdf) - 1) if cdf[i] <= (x & 0xFFFF))
        x = ((cdf[s + 1] - cdf[s]) * (x >> 16) + (x & 0xFFFF) - cdf[s]) & mask64
        if x < low:
            x = ((x << 32) | read()) & mask64
        if s == len(cdf) - 2:  # bypass: a run of 0xF nibbles counts the value nibbles that follow
            value = n = get_bits()
            while value == 15:
                value = get_bits()
                n += value
            for _ in range(n):
                get_bits()
    return reads


def test_padding_covers_the_farthest_read_of_garbage():
    rng = np.random.default_rng(0)
    worst = 0.0
    for trial in range(150):
        # Tables where the bypass symbol (the last) is likely, the worst case for reading far.
        n, bypass = int(rng.choice([2, 3, 5, 23])), float(rng.choice([0.01, 0.5, 0.9, 0.99]))
        top = int((1 << 16) * (1 - bypass))
        cdfs = [[0, *sorted(rng.choice(np.arange(1, top), n - 2, replace=False).tolist()), top, 1 << 16]
                for _ in range(int(rng.choice([1, 3])))]  # fmt: skip
        indexes = [c for c in range(len(cdfs)) for _ in range(int(rng.choice([1, 4, 16])))]
        n_words = int(rng.choice([2, 3, 8, 32]))
        words = {0: [0xFFFFFFFF] * n_words, 1: [0] * n_words, 2: [0xFFFFFFF0] * n_words}.get(
            trial % 4, rng.integers(0, 1 << 32, n_words, dtype=np.uint64).tolist()
        )
        reads = _mirror_decode(words, cdfs, indexes, rans_guard.PAD_WORD)
        padding = len(rans_guard.padded(bytes(4 * n_words), len(indexes))) - 4 * n_words
        worst = max(worst, 4 * (reads - n_words) / padding)
    assert worst <= 1.0, f"the decoder read {worst:.2f} times the padding"


@pytest.mark.parametrize("value", [0, 255, 128])
def test_flat_images_are_not_refused_by_the_length_check(tiny, value):
    # Flat images cost the fewest bits: the lower bound on the string length must stay below them.
    image = Image.fromarray(np.full((64, 48, 3), value, np.uint8), "RGB")
    data = tiny.compress(image)
    _, strings = container.unpack(data)
    shortest, longest = rans_guard.length_bounds(tiny.model.entropy_bottleneck, tiny.latent_shape(48, 64))
    assert shortest <= len(strings[0]) <= longest
    assert tiny.decompress(data).size == (48, 64)


def test_padding_is_a_whole_number_of_words():
    out = rans_guard.padded(b"\x01\x02\x03\x04", n_symbols=10)
    assert out[:4] == b"\x01\x02\x03\x04" and len(out) % 4 == 0
    assert len(out) - 4 >= rans_guard.PAD_PER_BYTE * 4 + rans_guard.PAD_PER_SYMBOL * 10
    assert int.from_bytes(out[4:8], sys.byteorder) == rans_guard.PAD_WORD


def test_command_prints_the_figures(tiny_zoo):
    result = subprocess.run(
        [sys.executable, "tests/fuzz.py", "--cases", "60", "--seed", "1", "--quality", "1", "--checkpoints",
         str(tiny_zoo)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    for needle in ("cases: 60 (", "outcomes:", "UNEXPECTED: 0", "slowest case:", "peak RSS:"):
        assert needle in result.stdout
