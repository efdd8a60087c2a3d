"""Training: fit a model to a folder of photos under the rate-distortion loss.

``fit`` is a plain function with typed arguments (no argparse, no click): the CLI and scripts call it.
It logs to the terminal (progress bar) and to ``log.csv``, writes a PNG grid of validation crops (originals
above reconstructions) at each validation, saves ``last.pt`` to resume from, and uses CUDA when present.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checkpoint import safe_load, with_code_constants
from ..config import ModelConfig, TrainConfig
from ..metrics import psnr_from_mse
from ..models import build_model
from . import distributed
from .data import CropSampler, center_crops, training_split
from .export import atomic_torch_save
from .loss import RateDistortionLoss
from .widen import grow_latent

LOG_FIELDS = (
    "split", "step", "loss", "bpp", "mse", "psnr_db", "aux_loss", "grad_norm", "lr", "elapsed_s", "mpix_per_s",
)  # fmt: skip


def default_device(local_rank: int = 0) -> torch.device:
    return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")


def split_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(main, auxiliary) parameters: the entropy bottleneck's quantiles are trained by their own optimizer.
    Frozen parameters (requires_grad False) are in neither."""
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return main, aux


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``lr * final_lr_ratio`` at the last step."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.lr * config.final_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: torch.nn.Module, crops: torch.Tensor, criterion: RateDistortionLoss, batch: int = 8) -> dict:
    """Validation with real rounding (eval mode): mean loss, bpp, MSE; and the reconstructions."""
    model.eval()
    totals = {"loss": 0.0, "bpp_loss": 0.0, "mse_loss": 0.0}
    recons = []
    for i in range(0, len(crops), batch):
        x = crops[i : i + batch]
        out = model(x)
        out["x_hat"] = out["x_hat"].clamp(0, 1)
        losses = criterion(out, x)
        for key in totals:
            totals[key] += float(losses[key]) * len(x)
        recons.append(out["x_hat"].cpu())
    model.train()
    means = {k: v / len(crops) for k, v in totals.items()}
    return {**means, "x_hat": torch.cat(recons)}


def save_grid(originals: torch.Tensor, recons: torch.Tensor, path: Path, count: int = 6) -> None:
    """PNG with up to ``count`` validation crops: originals in the top row, reconstructions below."""
    from torchvision.utils import save_image

    n = min(count, len(originals))
    save_image(torch.cat([originals[:n], recons[:n]]), path, nrow=n, padding=4, pad_value=1.0)


