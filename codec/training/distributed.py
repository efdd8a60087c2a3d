"""Multi-process training: the same ``fit`` runs alone or under ``torchrun`` (DistributedDataParallel).

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; with WORLD_SIZE > 1 every process trains on its own crops,
gradients are averaged by DistributedDataParallel, and only rank 0 logs, validates and saves checkpoints.
The backend is NCCL on CUDA and gloo on the CPU.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> DistributedContext:
    """The process's place in a torchrun job (a single process when the variables are absent)."""
    try:
        return DistributedContext(
            rank=int(os.environ.get("RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )
    except ValueError as exc:
        raise ValueError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None


@contextmanager
def process_group(ctx: DistributedContext, device: torch.device):
    """Join the job's process group for the duration of training (no-op for a single process)."""
    created = False
    if ctx.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        created = True
    try:
        yield
    finally:
        if created:
            dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: DistributedContext, device: torch.device) -> torch.nn.Module:
    """The module to run forward passes through: DDP-wrapped when the job has several processes."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # the entropy bottleneck's quantiles are trained by the auxiliary loss alone, outside the DDP forward:
    # DDP must leave them out (average_gradients syncs them after the auxiliary backward)
    aux_names = [name for name, _ in model.named_parameters() if name.endswith(".quantiles")]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, aux_names)
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def average_gradients(params: list[torch.nn.Parameter], ctx: DistributedContext) -> None:
    """All-reduce (mean) the gradients of parameters that DDP does not handle (the auxiliary ones)."""
    if not ctx.enabled:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= ctx.world_size


def barrier(ctx: DistributedContext) -> None:
    if ctx.enabled:
        dist.barrier()
