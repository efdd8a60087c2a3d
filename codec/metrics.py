"""PSNR, the one formula every part of aecodec (training logs, benchmarks, scripts, tests) uses."""

from __future__ import annotations

import math

import numpy as np


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    """PSNR in dB of a mean squared error on a signal whose largest value is ``peak`` (inf for 0)."""
    return 10 * math.log10(peak**2 / mse) if mse > 0 else math.inf


def psnr_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB of two uint8 arrays of the same shape (inf when identical)."""
    mse = float(np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return psnr_from_mse(mse, 255.0)
