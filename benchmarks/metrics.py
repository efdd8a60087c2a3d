"""Distortion metrics on 8-bit RGB: PSNR (:mod:`aecodec.metrics`) and MS-SSIM (pytorch-msssim, the maintained
implementation)."""

from __future__ import annotations

import math

import numpy as np

from ..metrics import psnr_db

__all__ = ["MS_SSIM_MIN_SIDE", "ms_ssim", "psnr_db"]

#: pytorch-msssim's 5 scales with an 11-pixel window need both sides larger than (11 - 1) * 2**4.
MS_SSIM_MIN_SIDE = 161


def ms_ssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM (0..1) of two HxWx3 uint8 arrays; NaN for images too small for its five scales."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    # float32 agrees with float64 to about 1e-7 here and runs 5x faster
    x, y = (torch.tensor(a, dtype=torch.float32).permute(2, 0, 1)[None] for a in (original, decoded))
    with torch.no_grad():
        return float(_ms_ssim(x, y, data_range=255, size_average=True))
