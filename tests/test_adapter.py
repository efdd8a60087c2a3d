"""Per-domain adapters: fitting one (tiny model, a few steps), its file, and what streams coded with it need."""

from __future__ import annotations

import io
import json
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import aecodec
from aecodec import container
from aecodec.adapter import SUFFIX, Adapter, apply_adapter, content_sha256, read_adapter
from aecodec.api import load_codec
from aecodec.checkpoint import COMPRESSED_MAGIC, safe_load
from aecodec.errors import AdapterError
from aecodec.training.adapt import AdaptConfig, make_adapter, stored_bytes
from aecodec.training.export import atomic_compressed_save

from conftest import make_vr_zoo, natural_like, training_modules_after

QUALITIES = (2, 5, 8)


@pytest.fixture(scope="module")
def vr_zoo(tmp_path_factory):
    return make_vr_zoo(tmp_path_factory.mktemp("vr-zoo"))


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    """Six small images to train on and two held out."""
    folder = tmp_path_factory.mktemp("domain")
    files = []
    for i in range(8):
        path = folder / f"d{i}.png"
        Image.fromarray(natural_like(96, 80, seed=10 + i), "RGB").save(path)
        files.append(path)
    return files[:6], files[6:]


def _make(vr_zoo, domain, path, kind, seed=0):
    train, held = domain
    config = AdaptConfig(kind=kind, rank=2, steps=3, batch_size=8, crop_size=64, lr=0.05, seed=seed)
    return make_adapter(train, held, path, "tiny-vr", config, QUALITIES, checkpoint_dir=vr_zoo)


@pytest.fixture(scope="module")
def adapters(vr_zoo, domain, tmp_path_factory):
    """A decoder-side adapter, another one (another seed), and an encoder-only one, with their reports."""
    folder = tmp_path_factory.mktemp("adapters")
    made = (("dec", "decoder", 0), ("other", "decoder", 1), ("enc", "encoder", 0))
    return {name: _make(vr_zoo, domain, folder / f"{name}{SUFFIX}", kind, seed) for name, kind, seed in made}


@pytest.fixture(scope="module")
def image():
    return natural_like(80, 72, seed=3)


def test_the_file_records_the_base_itself_and_how_it_was_made(adapters, vr_zoo):
    result = adapters["dec"]
    adapter = read_adapter(result["path"])
    manifest = json.loads((vr_zoo / "MANIFEST.json").read_text())
    assert adapter.base_model_id == "tiny-vr1" == result["base_model_id"]
    assert adapter.base_sha256 == manifest["models"]["tiny-vr1"]["variable_rate"]["sha256"]
    assert adapter.name == "dec" and adapter.kind == "decoder" and adapter.decoder_side
    assert adapter.sha256 == result["sha256"] == content_sha256(safe_load(result["path"]))
    assert adapter.made["steps"] == result["steps"] == 3
    assert adapter.made["config"]["kind"] == "decoder" and adapter.made["heldout"]["qualities"] == list(QUALITIES)
    assert 0 < result["bytes"] <= 1_000_000
    # every update is to g_a, h_a or g_s, never the hyper-synthesis or the entropy models
    assert {name.split(".")[0] for name in adapter.updates} == {"g_a", "h_a", "g_s"}
    assert {name.split(".")[0] for name in read_adapter(adapters["enc"]["path"]).updates} == {"g_a", "h_a"}
    held = result["heldout"]
    assert held["images"] == 2 and [p["quality"] for p in held["base"]] == list(QUALITIES)


def test_the_shipped_size_adapter_stays_under_a_megabyte():
    from aecodec.config import preset
    from aecodec.models import build_model

    model = build_model(preset("variable-rate-wide"))  # the shipped model's size
    assert stored_bytes(model, "decoder", AdaptConfig.rank) <= 1_000_000
    assert stored_bytes(model, "decoder", 32) > 1_000_000  # refused by make_adapter before training


