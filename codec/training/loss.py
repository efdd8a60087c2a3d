"""The rate-distortion training objective: lambda * 255^2 * MSE + bits per pixel."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class RateDistortionLoss(nn.Module):
    """Lagrangian rate-distortion loss on images in [0, 1].

    Args:
        lmbda: weight of the distortion; larger values buy quality with bits.

    Returns (from forward): a dict with ``loss``, ``bpp_loss`` (estimated bits per pixel from the
    likelihoods) and ``mse_loss`` (on the [0, 1] scale).
    """

    def __init__(self, lmbda: float) -> None:
        super().__init__()
        self.lmbda = lmbda

    def forward(self, output: dict, target: torch.Tensor) -> dict:
        n, _, h, w = target.shape
        num_pixels = n * h * w
        bpp = sum(torch.log(lk).sum() for lk in output["likelihoods"].values()) / (-math.log(2) * num_pixels)
        mse = F.mse_loss(output["x_hat"], target)
        return {"loss": self.lmbda * 255**2 * mse + bpp, "bpp_loss": bpp, "mse_loss": mse}
