"""Fitting an adapter (``aecodec adapt``): low-rank updates of the variable-rate model's transforms, trained on
one user's kind of images for a fixed budget of CPU time.

The base model's weights stay frozen. Every convolution of the adapted transforms (:data:`aecodec.adapter.KINDS`)
gets a rank-r update up @ down (LoRA: up starts at zero, so training starts from the base model exactly), and
every small tensor (bias, GDN beta and gamma) a full update. The objective is the coder's own, as refinement
(:mod:`aecodec.refine`) uses it: the latent rounded straight-through at each crop's quality gain, its bits
under the frozen entropy models, the synthesis of what the decoder will get. Crop i of a batch trains level
i mod 8 at its lambda, each level's loss divided by the base model's on fixed training crops, so that every
quality weighs about the same. Training runs until ``minutes`` of this process's CPU time are spent (or
``steps``), on a cosine schedule over whichever ends first.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn
from torch.nn.utils import parametrize

from .. import zoo
from ..adapter import (
    ADAPTER_FORMAT, ADAPTER_FORMAT_VERSION, KINDS, SUFFIX, Adapter, check_name, content_sha256, low_rank_update,
    read_adapter,
)  # fmt: skip
from ..checkpoint import load_final
from ..config import MIN_QUALITY, QUALITY_LAMBDAS
from ..errors import AdapterError
from ..models.base import bottleneck_bits, bottleneck_coded, straight_through_round
from ..models.integer_net import GAIN_BITS
from ..models.variable_rate import VariableRateHyperprior
from .adapt_report import DEFAULT_QUALITIES, heldout_report
from .data import CropSampler
from .export import atomic_compressed_save

LEVELS = len(QUALITY_LAMBDAS)
#: Crops the base model's reference loss per level is measured on (8 per level: a few crops of a chart can be all
#: white, and a level's weight is 1 / its reference).
REFERENCE_CROPS = 8 * LEVELS
#: The largest adapter file: its updates in float16 (compression saves little on trained values).
MAX_ADAPTER_BYTES = 1_000_000


@dataclass(frozen=True)
class AdaptConfig:
    """How an adapter is fitted.

    Args:
        kind: which transforms it changes (:data:`aecodec.adapter.KINDS`).
        rank: rank of each convolution's update.
        minutes: CPU minutes of training (this process's CPU time, all threads together).
        steps: at most this many steps (None: the time alone ends training).
        batch_size, crop_size: crops per step and their side (a multiple of 64, the hyperprior's factor).
        lr: Adam's peak step size on the low-rank factors; the full updates take ``lr * full_lr_ratio``.
        clip_norm: gradient-norm clipping (the straight-through rate has rare large gradients).
        seed: seeds the factors' start and the crop sampler.
    """

    kind: str = "decoder"
    rank: int = 8
    minutes: float = 20.0
    steps: int | None = None
    batch_size: int = 8
    crop_size: int = 256  # 128 lost to the base model (docs/models.md, per-domain adapters)
    lr: float = 2e-4  # measured on 20-CPU-minute adapters (docs/models.md): 5e-5 was chosen on 120 steps
    full_lr_ratio: float = 1.0
    clip_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown adapter kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.rank < 1 or self.batch_size < 1 or self.crop_size % 64 or self.crop_size < 64:
            raise ValueError("rank and batch_size must be positive, crop_size a positive multiple of 64")
        if not self.minutes > 0 or (self.steps is not None and self.steps < 1):
            raise ValueError("minutes and steps must be positive")


class LowRank(nn.Module):
    """A weight plus up @ down (up starts at zero): the parametrization of an adapted convolution."""

    def __init__(self, shape: torch.Size, rank: int, generator: torch.Generator) -> None:
        super().__init__()
        fan_in = math.prod(shape[1:])
        self.up = nn.Parameter(torch.zeros(shape[0], rank))
        self.down = nn.Parameter(torch.randn(rank, fan_in, generator=generator) / math.sqrt(fan_in))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + low_rank_update(self.up, self.down, weight.shape)


class Full(nn.Module):
    """A tensor plus a full update (starts at zero): biases, GDN's beta and gamma."""

    def __init__(self, shape: torch.Size) -> None:
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(shape))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        return value + self.delta


def attach(model: VariableRateHyperprior, kind: str, rank: int, generator: torch.Generator) -> dict[str, nn.Module]:
    """Freeze ``model`` and parametrize the parameters ``kind`` adapts; returns name -> its update module."""
    model.requires_grad_(False)
    updates = {}
    for name, param in list(model.named_parameters()):
        if not name.startswith(KINDS[kind]):
            continue
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        conv = isinstance(owner, (nn.Conv2d, nn.ConvTranspose2d)) and attr == "weight"
        update = LowRank(param.shape, rank, generator) if conv else Full(param.shape)
        parametrize.register_parametrization(owner, attr, update)
        updates[name] = update
    return updates


def level_gains(model: VariableRateHyperprior) -> torch.Tensor:
    """The coder's gains of every level (LEVELS, M), from the frozen fixed-point ones."""
    return (model.gain_fixed.double() / 2**GAIN_BITS).float()


def coded_loss(
    model: VariableRateHyperprior, x: torch.Tensor, levels: torch.Tensor, gains: torch.Tensor
) -> torch.Tensor:
    """Each crop's rate-distortion loss at its level as the coder codes it: lambda * 255^2 * MSE + bits per
    pixel, the latent rounded straight-through, bits under the frozen entropy models (B,)."""
    gain = gains[levels][:, :, None, None]
    y = model.g_a(x)
    z_hat = bottleneck_coded(model.entropy_bottleneck, model.hyper_analysis(y))
    y_hat = straight_through_round(y * gain)
    conditional = model.gaussian_conditional
    likelihood = conditional.likelihood_lower_bound(conditional._likelihood(y_hat, model.h_s(z_hat) * gain))
    bits = -torch.log2(likelihood).sum((1, 2, 3))
    z_bits = [bottleneck_bits(model.entropy_bottleneck, z_hat[i : i + 1]).sum() for i in range(len(x))]
    bits = bits + torch.stack(z_bits)
    x_hat = model.g_s(y_hat / gain).clamp(0, 1)
    mse = ((x_hat - x) ** 2).mean((1, 2, 3))
    lambdas = torch.tensor(QUALITY_LAMBDAS, device=x.device)[levels]
    return lambdas * 255**2 * mse + bits / (x.shape[-2] * x.shape[-1])


def crop_side(files: list[Path], crop_size: int) -> int:
    """``crop_size``, or for a folder of smaller images the largest multiple of 64 (the hyperprior's: y and z
    whole) that its largest image holds."""
    sides = []
    for path in files:
        with Image.open(path) as image:
            sides.append(min(image.size))
    side = min(crop_size, max(sides, default=0) // 64 * 64)
    if side < 64:
        raise ValueError("adapting needs images of at least 64 x 64 pixels")
    return side


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit_adapter` made: the adapter (as its file will hold it) and how the time went."""

    adapter: Adapter
    record: dict
    steps: int
    cpu_minutes: float
    wall_minutes: float
    start_loss: float
    end_loss: float


def fit_adapter(
    model: VariableRateHyperprior,
    train_files: list[Path],
    name: str,
    base_model_id: str,
    base_sha256: str,
    config: AdaptConfig = AdaptConfig(),
    on_progress: Callable[[float, int, float], None] | None = None,
) -> FitResult:
    """Fit an adapter of ``model`` (a freshly loaded base model; it is changed) on ``train_files``.

    Args:
        name: the adapter's name (what streams record).
        base_model_id, base_sha256: the base model's concrete id and checkpoint sha256.
        on_progress: called after each step with (fraction of the budget spent, steps, loss ratio).

    Returns:
        The adapter with its updates rounded to float16, as stored, and the record to write.
    """
    check_name(name)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = CropSampler(train_files, crop_side(train_files, config.crop_size), generator)
    model.eval()
    gains = level_gains(model)
    levels = torch.arange(config.batch_size) % LEVELS
    with torch.no_grad():  # each level's reference: the base model's loss on fixed crops of the training set
        reference_crops = sampler.batch(REFERENCE_CROPS)
        reference_levels = torch.arange(REFERENCE_CROPS) % LEVELS
        base = coded_loss(model, reference_crops, reference_levels, gains)
        reference = torch.stack([base[reference_levels == l].mean() for l in range(LEVELS)])
    updates = attach(model, config.kind, config.rank, generator)
    low_rank = [p for u in updates.values() if isinstance(u, LowRank) for p in u.parameters()]
    full = [p for u in updates.values() if isinstance(u, Full) for p in u.parameters()]
    optimizer = torch.optim.Adam([{"params": low_rank, "lr": config.lr},
                                  {"params": full, "lr": config.lr * config.full_lr_ratio}])  # fmt: skip
    peaks = [config.lr, config.lr * config.full_lr_ratio]
    budget = config.minutes * 60
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    step, ratios = 0, []
    while True:
        spent = (time.process_time() - cpu_start) / budget
        if config.steps is not None:
            spent = max(spent, step / config.steps)
        if spent >= 1:
            break
        for group, peak in zip(optimizer.param_groups, peaks):  # cosine to 0 over the budget
            group["lr"] = peak * 0.5 * (1 + math.cos(math.pi * spent))
        loss = (coded_loss(model, sampler.batch(config.batch_size), levels, gains) / reference[levels]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(low_rank + full, config.clip_norm)
        optimizer.step()
        step += 1
        ratios.append(float(loss.detach()))
        if on_progress is not None:
            on_progress(min(1.0, spent), step, ratios[-1])
    cpu_minutes = (time.process_time() - cpu_start) / 60
    wall_minutes = (time.perf_counter() - wall_start) / 60
    window = max(1, min(50, len(ratios) // 5))  # the loss ratio at the start and the end, smoothed
    record = adapter_record(updates, name, config.kind, base_model_id, base_sha256,
                            {"steps": step, "cpu_minutes": round(cpu_minutes, 2), "config": asdict(config),
                             "training_images": len(train_files)})  # fmt: skip
    adapter = Adapter.from_record(record)
    start, end = sum(ratios[:window]) / window, sum(ratios[-window:]) / window
    return FitResult(adapter, record, step, cpu_minutes, wall_minutes, start, end)


def adapter_record(updates: dict[str, nn.Module], name: str, kind: str, base_model_id: str, base_sha256: str,
                   made: dict) -> dict:  # fmt: skip
    """The record an adapter file stores: its updates in float16 (what loading merges), the base model, how it
    was made, and the sha256 of all that."""
    tensors = {}
    for param_name, update in updates.items():
        parts = {"up": update.up, "down": update.down} if isinstance(update, LowRank) else {"delta": update.delta}
        tensors[param_name] = {k: v.detach().half().contiguous() for k, v in parts.items()}
    record = {"format": ADAPTER_FORMAT, "format_version": ADAPTER_FORMAT_VERSION, "name": name, "kind": kind,
              "base": {"model_id": base_model_id, "sha256": base_sha256}, "made": made, "updates": tensors}  # fmt: skip
    record["sha256"] = content_sha256(record)
    return record


def with_made(record: dict, **facts) -> dict:
    """``record`` with more facts about how it was made (held-out figures), its hash recomputed."""
    record = {**record, "made": {**record["made"], **facts}}
    record["sha256"] = content_sha256(record)
    return record


def write_adapter(record: dict, path: str | Path) -> int:
    """Write an adapter file whole or not at all; returns its size in bytes."""
    atomic_compressed_save(record, path)
    return Path(path).stat().st_size


def make_adapter(
    train_files: list[Path],
    heldout_files: list[Path],
    path: str | Path,
    model_id: str = zoo.VARIABLE_RATE_MODEL_ID,
    config: AdaptConfig = AdaptConfig(),
    qualities=DEFAULT_QUALITIES,
    checkpoint_dir: str | Path | None = None,
    on_progress: Callable[[float, int, float], None] | None = None,
) -> dict:
    """Fit an adapter of the variable-rate model ``model_id`` on ``train_files``, measure it on
    ``heldout_files`` against the base model, and write it (named after the file) to ``path``.

    Returns:
        What happened: kind, file size, sha256, steps, CPU and wall minutes, the held-out report.

    Raises:
        AdapterError: ``model_id`` is not a variable-rate model, or the adapter would exceed 1 MB.
    """
    path = Path(path)
    name = check_name(path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem)
    entry = zoo.lookup(model_id, MIN_QUALITY, checkpoint_dir)
    if not entry.variable_rate:
        raise AdapterError(
            f"adapters are made for a variable-rate model ({zoo.VARIABLE_RATE_MODEL_ID}), not {model_id}"
        )
    model = load_final(entry.path, expected_sha256=entry.sha256)
    size = stored_bytes(model, config.kind, config.rank)
    if size > MAX_ADAPTER_BYTES:
        raise AdapterError(f"a rank-{config.rank} {config.kind} adapter holds {size:,} bytes of updates, over the "
                           f"{MAX_ADAPTER_BYTES:,}-byte limit: use a lower rank")  # fmt: skip
    fit = fit_adapter(model, train_files, name, entry.model_id, entry.sha256, config, on_progress)
    report = heldout_report(entry.model_id, fit.adapter, heldout_files, qualities, checkpoint_dir)
    record = with_made(fit.record, wall_minutes=round(fit.wall_minutes, 2), heldout=report)
    file_bytes = write_adapter(record, path)
    adapter = read_adapter(path)  # as every user of it will read it
    return {"name": name, "kind": adapter.kind, "decoder_side": adapter.decoder_side, "path": str(path),
            "bytes": file_bytes, "sha256": adapter.sha256, "base_model_id": entry.model_id, "steps": fit.steps,
            "cpu_minutes": round(fit.cpu_minutes, 2), "wall_minutes": round(fit.wall_minutes, 2),
            "loss_ratio_start": round(fit.start_loss, 4), "loss_ratio_end": round(fit.end_loss, 4),
            "training_images": len(train_files), "heldout": report}  # fmt: skip


def stored_bytes(model: VariableRateHyperprior, kind: str, rank: int) -> int:
    """Bytes of float16 updates an adapter of ``kind`` and ``rank`` stores for ``model`` (before compression)."""
    total = 0
    for name, param in model.named_parameters():
        if name.startswith(KINDS[kind]):
            conv = param.dim() == 4
            total += rank * (param.shape[0] + math.prod(param.shape[1:])) if conv else param.numel()
    return 2 * total
