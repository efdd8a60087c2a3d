"""Checkpoints: sha256 checked at load, no arbitrary unpickling, clear errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from aecodec.checkpoint import COMPRESSED_MAGIC, load_final, safe_load, sha256_file
from aecodec.training.export import atomic_torch_save
from aecodec.errors import CheckpointError


class Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_tampered_checkpoint_is_refused(tiny_zoo, tmp_path):
    original = tiny_zoo / "tiny-q1.pt"
    digest = sha256_file(original)
    tampered = tmp_path / "t.pt"
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_final(tampered, expected_sha256=digest)


def test_pickled_objects_are_not_loaded(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "aecodec-model", "x": Payload()}, f, protocol=2)  # torch.load's own protocol
    with pytest.raises(CheckpointError):
        load_final(path)


def test_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not an aecodec model"):
        load_final(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_final(tmp_path / "none.pt", expected_sha256="0" * 64)


def test_weights_are_float16_on_disk_and_tables_frozen(tiny_zoo):
    state = safe_load(tiny_zoo / "tiny-q1.pt")["state_dict"]
    floats = [v for v in state.values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert state["entropy_bottleneck._quantized_cdf"].numel() > 0


def test_likelihood_floors_survive_float16_storage(tiny_zoo, tmp_path):
    """The 1e-9 likelihood floor is 0 in float16; loaded as 0, a bit estimate of a far-out value is infinite
    (fine-tuning a shipped model, or refining a latent, then turns into NaN)."""
    from aecodec.training.train import load_initial_weights
    from aecodec.config import preset
    from aecodec.models import build_model

    stored = safe_load(tiny_zoo / "tiny-q1.pt")["state_dict"]
    assert float(stored["entropy_bottleneck.likelihood_lower_bound.bound"]) == 0.0  # what float16 keeps
    fine_tune = build_model(preset("tiny"))
    load_initial_weights(fine_tune, tiny_zoo / "tiny-q1.pt")
    for model in (load_final(tiny_zoo / "tiny-q1.pt"), fine_tune):
        assert float(model.entropy_bottleneck.likelihood_lower_bound.bound) == pytest.approx(1e-9)
        far = torch.full((1, model.config.M, 2, 2), 1e4)
        assert torch.isfinite(model.estimated_bits(far)["y"]).all()


def test_final_checkpoints_are_compressed_and_plain_ones_still_load(tiny_zoo, tmp_path):
    """Shipped files are zlib-compressed (the CDF tables shrink tenfold); a plain torch.save file of the same
    dict, the format of older shipped files, loads into a model that codes identically."""
    compressed = tiny_zoo / "tiny-hyperprior-q1.pt"
    assert compressed.read_bytes().startswith(COMPRESSED_MAGIC)
    plain = tmp_path / "plain.pt"
    atomic_torch_save(safe_load(compressed), plain)
    assert compressed.stat().st_size < plain.stat().st_size
    x = torch.rand(1, 3, 64, 64)
    streams = [load_final(path).compress(x) for path in (compressed, plain)]
    assert streams[0] == streams[1]


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_damaged_compressed_checkpoint_is_refused(tiny_zoo, tmp_path, damage):
    data = bytearray((tiny_zoo / "tiny-q1.pt").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(COMPRESSED_MAGIC) + 1] ^= 0xFF  # zlib header: the stream is refused at once
    path = tmp_path / "damaged.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_final(path)


def test_shipping_keeps_what_another_ship_run_wrote_meanwhile(tmp_path):
    ship = load_release_script("ship_checkpoints")
    manifest = tmp_path / "MANIFEST.json"
    before = {"format": 1, "models": {"factorized": {"description": "f", "qualities": {"8": {"sha256": "old"}}},
                                      "hyperprior": {"description": "h", "qualities": {"1": {"sha256": "h1"}}}}}
    manifest.write_text(json.dumps(before))
    # the factorized run re-ships q8 while this hyperprior run is busy; then the hyperprior run writes q8
    ship.merge_into_manifest(manifest, "factorized", "f", {"8": {"sha256": "new-f8"}})
    ship.merge_into_manifest(manifest, "hyperprior", "h", {"8": {"sha256": "new-h8"}})
    models = json.loads(manifest.read_text())["models"]
    assert models["factorized"]["qualities"] == {"8": {"sha256": "new-f8"}}
    assert list(models["hyperprior"]["qualities"]) == ["1", "8"]
    assert models["hyperprior"]["qualities"]["8"] == {"sha256": "new-h8"}
    assert not (tmp_path / "MANIFEST.json.tmp").exists()


def load_release_script(name: str):
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "tools" / "release" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_variable_rate_round_counts_the_compute_of_the_rounds_before_it():
    ship = load_release_script("ship_variable_rate")
    prototype = {"earlier_steps": 100, "earlier_cpu_s": 50.0}
    assert ship.earlier_compute(prototype) == (100, 50.0)
    # the library trainer's record of a training checkpoint it started from, which started from a prototype's
    round3 = {"earlier": {"step": 20, "cpu_s": 10.0, "lineage": {"earlier": {"step": 7, "cpu_s": 3.0}}}}
    assert ship.earlier_compute(round3) == (27, 13.0)
    # ... or of a shipped model, whose metadata holds its totals already
    assert ship.earlier_compute({"earlier": {"step": 20, "total_steps": 120, "total_cpu_seconds": 60}}) == (120, 60)
    assert ship.earlier_compute({"init_from": None}) == (0, 0.0)


def test_a_variable_rate_round_records_its_integer_points_of_a_bench_run():
    ship = load_release_script("ship_variable_rate")
    jpeg = [{"quality": q, "bpp": b, "psnr_db": p} for q, b, p in ((10, 0.4, 27.0), (50, 1.0, 31.0), (90, 2.5, 36.0))]
    vr = [{"quality": q, "bpp": b, "psnr_db": p} for q, b, p in ((1, 0.3, 27.0), (1.5, 0.5, 29.0), (2, 0.8, 31.0))]
    record = ship.kodak_record({"meta": {"images": 24}, "codecs": {"jpeg": jpeg, ship.BENCH_CODEC: vr}})
    assert [p["quality"] for p in record["points"]] == [1, 2]
    assert record["images"] == 24 and record["bd_rate_pct"]["jpeg"] < -15
