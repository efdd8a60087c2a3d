"""Training the variable-rate hyperprior (``aecodec train --variable-rate``): one network, every quality level
in every batch.

Crop i of each batch trains level i mod 8 at that level's lambda; each crop's loss is divided by the level's
reference held-out loss (the shipped hyperprior ladder's, when installed; else the starting model's own), so
every level weighs about the same and the logged ratio reads as "this much worse (+) or better (-) than the
reference". Validation scores every level on the same held-out centre crops with real rounding, appends a row
per validation to ``log.csv`` (loss, ratio per level, their mean), writes a grid of reconstructions at four
levels, and saves ``last.pt`` (resumable) and ``best.pt`` (the best mean ratio so far).

On a GPU the transforms run under bfloat16 autocast in channels-last layout and the training images sit in
GPU memory; the entropy models stay in float32. ``config.bf16`` asks for the autocast on a CPU too. ``config.max_minutes`` ends a round at a fixed time, the
cosine schedule running over whichever of the steps and the time ends first.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import zoo
from ..checkpoint import load_final, safe_load, with_code_constants
from ..config import QUALITY_LAMBDAS, ModelConfig, VariableRateConfig
from ..errors import AECodecError
from ..metrics import psnr_from_mse
from ..models import build_model
from ..models.variable_rate import VariableRateHyperprior
from .data import CropSampler, center_crops, training_split
from .export import atomic_torch_save
from .loss import RateDistortionLoss
from .train import default_device, drop_rows_after, evaluate, save_grid, split_parameters
from .widen import grow

LEVELS = len(QUALITY_LAMBDAS)
LOG_FIELDS = (
    ("split", "step", "loss", "bpp", "psnr_db", "grad_norm", "lr", "elapsed_s", "cpu_s")
    + tuple(f"loss_q{q}" for q in range(1, LEVELS + 1))
    + tuple(f"ratio_q{q}_pct" for q in range(1, LEVELS + 1))
    + ("mean_ratio_pct",)
)
#: The levels a validation grid shows (reconstructions of the same crops, one row each).
GRID_LEVELS = (0, 2, 5, 7)


class AtLevel(nn.Module):
    """The variable-rate model at one level, with the plain ``model(x)`` contract :func:`evaluate` expects."""

    def __init__(self, model: VariableRateHyperprior, level: int) -> None:
        super().__init__()
        self.model, self.level = model, level

    def forward(self, x: torch.Tensor) -> dict:
        return self.model(x, torch.full((len(x),), self.level, dtype=torch.long, device=x.device))


def heldout(model: VariableRateHyperprior, crops: torch.Tensor) -> list[dict]:
    """:func:`evaluate` of every level at its own lambda (eval mode, real rounding)."""
    return [evaluate(AtLevel(model, l), crops, RateDistortionLoss(QUALITY_LAMBDAS[l])) for l in range(LEVELS)]


def ladder_models(device: torch.device) -> list[nn.Module] | None:
    """The shipped hyperprior ladder, one model per level (None when it is not installed)."""
    try:
        entries = [zoo.lookup("hyperprior", q) for q in range(1, LEVELS + 1)]
        return [load_final(e.path, e.sha256).to(device).eval().requires_grad_(False) for e in entries]
    except AECodecError:
        return None


def load_start(model: VariableRateHyperprior, path: str | Path) -> None:
    """Start from a checkpoint: a variable-rate one (final or training, gains included; a narrower one grows,
    codec/training/widen.py), or a scale hyperprior of the same size (a ladder model: its weights, with the gains
    at their starting values)."""
    ckpt = safe_load(path)
    state = ckpt.get("state_dict", ckpt.get("model"))
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no model weights")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    if "log_gain" in ckpt:  # the prototype trainer kept the gains beside the hyperprior's weights
        state["log_gain"] = ckpt["log_gain"].float()
    size = f"an N={model.config.N}, M={model.config.M} variable-rate model"
    source = ckpt.get("model_config", ckpt.get("config")) or {}
    source_N, source_M = source.get("N", model.config.N), source.get("M", model.config.M)
    if (source_N, source_M) != (model.config.N, model.config.M) and source.get("family") == "variable-rate":
        try:  # a narrower variable-rate model grows into this one, computing the same function
            grow(model, with_code_constants(model, state), source_N=source_N, source_M=source_M)
        except ValueError as exc:
            raise ValueError(f"{path}: weights do not fit {size}: {exc}") from None
        return
    try:
        missing, unexpected = model.load_state_dict(with_code_constants(model, state), strict=False)
    except RuntimeError as exc:  # shapes that differ
        lines = str(exc).splitlines()
        raise ValueError(f"{path}: weights do not fit {size}: {lines[min(1, len(lines) - 1)].strip()}") from None
    if unexpected or set(missing) - {"log_gain", "gain_fixed"}:
        raise ValueError(f"{path}: weights do not fit {size} "
                         f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")  # fmt: skip


def fit_variable_rate(
    train_dir: str | Path,
    out_dir: str | Path,
    config: VariableRateConfig,
    *,
    model_config: ModelConfig | None = None,
    init_from: str | Path | None = None,
    resume: bool = True,
    device: str | torch.device | None = None,
    progress: bool = True,
    val_dir: str | Path | None = None,
) -> Path:
    """Train (or go on training) a variable-rate model; returns the path of ``out_dir/last.pt``.

    Args (as :func:`~aecodec.training.train.fit`'s, but):
        out_dir: also receives ``best.pt``, the checkpoint of the best mean ratio.
        config: hyperparameters (:class:`~aecodec.config.VariableRateConfig`).
        model_config: architecture of a new model (default: the "variable-rate-wide" preset's); a resumed run
            keeps its own.
        init_from: weights that start a new run (see :func:`load_start`); ignored when resuming.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, log_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "log.csv"
    device = torch.device(device) if device is not None else default_device()
    gpu = device.type == "cuda"
    bf16 = gpu if config.bf16 is None else config.bf16

    state = safe_load(last_path) if resume and last_path.exists() else None
    if state is not None:
        model_config = ModelConfig.from_dict(state["model_config"])
    model_config = model_config or ModelConfig(family="variable-rate", N=64, M=256)
    if model_config.family != "variable-rate":
        raise ValueError(f"--variable-rate trains a variable-rate model, not a {model_config.family} one")
    torch.manual_seed(config.seed)
    model = build_model(model_config)
    if state is not None:
        model.load_state_dict(state["model"])
    elif init_from is not None:
        load_start(model, init_from)
    model.to(device).train()
    if gpu:
        model.to(memory_format=torch.channels_last)
    # the compiled wrapper shares the model's parameters; validation and checkpoints use the plain module
    forward = torch.compile(model) if config.compile else model

    main_params, aux_params = split_parameters(model)
    main_params = [p for p in main_params if p is not model.log_gain]
    optimizer = torch.optim.Adam([
        {"params": main_params, "lr": config.lr, "peak": config.lr},
        {"params": [model.log_gain], "lr": config.gain_lr, "peak": config.gain_lr},
    ])  # fmt: skip
    aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr)
    generator = torch.Generator().manual_seed(config.seed)
    train_files, val_files = training_split(train_dir, val_dir, config.val_fraction)
    val_crops = center_crops(val_files or train_files, config.val_crop).to(device)

    step, elapsed_before, cpu_before, best_ratio = 0, 0.0, 0.0, math.inf
    lineage = {"init_from": str(init_from) if init_from else None}
    teachers = ladder_models(device) if config.distill else None
    if config.distill and teachers is None:
        raise ValueError("distillation needs the shipped hyperprior ladder, which is not installed")
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        generator.set_state(state["generator"])
        step, elapsed_before, cpu_before = state["step"], state["elapsed_s"], state["cpu_s"]
        refs, refs_source, lineage = state["refs"], state["refs_source"], state["lineage"]
        best_ratio = state["best_mean_ratio"]
        drop_rows_after(log_path, step)
    else:
        ladder = ladder_models(device) if teachers is None else teachers
        if ladder is not None:
            criteria = [RateDistortionLoss(lmbda) for lmbda in QUALITY_LAMBDAS]
            refs = [evaluate(m, val_crops, criterion)["loss"] for m, criterion in zip(ladder, criteria)]
            refs_source = "the shipped hyperprior ladder"
        else:
            refs = [r["loss"] for r in heldout(model, val_crops)]
            refs_source = "the starting model"
        if init_from is not None:  # what the start had already had: a training checkpoint's record, or a
            start = safe_load(init_from)  # final checkpoint's metadata
            earlier = start.get("metadata") or {k: start[k] for k in ("step", "cpu_s", "lineage") if k in start}
            lineage["earlier"] = earlier
    sampler = CropSampler(train_files, config.crop_size, generator, device=device)

    new_log = state is None or not log_path.exists()
    log_file = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.DictWriter(log_file, fieldnames=LOG_FIELDS)
    if new_log:
        writer.writeheader()
    ref_t = torch.tensor(refs, device=device)
    lambdas = torch.tensor(QUALITY_LAMBDAS, device=device)
    levels = (torch.arange(config.batch_size) % LEVELS).to(device)
    t0, cpu0 = time.perf_counter(), time.process_time()
    elapsed = lambda: elapsed_before + time.perf_counter() - t0  # noqa: E731
    cpu = lambda: cpu_before + time.process_time() - cpu0  # noqa: E731
    limit = 60 * config.max_minutes if config.max_minutes else math.inf

    def progress_share() -> float:
        return max(step / config.steps, (time.perf_counter() - t0) / limit)

    def validate() -> float:
        nonlocal best_ratio
        results = heldout(model, val_crops)
        losses = [r["loss"] for r in results]
        ratios = [100 * (loss / ref - 1) for loss, ref in zip(losses, refs)]
        mean_ratio = sum(ratios) / LEVELS
        row = {"split": "val", "step": step, "elapsed_s": f"{elapsed():.1f}", "cpu_s": f"{cpu():.1f}",
               "loss": f"{sum(l / r for l, r in zip(losses, refs)) / LEVELS:.6g}",
               "mean_ratio_pct": f"{mean_ratio:+.3f}"}  # fmt: skip
        row.update({f"loss_q{l + 1}": f"{v:.6g}" for l, v in enumerate(losses)})
        row.update({f"ratio_q{l + 1}_pct": f"{v:+.3f}" for l, v in enumerate(ratios)})
        writer.writerow(row)
        log_file.flush()
        save_grid(val_crops.cpu(), torch.cat([results[l]["x_hat"][:6] for l in GRID_LEVELS]),
                  out_dir / f"val_{step:07d}.png")  # fmt: skip
        checkpoint = {
            "model": model.state_dict(), "model_config": model.config.to_dict(), "train_config": asdict(config),
            "optimizer": optimizer.state_dict(), "aux_optimizer": aux_optimizer.state_dict(),
            "generator": generator.get_state(), "step": step, "elapsed_s": elapsed(), "cpu_s": cpu(),
            "refs": refs, "refs_source": refs_source, "heldout_loss": losses, "ratio_pct": ratios,
            "mean_ratio_pct": mean_ratio, "best_mean_ratio": min(best_ratio, mean_ratio), "lineage": lineage,
        }  # fmt: skip
        atomic_torch_save(checkpoint, last_path)
        if mean_ratio < best_ratio:
            best_ratio = mean_ratio
            atomic_torch_save(checkpoint, best_path)
        return mean_ratio

    if state is None:
        validate()  # the starting point, in the log and in last.pt
    bar = tqdm(total=config.steps, initial=step, disable=not progress, unit="step", dynamic_ncols=True)
    sums, window = torch.zeros(4), 0
    try:
        while step < config.steps and progress_share() < 1:
            share = progress_share()
            factor = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
            factor *= config.final_lr_ratio + (1 - config.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * share))
            for group in optimizer.param_groups:
                group["lr"] = group["peak"] * factor
            x = sampler.batch(config.batch_size)
            if gpu:
                x = x.contiguous(memory_format=torch.channels_last)
            out = forward(x, levels, bf16_transforms=bf16)
            _, _, h, w = x.shape
            bpp = sum(-torch.log2(lk).flatten(1).sum(1) for lk in out["likelihoods"].values()) / (h * w)
            mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
            loss = ((lambdas[levels] * 255**2 * mse + bpp) / ref_t[levels]).mean()
            if teachers is not None:
                with torch.no_grad():  # crop i's teacher: the ladder model of its level, as the decoder sees it
                    taught = torch.cat([teachers[int(l)](x[i : i + 1])["x_hat"] for i, l in enumerate(levels)])
                pull = (out["x_hat"] - taught).pow(2).flatten(1).mean(1)
                loss = loss + config.distill * (lambdas[levels] * 255**2 * pull / ref_t[levels]).mean()
            optimizer.zero_grad(set_to_none=True)
            aux_optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):  # one bad batch must not poison the weights
                continue
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(main_params, config.clip_norm)
            optimizer.step()
            aux_loss = model.aux_loss()
            aux_loss.backward()
            aux_optimizer.step()
            step += 1
            bar.update(1)
            sums += torch.tensor([loss.item(), bpp.mean().item(), mse.mean().item(), float(grad_norm)])
            window += 1
            if step % config.log_every == 0:
                m = (sums / window).tolist()
                writer.writerow({"split": "train", "step": step, "loss": f"{m[0]:.6g}", "bpp": f"{m[1]:.6g}",
                                 "psnr_db": f"{psnr_from_mse(m[2]):.3f}", "grad_norm": f"{m[3]:.4g}",
                                 "lr": f"{optimizer.param_groups[0]['lr']:.3g}", "elapsed_s": f"{elapsed():.1f}",
                                 "cpu_s": f"{cpu():.1f}"})  # fmt: skip
                log_file.flush()
                bar.set_postfix(rel_loss=f"{m[0]:.4f}", bpp=f"{m[1]:.3f}")
                sums, window = torch.zeros(4), 0
            if step % config.val_every == 0:
                validate()
        if step % config.val_every:
            validate()  # the end of the round (steps or time), unless it was just validated
    finally:
        bar.close()
        log_file.close()
    return last_path