def test_a_decoder_side_adapters_streams_round_trip_and_name_it(adapters, vr_zoo, image):
    codec = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"])
    data = codec.compress(image)
    header = container.peek_header(data)
    assert data[4] == container.FORMAT_VERSION
    assert header.adapter == container.AdapterRef("dec", adapters["dec"]["sha256"])
    decoded = np.asarray(codec.decompress(data))
    one_shot = np.asarray(aecodec.decompress(data, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"]))
    assert decoded.shape == image.shape and np.array_equal(decoded, one_shot)
    # the adapter changed the decoder: the base model's synthesis of the same latent differs
    base = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo)
    _, y_hat, _ = codec.decode_latent(data)
    assert not torch.equal(base.model.synthesis(y_hat), codec.model.synthesis(y_hat))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to float rounding (the fast transforms sum in another order than the trained modules)."""
    return a.shape == b.shape and float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))


def test_a_decoder_side_adapter_decodes_through_the_fast_transforms_as_through_the_plain_modules(
    adapters, vr_zoo, image
):
    """The codec's fast inference copies of g_a and g_s (aecodec.models.inference) are built from the adapted
    weights: the adapter changes the decoded pixels through them as through the model's own modules."""
    # float32 analysis: the comparisons are to float rounding (bfloat16's is tests/test_inference_transforms.py's)
    codec = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"], bf16_analysis=False)
    base = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo)
    data = codec.compress(image)
    _, y_hat, _ = codec.decode_latent(data)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)[..., :64, :64]
    with torch.no_grad():
        assert _close(codec.transforms.analysis(x), codec.model.analysis(x))
        fast, plain = codec.transforms.synthesis(y_hat), codec.model.synthesis(y_hat)
        base_fast, base_plain = base.transforms.synthesis(y_hat), base.model.synthesis(y_hat)
    assert _close(fast, plain) and _close(base_fast, base_plain)
    assert float((plain - base_plain).abs().max()) > 1e-2  # the adapter changed the synthesis...
    assert _close(fast - base_fast, plain - base_plain)  # ...and the fast copies changed with it
    # the decoded pixels: through the fast copies, and through the trained modules (within 1, as for every model)
    decoded_fast = np.asarray(codec.decompress(data)).astype(int)
    codec._transforms = SimpleNamespace(analysis=codec.model.analysis, synthesis=codec.model.synthesis,
                                        stale=lambda: False)  # fmt: skip
    decoded_plain = np.asarray(codec.decompress(data)).astype(int)
    assert np.abs(decoded_fast - decoded_plain).max() <= 1
    decoded_base = images_of(base, y_hat)
    assert np.abs(decoded_plain - decoded_base).max() > 1  # what the adapter changed is in the pixels


def images_of(codec, y_hat: torch.Tensor) -> np.ndarray:
    """The pixels ``codec``'s fast synthesis makes of ``y_hat`` (whole, as uint8 RGB)."""
    with torch.no_grad():
        x_hat = codec.transforms.synthesis(y_hat).clamp(0, 1)
    return (x_hat[0, :, :72, :80] * 255).round().byte().permute(1, 2, 0).numpy().astype(int)


def test_an_adapter_merged_after_the_fast_transforms_were_built_rebuilds_them(adapters, vr_zoo, image):
    """The fast copies never code with stale weights: merging an adapter into a codec's model after its fast
    transforms were built (and shared with another quality) makes each codec build them again."""
    codec = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, bf16_analysis=False)
    built = codec.transforms
    other = codec.at_quality(3.5)
    assert other.transforms.g_s is built.g_s
    _, y_hat, _ = codec.decode_latent(codec.compress(image))
    with torch.no_grad():
        before = built.synthesis(y_hat)
        apply_adapter(codec.model.model, read_adapter(adapters["dec"]["path"]))  # the weights change in place
        assert built.stale()
        for c in (codec, other):
            assert c.transforms is not built and not c.transforms.stale()
            assert _close(c.transforms.synthesis(y_hat), c.model.synthesis(y_hat))
        assert not _close(codec.transforms.synthesis(y_hat), before)
        x = torch.rand(1, 3, 64, 64)
        assert _close(codec.transforms.analysis(x), codec.model.analysis(x))


def test_a_missing_or_wrong_adapter_is_refused_naming_the_one_needed(adapters, vr_zoo, image):
    data = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"]).compress(image)
    short = adapters["dec"]["sha256"][:12]
    with pytest.raises(AdapterError, match=f"adapter 'dec' \\(sha256 {short}\\.\\.\\.\\)"):
        aecodec.decompress(data, checkpoint_dir=vr_zoo)
    with pytest.raises(AdapterError, match="coded with the adapter 'dec'.*not 'other'"):
        aecodec.decompress(data, checkpoint_dir=vr_zoo, adapter=adapters["other"]["path"])
    # an encoder-only adapter changes no decoder: still the missing one
    with pytest.raises(AdapterError, match="decode it with that adapter"):
        aecodec.decompress(data, checkpoint_dir=vr_zoo, adapter=adapters["enc"]["path"])
    # and a base stream is not decoded by a codec whose synthesis an adapter changed
    plain = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo).compress(image)
    adapted = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"])
    with pytest.raises(AdapterError, match="coded without an adapter"):
        adapted.decompress(plain)


def test_encoder_only_adapter_streams_are_ordinary_and_decode_with_the_base_model(adapters, vr_zoo, image):
    base = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo)
    plain = base.compress(image)
    encoded = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["enc"]["path"]).compress(image)
    assert encoded[4] == container.FORMAT_VERSION and container.peek_header(encoded).adapter is None
    assert encoded != plain  # the adapted analysis made another latent
    decoded = np.asarray(aecodec.decompress(encoded, checkpoint_dir=vr_zoo))
    assert np.array_equal(decoded, np.asarray(base.decompress(encoded)))
    # loading adapters changed nothing for the base model in this process
    assert load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo).compress(image) == plain


