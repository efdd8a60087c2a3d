"""Training: the loss goes down, runs resume, the CLI exports a loadable checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from aecodec.api import ImageCodec
from aecodec.cli.main import main
from aecodec.checkpoint import load_final
from aecodec.config import TrainConfig, preset
from aecodec.models import build_model
from aecodec.training.data import centre_side
from aecodec.training.train import fit

from conftest import natural_like, read_log, write_photos

REPO = Path(__file__).resolve().parent.parent




@pytest.mark.parametrize("name, crop", [("tiny", 32), ("hyperprior-tiny", 64)])
def test_a_few_steps_lower_the_loss(photo_dir, tmp_path, name, crop):
    config = TrainConfig(lmbda=0.01, steps=40, batch_size=4, crop_size=crop, val_crop=crop, lr=1e-3, log_every=10,
                         val_every=40, val_fraction=0.2)  # fmt: skip
    fit(photo_dir, tmp_path, preset(name), config, progress=False, device="cpu")
    rows = [r for r in read_log(tmp_path / "log.csv") if r["split"] == "train"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert (tmp_path / "val_0000040.png").exists() and (tmp_path / "last.pt").exists()


@pytest.mark.parametrize("name", ["tiny", "hyperprior-tiny"])
def test_rounded_synthesis_decodes_what_the_decoder_gets_with_noisy_rates(name):
    torch.manual_seed(0)
    model = build_model(preset(name)).train()
    x = torch.rand(2, 3, 64, 64)
    torch.manual_seed(1)
    noisy = model(x)
    torch.manual_seed(1)
    rounded = model(x, rounded_synthesis=True)
    y = model.g_a(x)
    # the synthesis gets the latent as coded (rounded), the likelihoods are those of the noisy latent
    assert torch.equal(rounded["x_hat"], model.g_s(model.coded_latent(y).detach()))
    assert not torch.equal(rounded["x_hat"], noisy["x_hat"])
    for key, value in noisy["likelihoods"].items():
        assert torch.equal(rounded["likelihoods"][key], value)
    # the distortion still trains the analysis (straight-through gradient)
    ((rounded["x_hat"] - x) ** 2).mean().backward()
    assert model.g_a[0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)["x_hat"], model(x, rounded_synthesis=True)["x_hat"])


def test_training_with_rounded_synthesis_lowers_the_loss(photo_dir, tmp_path):
    config = TrainConfig(lmbda=0.01, steps=40, batch_size=4, crop_size=32, val_crop=32, lr=1e-3, log_every=10,
                         val_every=40, val_fraction=0.2, rounded_synthesis=True)  # fmt: skip
    fit(photo_dir, tmp_path, preset("tiny"), config, progress=False, device="cpu")
    rows = [r for r in read_log(tmp_path / "log.csv") if r["split"] == "train"]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_frozen_transforms_stay_as_given_while_the_entropy_model_learns(photo_dir, tmp_path):
    import torch

    from aecodec.checkpoint import safe_load

    from aecodec.training.export import export_final

    torch.manual_seed(0)
    factorized = build_model(preset("tiny"))
    export_final(factorized, tmp_path / "f.pt", {})
    config = TrainConfig(lmbda=0.01, steps=6, batch_size=2, crop_size=64, val_crop=64, lr=1e-2, log_every=2,
                         val_every=6, val_fraction=0.2, freeze_transforms=True)  # fmt: skip
    last = fit(photo_dir, tmp_path / "run", preset("hyperprior-tiny"), config, init_from=tmp_path / "f.pt",
               progress=False, device="cpu")  # fmt: skip
    trained = safe_load(last)["model"]
    start = factorized.state_dict()
    g_keys = [k for k in trained if k.startswith(("g_a.", "g_s."))]
    assert g_keys and all(torch.equal(trained[k], start[k].half().float()) for k in g_keys)
    torch.manual_seed(config.seed)  # fit's own initialisation of the new parts, which must then have moved
    fresh = build_model(preset("hyperprior-tiny")).state_dict()
    for key in ("h_s.0.weight", "h_a.0.weight"):
        assert not torch.allclose(trained[key], fresh[key]), key


def test_crops_must_fit_the_model(photo_dir, tmp_path):
    config = TrainConfig(lmbda=0.01, steps=2, batch_size=2, crop_size=32, val_crop=32)
    with pytest.raises(ValueError, match="multiples of 64 for a hyperprior model"):
        fit(photo_dir, tmp_path, preset("hyperprior-tiny"), config, progress=False, device="cpu")


def test_validation_crops_of_small_images_keep_the_hyperprior_latents_whole(tmp_path):
    # 100 x 90 photos hold no 128-pixel crop: validation takes the largest multiple of the model's 64 (64), not
    # of 16 (80), which the hyperprior cannot code
    (tmp_path / "photos").mkdir()
    photos = write_photos(tmp_path / "photos", 4, 100, 90)
    config = TrainConfig(lmbda=0.01, steps=2, batch_size=2, crop_size=64, val_crop=128, val_every=2,
                         val_fraction=0.5)  # fmt: skip
    fit(photos, tmp_path / "run", preset("hyperprior-tiny"), config, progress=False, device="cpu")
    assert [r["split"] for r in read_log(tmp_path / "run" / "log.csv")].count("val") >= 1
    assert centre_side([90, 100], 128, 16) == 80 and centre_side([90], 128, 64) == 64
    with pytest.raises(ValueError, match="at least 64x64"):
        centre_side([63], 256, 64)


def test_resume_continues_where_it_stopped(photo_dir, tmp_path):
    short = TrainConfig(lmbda=0.01, steps=4, batch_size=2, crop_size=32, val_crop=32, log_every=2, val_every=4)
    fit(photo_dir, tmp_path, preset("tiny"), short, progress=False, device="cpu")
    longer = TrainConfig(lmbda=0.01, steps=8, batch_size=2, crop_size=32, val_crop=32, log_every=2, val_every=4)
    fit(photo_dir, tmp_path, preset("tiny"), longer, progress=False, device="cpu")
    steps = [int(r["step"]) for r in read_log(tmp_path / "log.csv") if r["split"] == "train"]
    assert steps == [2, 4, 6, 8]


def test_resume_after_a_stop_between_checkpoints_logs_each_step_once(photo_dir, tmp_path):
    # a run killed after logging step 6 but before saving it resumes from the checkpoint of step 4
    def run(steps):
        config = TrainConfig(lmbda=0.01, steps=steps, batch_size=2, crop_size=32, val_crop=32, log_every=2,
                             val_every=4)  # fmt: skip
        fit(photo_dir, tmp_path, preset("tiny"), config, progress=False, device="cpu")

    run(4)
    saved_at_4 = (tmp_path / "last.pt").read_bytes()
    run(6)
    (tmp_path / "last.pt").write_bytes(saved_at_4)
    run(8)
    rows = read_log(tmp_path / "log.csv")
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == [2, 4, 6, 8]
    assert [int(r["step"]) for r in rows if r["split"] == "val"] == [4, 8]


def test_cli_train_exports_a_codec(photo_dir, tmp_path):
    result = CliRunner().invoke(
        main,
        ["train", str(photo_dir), "--out", str(tmp_path), "--lambda", "0.01", "--preset", "tiny", "--steps", "6",
         "--batch-size", "2", "--crop-size", "32", "--val-every", "3", "--device", "cpu"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = load_final(tmp_path / "final.pt")
    codec_ = ImageCodec(model, "factorized", 1)
    assert codec_.decompress(codec_.compress(natural_like(20, 10))).size == (20, 10)


def test_train_needs_quality_or_lambda(photo_dir, tmp_path):
    result = CliRunner().invoke(main, ["train", str(photo_dir), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--quality" in result.output


def test_torchrun_two_processes_train_one_model(photo_dir, tmp_path):
    # the unchanged `aecodec train` under torchrun: 2 CPU processes, gloo, DistributedDataParallel
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "aecodec.cli.main", "train", str(photo_dir), "--out", str(tmp_path), "--lambda", "0.01",
           "--preset", "tiny", "--steps", "4", "--batch-size", "2", "--crop-size", "32", "--val-every", "2",
           "--warmup-steps", "0", "--device", "cpu"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = read_log(tmp_path / "log.csv")
    assert [r["step"] for r in rows if r["split"] == "val"] == ["2", "4"]  # rank 0 alone logs
    model = load_final(tmp_path / "final.pt")
    codec_ = ImageCodec(model, "factorized", 1)
    assert codec_.decompress(codec_.compress(natural_like(24, 16))).size == (24, 16)


def test_distributed_context_reads_the_torchrun_environment(monkeypatch):
    from aecodec.training.distributed import from_environment

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = from_environment()
    assert ctx.enabled and not ctx.is_main and ctx.local_rank == 1
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var)
    assert not from_environment().enabled


def test_training_plot_takes_paths_as_strings(tmp_path):
    from aecodec.benchmarks.training_plots import plot_log

    log = tmp_path / "log.csv"
    log.write_text(
        "split,step,loss,bpp,mse,psnr_db\n"
        "train,50,2.0,0.5,0.001,30.0\ntrain,100,1.8,0.45,0.0009,30.4\nval,100,1.9,0.46,0.00095,30.2\n"
    )
    png = plot_log(str(log))
    assert png == log.with_suffix(".png") and png.stat().st_size > 0
    assert plot_log(str(log), str(tmp_path / "other.png")).stat().st_size > 0
