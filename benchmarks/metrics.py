"""Distortion metrics on 8-bit RGB: PSNR and MS-SSIM (pytorch-msssim, the maintained implementation)."""

from __future__ import annotations

import math

import numpy as np

#: pytorch-msssim's 5 scales with an 11-pixel window need both sides larger than (11 - 1) * 2**4.
MS_SSIM_MIN_SIDE = 161


def psnr_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of the same shape (inf when identical)."""
    mse = np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse) if mse > 0 else math.inf


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
