"""Encoder-side refinement of the latent: encoding time spent for smaller files at better quality.

The analysis transform g_a is a learned, amortised guess of the best latent for any image; with our short
training it is far from the best latent for a given image. Refinement starts from y = g_a(x) and runs a few
steps of Adam on y itself to lower the model's own objective for this one image, lambda * 255^2 * MSE + bits,
through the decoder g_s and the entropy model exactly as they are (Campos et al. 2019, "Content adaptive
optimization for neural image compression"; Yang et al. 2020, "Improving inference for neural image
compression"). Rounding is straight-through, so the loss sees the latent the decoder will see.

Nothing changes for decoding: a refined stream is an ordinary .aec stream of the same model. What changes is
the encoder's cost (a forward and backward pass of the synthesis per step) and reproducibility: the gradients
are float sums whose order depends on the thread count, so a refined stream is byte-identical only on the
same machine and thread count (it still decodes identically everywhere). Without refinement, encoding is
byte-identical across thread counts.

Memory stays bounded as in coding (codec/tiling.py): the latent is refined window by window, each with a
margin of fixed, already refined neighbours, and the distortion counts only the image's own pixels (not the
padding up to the model's multiple, so no bits are spent on it).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from . import tiling

#: Side of a refinement window in latent positions (1024 pixels): its activations and gradients take a few
#: hundred MB for the "small" models, whatever the image size.
WINDOW = 64
#: Latent positions of fixed context around a window: more than the synthesis' reach (2 positions), and a
#: multiple of 4 so that a hyperprior's hyper-latent (1/4 of y a side) lines up with the window.
CONTEXT = 4
#: Adam's peak step size on y (cosine decay to 0 over the steps), and the steps the benchmark's "-refined"
#: codecs use: chosen on held-out training photos (experiments/refine_tuning.py,
#: benchmarks/results/refine_tuning.json), never on the benchmark images. More steps keep paying, slowly.
DEFAULT_LR = 0.01
DEFAULT_STEPS = 40


def refine_latent(
    model: torch.nn.Module,
    y: torch.Tensor,
    pixels: np.ndarray,
    lmbda: float,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    window: int = WINDOW,
    on_step: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """A refined copy of the latent ``y`` (1, M, h, w) of the H x W x 3 uint8 image ``pixels``.

    Args:
        model: a model with ``coded_latent``, ``estimated_bits`` and ``synthesis`` (codec/models/base.py).
        lmbda: the rate-distortion weight the model was trained for (its quality's lambda).
        steps: Adam steps per window; 0 returns ``y`` unchanged.
        on_step: called with (steps done, steps in all, over all windows) after each step, for progress.
    """
    if steps < 0:
        raise ValueError(f"refinement steps must be >= 0, got {steps}")
    if steps == 0:
        return y
    latent_shape = tuple(y.shape[-2:])
    refined = y.detach().clone()
    windows = tiling.grid(latent_shape, window)
    total = steps * len(windows)
    with torch.enable_grad(), _frozen(model):
        for index, inner in enumerate(windows):

            def tick(step: int, before: int = index * steps) -> None:
                if on_step is not None:
                    on_step(before + step, total)

            x, outer = tiling.tile_input(pixels, inner, CONTEXT, model.latent_factor, latent_shape)
            x = x.to(y.device)
            best = _refine_window(model, refined, inner, outer, x, pixels.shape[:2], lmbda, steps, lr, tick)
            refined[..., inner.top : inner.bottom, inner.left : inner.right] = best
    return refined


@contextmanager
def _frozen(model: torch.nn.Module):
    """No gradients for the weights while refining: only y's are needed (less memory, less time)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _refine_window(model, y, inner, outer, x, image_size, lmbda, steps, lr, tick) -> torch.Tensor:
    """The best latent of window ``inner`` found in ``steps`` Adam steps, its ``outer`` neighbours fixed."""
    context = y[..., outer.top : outer.bottom, outer.left : outer.right].detach()
    rows = slice(inner.top - outer.top, inner.bottom - outer.top)
    cols = slice(inner.left - outer.left, inner.right - outer.left)
    variable = context[..., rows, cols].clone().requires_grad_(True)
    mask = _image_mask(outer, model.latent_factor, image_size).to(x.device)
    pixels_in_window = max(1.0, float(_image_mask(inner, model.latent_factor, image_size).sum()))
    optimizer = torch.optim.Adam([variable], lr=lr)
    best, best_loss = variable.detach().clone(), float("inf")
    for step in range(steps + 1):  # the last pass only scores the last update
        latent = context.clone()
        latent[..., rows, cols] = variable
        x_hat = model.synthesis(model.coded_latent(latent)).clamp(0, 1)
        squared_error = ((x_hat - x) ** 2 * mask).sum() / x.shape[1]  # per pixel, averaged over channels
        bits = sum(
            _window_part(bit_map, latent.shape[-1] // bit_map.shape[-1], rows, cols).sum()
            for bit_map in model.estimated_bits(latent).values()
        )  # fmt: skip
        loss = (lmbda * 255**2 * squared_error + bits) / pixels_in_window
        if float(loss.detach()) < best_loss:
            best, best_loss = variable.detach().clone(), float(loss.detach())
        if step == steps:
            break
        for group in optimizer.param_groups:  # cosine decay to 0: big moves first, then settle
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        (variable.grad,) = torch.autograd.grad(loss, [variable])
        optimizer.step()
        tick(step + 1)
    return best


def _window_part(bit_map: torch.Tensor, stride: int, rows: slice, cols: slice) -> torch.Tensor:
    """The part of a bit map (``stride`` latent positions per element) that belongs to the window."""
    return bit_map[..., rows.start // stride : -(-rows.stop // stride), cols.start // stride : -(-cols.stop // stride)]


def _image_mask(tile: tiling.Tile, factor: int, image_size: tuple[int, int]) -> torch.Tensor:
    """1 for the pixels of ``tile`` that lie inside the image, 0 for the padding: (1, 1, h, w)."""
    height, width = image_size
    rows = torch.arange(tile.top * factor, tile.bottom * factor) < height
    cols = torch.arange(tile.left * factor, tile.right * factor) < width
    return (rows[:, None] & cols[None, :]).float()[None, None]