def test_a_damaged_or_modified_adapter_file_is_refused(adapters, tmp_path):
    raw = open(adapters["dec"]["path"], "rb").read()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x55
    (tmp_path / f"flipped{SUFFIX}").write_bytes(bytes(flipped))
    with pytest.raises(AdapterError):
        read_adapter(tmp_path / f"flipped{SUFFIX}")
    record = safe_load(adapters["dec"]["path"])
    name = next(iter(record["updates"]))
    part = next(iter(record["updates"][name]))
    record["updates"][name][part] = record["updates"][name][part] + 1  # the hash is not updated
    atomic_compressed_save(record, tmp_path / f"edited{SUFFIX}")
    with pytest.raises(AdapterError, match="corrupted or was modified"):
        read_adapter(tmp_path / f"edited{SUFFIX}")
    with pytest.raises(AdapterError, match="not found"):
        read_adapter(tmp_path / f"missing{SUFFIX}")
    (tmp_path / f"model{SUFFIX}").write_bytes(COMPRESSED_MAGIC + zlib.compress(_saved({"format": "aecodec-model"})))
    with pytest.raises(AdapterError, match="not an aecodec adapter"):
        read_adapter(tmp_path / f"model{SUFFIX}")


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_an_adapter_for_other_weights_is_refused(adapters, vr_zoo, tmp_path):
    record = safe_load(adapters["dec"]["path"])
    record["base"] = {"model_id": "tiny-vr1", "sha256": "0" * 64}
    record["sha256"] = content_sha256(record)
    adapter = Adapter.from_record(record)
    with pytest.raises(AdapterError, match="was made for tiny-vr1 \\(sha256 000000000000"):
        load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapter)


def test_cli_adapt_encode_and_decode(vr_zoo, domain, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from aecodec.cli.main import main

    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(vr_zoo))
    folder = domain[0][0].parent
    runner = CliRunner()
    out = tmp_path / f"mine{SUFFIX}"
    result = runner.invoke(main, ["adapt", str(folder), "-o", str(out), "--model", "tiny-vr", "--steps", "2",
                                  "--rank", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "decoder adapter of tiny-vr1" in result.output and "BD-rate against tiny-vr1" in result.output
    again = runner.invoke(main, ["adapt", str(folder), "-o", str(out), "--model", "tiny-vr", "--steps", "2"])
    assert again.exit_code == 1 and "exists" in again.output

    Image.fromarray(natural_like(40, 30), "RGB").save(tmp_path / "a.png")
    # the adapter names its model: no --model needed
    assert runner.invoke(main, ["encode", str(tmp_path / "a.png"), "-q", "4", "--adapter", str(out)]).exit_code == 0
    info = runner.invoke(main, ["info", str(tmp_path / "a.aec"), "--json"])
    missing = runner.invoke(main, ["decode", str(tmp_path / "a.aec"), "-o", str(tmp_path / "b.png")])
    assert missing.exit_code == 1 and not (tmp_path / "b.png").exists()
    assert missing.output.strip().splitlines() == [
        f"error: this stream was coded with the adapter 'mine' (sha256 {read_adapter(out).sha256[:12]}...): "
        f"decode it with that adapter (mine{SUFFIX})"
    ]
    ok = runner.invoke(main, ["decode", str(tmp_path / "a.aec"), "-o", str(tmp_path / "b.png"), "--adapter", str(out)])
    assert ok.exit_code == 0, ok.output
    assert Image.open(tmp_path / "b.png").size == (40, 30)
    facts = json.loads(info.output)
    assert facts["format_version"] == container.FORMAT_VERSION and facts["adapter"] == {"name": "mine", "sha256": read_adapter(out).sha256}


def test_coding_with_an_adapter_imports_no_training_code(adapters, vr_zoo, tmp_path):
    """Reading and merging an adapter is the runtime's: encode and decode with one load no aecodec.training."""
    Image.fromarray(natural_like(40, 30), "RGB").save(tmp_path / "a.png")
    path = adapters["dec"]["path"]
    commands = [["encode", "a.png", "-q", "3", "--adapter", path],
                ["decode", "a.aec", "-o", "b.png", "--adapter", path]]  # fmt: skip
    assert training_modules_after(commands, tmp_path, vr_zoo) == []
    assert Image.open(tmp_path / "b.png").size == (40, 30)


def test_quick_fuzz_of_adapter_streams_has_no_unexpected_outcome(adapters, vr_zoo):
    import fuzz

    codec = load_codec("tiny-vr", 3.5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"])
    data = fuzz.base_stream(codec, "RGB", 20, 12)
    assert container.peek_header(data).adapter is not None
    report = fuzz.run_fuzz(data, codec, 200, seed=2)
    assert report.ok, "\n".join(report.lines())
    assert report.outcomes["CorruptStreamError"] > 0 and report.outcomes[fuzz.DECODED] > 0


def test_pillow_says_a_stream_needs_its_adapter(adapters, vr_zoo, image, tmp_path, monkeypatch):
    import aecodec.pillow  # noqa: F401 (registers .aec)

    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(vr_zoo))
    data = load_codec("tiny-vr", 5, checkpoint_dir=vr_zoo, adapter=adapters["dec"]["path"]).compress(image)
    (tmp_path / "x.aec").write_bytes(data)
    with Image.open(tmp_path / "x.aec") as im:
        assert im.size == (80, 72)
        with pytest.raises(OSError, match="^this stream was coded with the adapter 'dec'"):
            im.load()
