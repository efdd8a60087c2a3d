"""PSNR and BD-rate: the one formula of each that every part of aecodec (training logs, benchmarks, adapters,
scripts, tests) uses."""

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


def _monotone(bpp: list[float], psnr: list[float]) -> tuple[list[float], list[float]]:
    """The points (by rising rate) whose PSNR beats every cheaper point: PCHIP needs a rising curve."""
    kept_r, kept_d = [], []
    for r, d in sorted(zip(bpp, psnr)):
        if math.isfinite(d) and (not kept_d or d > kept_d[-1]):
            kept_r.append(r)
            kept_d.append(d)
    return kept_r, kept_d


def bd_rate_percent(anchor: tuple[list, list], test: tuple[list, list]) -> float | None:
    """BD-rate (%) of ``test`` (bpp list, PSNR list) against ``anchor``, over the PSNR range both curves cover:
    the average bit-rate difference at equal PSNR (PCHIP of log-rate over PSNR, the bjontegaard package's
    "pchip" method, which gives the same figures); None when the curves do not overlap."""
    anchor, test = _monotone(*anchor), _monotone(*test)
    if min(len(anchor[0]), len(test[0])) < 2:
        return None
    lo, hi = max(anchor[1][0], test[1][0]), min(anchor[1][-1], test[1][-1])
    return bd_rate_window_percent(anchor, test, lo, hi) if hi > lo else None


def bd_rate_window_percent(
    anchor: tuple[list, list], test: tuple[list, list], lo: float, hi: float
) -> float | None:
    """BD-rate (%) of ``test`` against ``anchor`` over the fixed PSNR window [lo, hi] dB.

    The same PCHIP curves of log-rate over PSNR as :func:`bd_rate_percent`, but averaged over a window chosen
    by the caller instead of the range both curves happen to cover: ladders that reach different PSNRs (a
    model retrained to a higher top quality) are then compared on the same ground. None when either curve
    does not cover the whole window.
    """
    from scipy.interpolate import PchipInterpolator  # scipy comes with CompressAI; only BD-rates need it

    if not hi > lo:
        raise ValueError(f"empty PSNR window [{lo}, {hi}]")
    mean_log_rate = []
    for bpp, psnr in (_monotone(*anchor), _monotone(*test)):
        if len(psnr) < 2 or psnr[0] > lo or psnr[-1] < hi:
            return None
        integral = PchipInterpolator(psnr, [math.log(r) for r in bpp]).antiderivative()
        mean_log_rate.append((integral(hi) - integral(lo)) / (hi - lo))
    return 100 * (math.exp(mean_log_rate[1] - mean_log_rate[0]) - 1)
