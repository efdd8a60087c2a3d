"""The variable-rate scale hyperprior: one network codes every quality from 1.0 to 8.0.

The transforms are a scale hyperprior's (:mod:`aecodec.models.hyperprior`); a learned gain per latent channel
and quality level (Cui et al. 2021, "Asymmetric gained deep image compression with continuous rate
adaptation") sets the quantization step: at quality q the coded latent is ``round(y * g_q)``, its Gaussian
scales are h_s's times g_q, and the synthesis reads ``round(y * g_q) / g_q``. The hyper path sees the
unscaled y, so z means the same at every quality. Between two levels the gain is interpolated on a log scale
(g = g_l^(1-t) g_(l+1)^t), which moves the rate smoothly.

The gains reach the coder as integers (``GAIN_BITS`` fixed point, frozen by ``update`` from the trained
float gains and stored in the checkpoint), and the interpolation is exact integer arithmetic too (a 64th
root by six nested integer square roots), so the encoder and every decoder multiply h_s's integer scales by
the same integers and pick the same CDF for every symbol (:mod:`aecodec.models.integer_net`). A stream
records its quality (:data:`aecodec.config.QUALITY_STEPS` steps per level) and needs nothing else.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import MAX_QUALITY, MIN_QUALITY, QUALITY_LAMBDAS, QUALITY_STEPS, ModelConfig, exact_quality
from ..container import TileLayout
from .base import bottleneck_bits, bottleneck_coded, straight_through_round
from .hyperprior import HyperSide, ScaleHyperprior
from .integer_net import GAIN_BITS


def integer_root(value: int, degree: int) -> int:
    """floor(value ** (1 / degree)) exactly, for ``degree`` a power of two: nested integer square roots
    (floor(sqrt(floor(sqrt(n)))) = floor(n ** (1/4)), and so on)."""
    if degree < 1 or degree & (degree - 1):
        raise ValueError(f"degree must be a power of two, got {degree}")
    for _ in range(degree.bit_length() - 1):
        value = math.isqrt(value)
    return value


class VariableRateHyperprior(ScaleHyperprior):
    """A scale hyperprior with ``log_gain`` (levels, M), one gain per quality level and latent channel.

    Training calls ``forward(x, levels)`` with a 0-based level per image; coding goes through
    :meth:`at_quality`, which gives the ladder models' coding interface at any quality.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        lambdas = torch.tensor(QUALITY_LAMBDAS, dtype=torch.float64)
        # Gains start at sqrt(lambda_l / lambda_top): the step a fixed transform's rate-distortion balance
        # calls for at each lambda, 1 at the top level.
        start = 0.5 * torch.log(lambdas / lambdas[-1])
        self.log_gain = nn.Parameter(start.float()[:, None].repeat(1, config.M))
        #: The gains the coder uses, in GAIN_BITS fixed point; :meth:`update` freezes them from log_gain.
        self.register_buffer("gain_fixed", torch.zeros(len(QUALITY_LAMBDAS), config.M, dtype=torch.int64))

    def forward(self, x: torch.Tensor, levels: torch.Tensor | None = None, bf16_transforms: bool = False) -> dict:
        """``levels``: (B,) 0-based quality level of each image (default: the top level for all). Training
        mode: noisy rate, synthesis from the rounded latent (straight-through); eval mode: what the coder does.
        ``bf16_transforms``: g_a and g_s under bfloat16 autocast (GPU training); the entropy models always
        in float32, where the rate estimate needs the precision."""
        if levels is None:
            levels = torch.full((len(x),), len(QUALITY_LAMBDAS) - 1, dtype=torch.long, device=x.device)
        gain = self.log_gain[levels].exp()[:, :, None, None]
        with torch.autocast(x.device.type, torch.bfloat16, enabled=bf16_transforms):
            y = self.g_a(x)
        y = y.float()
        z = self.hyper_analysis(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        if self.training:  # h_s gets z as the decoder will; the rate above stays that of the noisy z
            z_hat = bottleneck_coded(self.entropy_bottleneck, z)
        scaled = y * gain
        y_coded, y_likelihoods = self.gaussian_conditional(scaled, self.h_s(z_hat) * gain)
        if self.training:
            y_coded = straight_through_round(scaled)
        with torch.autocast(x.device.type, torch.bfloat16, enabled=bf16_transforms):
            x_hat = self.g_s(y_coded / gain)
        return {"x_hat": x_hat.float(), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def update(self, scale_table=None, force: bool = False, update_quantiles: bool = False) -> bool:
        """Freeze the entropy tables (as every model) and the fixed-point gains from the current weights."""
        updated = super().update(scale_table, force, update_quantiles)
        with torch.no_grad():
            self.gain_fixed.copy_(torch.round(self.log_gain.detach().double().exp() * 2**GAIN_BITS).long())
        return updated

    def fixed_gains(self, quality: float) -> torch.Tensor:
        """The per-channel gains (M,) at ``quality`` in GAIN_BITS fixed point: a level's frozen gains, or
        between levels l and l+1 at t = k / QUALITY_STEPS, floor((g_l^(S-k) g_(l+1)^k)^(1/S)), S =
        QUALITY_STEPS, computed in exact integers."""
        if int(self.gain_fixed.min()) < 1:
            raise ValueError("the model's gains are not frozen: call update() before coding")
        steps = round(exact_quality(quality) * QUALITY_STEPS) - MIN_QUALITY * QUALITY_STEPS
        level, k = divmod(steps, QUALITY_STEPS)
        if k == 0:
            return self.gain_fixed[level].clone()
        low, high = self.gain_fixed[level].tolist(), self.gain_fixed[level + 1].tolist()
        roots = [integer_root(a ** (QUALITY_STEPS - k) * b**k, QUALITY_STEPS) for a, b in zip(low, high)]
        return torch.tensor(roots, dtype=torch.int64)

    def at_quality(self, quality: float) -> "AtQuality":
        """This model fixed at one quality, with the coding interface of a ladder model."""
        return AtQuality(self, quality)


class AtQuality(nn.Module):
    """A :class:`VariableRateHyperprior` at one quality: the interface :mod:`aecodec.api` and
    :mod:`aecodec.refine` code images with (analysis, synthesis, side and tile coding, refinement hooks),
    working on the scaled latent ``y * g``.

    Args:
        model: the variable-rate model, with frozen tables and gains.
        quality: MIN_QUALITY..MAX_QUALITY, rounded to a multiple of 1 / QUALITY_STEPS.
    """

    downsampling_factor = ScaleHyperprior.downsampling_factor
    latent_factor = ScaleHyperprior.latent_factor
    latent_margin = ScaleHyperprior.latent_margin
    side_strings = ScaleHyperprior.side_strings

    def __init__(self, model: VariableRateHyperprior, quality: float) -> None:
        super().__init__()
        if not MIN_QUALITY <= quality <= MAX_QUALITY:
            raise ValueError(f"quality must be in {MIN_QUALITY}..{MAX_QUALITY}, got {quality}")
        self.model = model
        self.quality = exact_quality(quality)
        gains = model.fixed_gains(self.quality)
        # exact in float32: the gains are integers below 2^24
        self.register_buffer("gain", (gains.double() / 2**GAIN_BITS).float().reshape(1, -1, 1, 1))
        self.net = model.integer_hyper_synthesis(gains)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> the scaled latent y * g, the tensor that is rounded and coded."""
        return self.model.g_a(x) * self.gain

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.model.g_s(y_hat / self.gain)

    def _unscaled(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.gain.to(y.device)

    def compress_side(self, y: torch.Tensor) -> tuple[list[bytes], HyperSide]:
        string, symbols = self.model.encode_z(self._unscaled(y))  # z from the unscaled y
        return [string], self.model.side(self.net, symbols, TileLayout.GROUPED)

    def decompress_side(
        self, strings: list[bytes], latent_shape: tuple[int, int], *, layout: TileLayout
    ) -> HyperSide:
        return self.model.side(self.net, self.model.decode_z(strings, latent_shape), layout)

    def tile_indexes(self, side: HyperSide, tile) -> torch.Tensor:
        return self.model.tile_indexes(side, tile)

    def compress_latent(self, y: torch.Tensor, tile, side: HyperSide) -> bytes:
        return self.model.compress_latent(y, tile, side)

    def decompress_latent(self, string: bytes, tile, side: HyperSide) -> torch.Tensor:
        return self.model.decompress_latent(string, tile, side)

    def coded_latent(self, y: torch.Tensor) -> torch.Tensor:
        return straight_through_round(y)  # zero-mean Gaussian: the symbols are round(y * g)

    def estimated_bits(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        model = self.model
        z_hat = bottleneck_coded(model.entropy_bottleneck, model.hyper_analysis(self._unscaled(y)))
        scales = model.h_s(z_hat) * self.gain.to(y.device)
        conditional = model.gaussian_conditional
        likelihood = conditional.likelihood_lower_bound(conditional._likelihood(straight_through_round(y), scales))
        return {"y": -torch.log2(likelihood), "z": bottleneck_bits(model.entropy_bottleneck, z_hat)}