def drop_rows_after(log_path: Path, step: int) -> None:
    """Keep only the rows of ``log_path`` up to ``step``: a run stopped between two checkpoints logged steps that
    its resumption trains again, and keeping them would list those steps twice."""
    with open(log_path, newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if row["step"] and int(row["step"]) <= step]
        fields = reader.fieldnames or LOG_FIELDS
    tmp = log_path.with_name(log_path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(log_path)


def load_initial_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Start from another run's weights (training or final checkpoint), e.g. to fine-tune to a new lambda.

    From a model of another family (a factorized run starting a hyperprior) only the transforms g_a and g_s
    are taken, where their shapes agree: the new parts (hyper-transforms, entropy models) start fresh. From a
    model of the same family with fewer latent channels M, the latent grows (codec/training/widen.py): the new model
    starts out coding every image exactly as the old one did. A scale-only hyperprior starting a mean-scale
    one leaves the mean layers at their zero start: again the same coding to begin with.
    """
    ckpt = safe_load(path)
    state = ckpt.get("model", ckpt.get("state_dict"))
    if state is None:
        raise ValueError(f"{path} holds no model weights")
    state = with_code_constants(model, {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    source = ckpt.get("model_config", ckpt.get("config")) or {}
    family = source.get("family", model.config.family)
    if family == model.config.family and getattr(model.config, "means", False) and not source.get("means"):
        own = model.state_dict()
        state = {**{k: v for k, v in own.items() if k.startswith(("h_a_signed.", "h_m."))}, **state}
    if family == model.config.family:
        source_M = source.get("M", model.config.M)
        if source_M != model.config.M and source.get("N", model.config.N) == model.config.N:
            grow_latent(model, state, source_M)
        else:
            model.load_state_dict(state)
        return
    own = model.state_dict()
    transforms = ("g_a.", "g_s.")
    shared = {k: v for k, v in state.items() if k.startswith(transforms) and k in own and own[k].shape == v.shape}
    if not shared or len(shared) != sum(k.startswith(transforms) for k in own):
        raise ValueError(f"{path}: a {family} model whose transforms do not fit this {model.config.family} model")
    own.update(shared)
    model.load_state_dict(own)


def fit(
    train_dir: str | Path,
    out_dir: str | Path,
    model_config: ModelConfig,
    config: TrainConfig,
    *,
    init_from: str | Path | None = None,
    resume: bool = True,
    device: str | torch.device | None = None,
    progress: bool = True,
    val_dir: str | Path | None = None,
) -> Path:
    """Train a model and return the path of its training checkpoint (``out_dir/last.pt``).

    Args:
        train_dir: folder of photos; a hashed ``val_fraction`` of them is held out for validation, unless
            ``val_dir`` names a folder of validation images.
        out_dir: receives ``last.pt``, ``log.csv`` and ``val_<step>.png`` grids.
        model_config: architecture of a new model (ignored in favour of the stored one when resuming).
        config: hyperparameters.
        init_from: checkpoint whose weights start a new run (fine-tuning); ignored when resuming.
        resume: continue from ``out_dir/last.pt`` when it exists.
        device: defaults to CUDA when available (one GPU per torchrun process), else CPU.
        progress: show a progress bar.

    Under ``torchrun --nproc_per_node N`` the same call trains with DistributedDataParallel: each process
    draws its own ``batch_size`` crops (the global batch is N times larger) and rank 0 alone logs,
    validates and writes checkpoints.
    """
    ctx = distributed.from_environment()
    device = torch.device(device) if device is not None else default_device(ctx.local_rank)
    with distributed.process_group(ctx, device):
        return _fit(train_dir, out_dir, model_config, config, init_from, resume, device, progress, ctx, val_dir)


def _fit(train_dir, out_dir, model_config, config, init_from, resume, device, progress, ctx, val_dir) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    last_path = out_dir / "last.pt"

    state = safe_load(last_path) if resume and last_path.exists() else None
    if state is not None:
        model_config = ModelConfig.from_dict(state["model_config"])

    torch.manual_seed(config.seed)
    model = build_model(model_config)
    factor = model.downsampling_factor
    if config.crop_size % factor or config.val_crop % factor:
        raise ValueError(
            f"crop sizes must be multiples of {factor} for a {model_config.family} model "
            f"(got crop {config.crop_size}, validation crop {config.val_crop})"
        )
    if state is not None:
        model.load_state_dict(state["model"])
    elif init_from is not None:
        load_initial_weights(model, init_from)
    if config.freeze_transforms:
        for part in (model.g_a, model.g_s):
            part.requires_grad_(False)
    model.to(device).train()
    # the DDP / compiled wrappers share the model's parameters; checkpoints and validation use the plain module
    forward = distributed.wrap(model, ctx, device)
    if config.compile:
        forward = torch.compile(forward)

    main_params, aux_params = split_parameters(model)
    optimizer = torch.optim.Adam(main_params, lr=config.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr)
    generator = torch.Generator().manual_seed(config.seed + ctx.rank)  # each process its own crops
    start_step, elapsed_before = 0, 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        start_step, elapsed_before = state["step"], state["elapsed_s"]
        if ctx.is_main:
            generator.set_state(state["generator"])
        else:  # only rank 0's sampler state is saved; the others draw a fresh stream for the resumed steps
            generator.manual_seed(config.seed + 1_000_003 * ctx.rank + start_step)

    train_files, val_files = training_split(train_dir, val_dir, config.val_fraction)
    sampler = CropSampler(train_files, config.crop_size, generator)
    val_crops = center_crops(val_files or train_files, config.val_crop, factor).to(device)
    criterion = RateDistortionLoss(config.lmbda)

    log_path = out_dir / "log.csv"
    if ctx.is_main:
        new_log = not log_path.exists() or state is None
        if not new_log:
            drop_rows_after(log_path, start_step)
        log_file = open(log_path, "w" if new_log else "a", newline="")
        writer = csv.DictWriter(log_file, fieldnames=LOG_FIELDS)
        if new_log:
            writer.writeheader()

    def save(step: int, elapsed: float) -> None:
        atomic_torch_save(
            {
                "model": model.state_dict(),
                "model_config": model.config.to_dict(),
                "train_config": asdict(config),
                "optimizer": optimizer.state_dict(),
                "aux_optimizer": aux_optimizer.state_dict(),
                "generator": generator.get_state(),
                "step": step,
                "elapsed_s": elapsed,
            },
            last_path,
        )

    step_parts = StepParts(forward, model, criterion, optimizer, aux_optimizer, main_params, aux_params,
                           config.clip_norm, ctx, config.rounded_synthesis)  # fmt: skip
    if not ctx.is_main:  # the same updates as rank 0, without logging, validation or saving
        for step in range(start_step, config.steps):
            train_step(step_parts, sampler.batch(config.batch_size).to(device), learning_rate(step, config))
        distributed.barrier(ctx)  # rank 0 has written the last checkpoint when this returns
        return last_path

    pixels_per_step = config.batch_size * config.crop_size**2 * ctx.world_size
    bar = tqdm(total=config.steps, initial=start_step, disable=not progress, unit="step", dynamic_ncols=True)
    t0 = time.perf_counter()
    window_t, window_steps = t0, 0
    sums = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "aux_loss": 0.0, "grad_norm": 0.0}
    try:
        for step in range(start_step, config.steps):
            lr = learning_rate(step, config)
            losses, aux_loss, grad_norm = train_step(step_parts, sampler.batch(config.batch_size).to(device), lr)

            sums["loss"] += losses["loss"].item()
            sums["bpp"] += losses["bpp_loss"].item()
            sums["mse"] += losses["mse_loss"].item()
            sums["aux_loss"] += aux_loss.item()
            sums["grad_norm"] += float(grad_norm)
            window_steps += 1
            done = step + 1
            bar.update(1)

            if done % config.log_every == 0 or done == config.steps:
                now = time.perf_counter()
                means = {k: v / window_steps for k, v in sums.items()}
                row = {
                    "split": "train", "step": done, **{k: f"{v:.6g}" for k, v in means.items()},
                    "psnr_db": f"{psnr_from_mse(means['mse']):.3f}", "lr": f"{lr:.3g}",
                    "elapsed_s": f"{elapsed_before + now - t0:.1f}",
                    "mpix_per_s": f"{pixels_per_step * window_steps / (now - window_t) / 1e6:.4f}",
                }  # fmt: skip
                writer.writerow(row)
                log_file.flush()
                bar.set_postfix(
                    loss=f"{means['loss']:.3f}", bpp=f"{means['bpp']:.3f}", psnr=row["psnr_db"], aux=f"{means['aux_loss']:.0f}"
                )
                sums = dict.fromkeys(sums, 0.0)
                window_t, window_steps = now, 0

            if done % config.val_every == 0 or done == config.steps:
                val = evaluate(model, val_crops, criterion)
                elapsed = elapsed_before + time.perf_counter() - t0
                writer.writerow(
                    {
                        "split": "val", "step": done, "loss": f"{val['loss']:.6g}", "bpp": f"{val['bpp_loss']:.6g}",
                        "mse": f"{val['mse_loss']:.6g}", "psnr_db": f"{psnr_from_mse(val['mse_loss']):.3f}",
                        "lr": f"{lr:.3g}", "elapsed_s": f"{elapsed:.1f}",
                    }  # fmt: skip
                )
                log_file.flush()
                save_grid(val_crops.cpu(), val["x_hat"], out_dir / f"val_{done:07d}.png")
                save(done, elapsed)
    finally:
        bar.close()
        log_file.close()
    distributed.barrier(ctx)
    return last_path


@dataclass
class StepParts:
    """What one optimisation step touches."""

    forward: torch.nn.Module  # the model, or its DDP / compiled wrapper
    model: torch.nn.Module
    criterion: RateDistortionLoss
    optimizer: torch.optim.Optimizer
    aux_optimizer: torch.optim.Optimizer
    main_params: list
    aux_params: list
    clip_norm: float
    ctx: distributed.DistributedContext
    rounded_synthesis: bool = False


def train_step(parts: StepParts, x: torch.Tensor, lr: float) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """One update of the main parameters (RD loss, clipped) and of the auxiliary quantiles."""
    for group in parts.optimizer.param_groups:
        group["lr"] = lr
    parts.optimizer.zero_grad(set_to_none=True)
    parts.aux_optimizer.zero_grad(set_to_none=True)
    losses = parts.criterion(parts.forward(x, rounded_synthesis=parts.rounded_synthesis), x)
    losses["loss"].backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(parts.main_params, parts.clip_norm)
    parts.optimizer.step()
    aux_loss = parts.model.aux_loss()
    aux_loss.backward()
    distributed.average_gradients(parts.aux_params, parts.ctx)
    parts.aux_optimizer.step()
    return losses, aux_loss, grad_norm
