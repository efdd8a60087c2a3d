"""Training the variable-rate model: the loss goes down at every level, runs resume, ladder models start it,
and ``aecodec train --variable-rate`` exports a checkpoint that codes any quality."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from aecodec.api import ImageCodec
from aecodec.checkpoint import load_final, safe_load
from aecodec.cli.main import main
from aecodec.config import VariableRateConfig, preset
from aecodec.models import build_model
from aecodec.training.export import export_final
from aecodec.training.variable_rate import LEVELS, fit_variable_rate, load_start

from conftest import natural_like, read_log


def small(**overrides) -> VariableRateConfig:
    settings = dict(steps=30, batch_size=8, crop_size=64, val_crop=64, lr=1e-3, gain_lr=1e-2, warmup_steps=2,
                    log_every=10, val_every=30, val_fraction=0.2)  # fmt: skip
    return VariableRateConfig(**{**settings, **overrides})


def test_a_few_steps_lower_the_loss_and_every_level_is_scored(photo_dir, tmp_path):
    fit_variable_rate(photo_dir, tmp_path, small(), model_config=preset("variable-rate-tiny"), device="cpu",
                      progress=False)  # fmt: skip
    rows = read_log(tmp_path / "log.csv")
    train = [r for r in rows if r["split"] == "train"]
    assert float(train[-1]["loss"]) < float(train[0]["loss"])
    val = [r for r in rows if r["split"] == "val"]
    assert [int(r["step"]) for r in val] == [0, 30]  # the start, then each validation
    assert all(r[f"ratio_q{q}_pct"] for r in val for q in range(1, LEVELS + 1))
    assert (tmp_path / "val_0000030.png").exists() and (tmp_path / "best.pt").exists()
    state = safe_load(tmp_path / "last.pt")
    assert state["step"] == 30 and len(state["refs"]) == LEVELS and state["cpu_s"] > 0


def test_resume_continues_and_logs_each_step_once(photo_dir, tmp_path):
    for steps in (4, 6):
        fit_variable_rate(photo_dir, tmp_path, small(steps=steps, val_every=2, log_every=1),
                          model_config=preset("variable-rate-tiny"), device="cpu", progress=False)  # fmt: skip
    steps = [(r["split"], int(r["step"])) for r in read_log(tmp_path / "log.csv")]
    assert len(steps) == len(set(steps)) and ("train", 6) in steps and ("val", 6) in steps
    assert safe_load(tmp_path / "last.pt")["step"] == 6


def test_a_ladder_hyperprior_starts_it_with_the_gains_at_their_start(tmp_path):
    torch.manual_seed(0)
    ladder = build_model(preset("hyperprior-tiny"))
    export_final(ladder, tmp_path / "ladder.pt", {})
    model = build_model(preset("variable-rate-tiny"))
    start_gains = model.log_gain.detach().clone()
    load_start(model, tmp_path / "ladder.pt")
    assert torch.equal(model.g_s[0].weight, load_final(tmp_path / "ladder.pt").g_s[0].weight)
    assert torch.equal(model.log_gain, start_gains)
    with pytest.raises(ValueError, match="do not fit"):
        load_start(build_model(preset("variable-rate-wide")), tmp_path / "ladder.pt")


def test_cli_trains_a_round_and_exports_a_codec_of_any_quality(photo_dir, tmp_path):
    args = ["train", str(photo_dir), "--out", str(tmp_path), "--variable-rate", "--preset", "variable-rate-tiny",
            "--steps", "4", "--crop-size", "64", "--val-every", "2", "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "held-out mean" in result.output
    model = load_final(tmp_path / "final.pt")
    codec = ImageCodec(model.at_quality(2.5), "tiny-vr", 2.5)
    assert codec.decompress(codec.compress(natural_like(20, 10))).size == (20, 10)
    result = CliRunner().invoke(main, [*args, "-q", "3"])
    assert result.exit_code == 2 and "do not apply" in result.output


def test_bf16_rounds_train_under_autocast_and_only_for_the_variable_rate_model(photo_dir, tmp_path):
    """--bf16 on the CPU: the steps run (the transforms in bfloat16, the checkpoint float32); the ladder refuses it."""
    args = ["train", str(photo_dir), "--out", str(tmp_path), "--variable-rate", "--preset", "variable-rate-tiny",
            "--steps", "2", "--crop-size", "64", "--val-every", "2", "--device", "cpu", "--bf16"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["step"] == 2 and state["train_config"]["bf16"] is True
    assert all(t.dtype == torch.float32 for t in state["model"].values() if t.is_floating_point())
    result = CliRunner().invoke(main, ["train", str(photo_dir), "--out", str(tmp_path / "l"), "-q", "3", "--bf16"])
    assert result.exit_code == 2 and "--variable-rate rounds only" in result.output
