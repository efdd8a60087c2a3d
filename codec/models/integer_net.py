"""Integer evaluation of the hyper-synthesis, so that every machine picks the same CDF for every symbol.

A scale hyperprior's decoder recomputes the Gaussian scale of each latent from the decoded hyper-latent and
looks up the CDF table whose scale is the first one above it. In floating point the result depends on the
order of the sums (threads, SIMD width, GPU or CPU): one index on the other side of a table boundary and the
rANS decoder loses sync, which is why CompressAI and tensorflow-compression streams can decode to garbage
on another machine (CompressAI issues 279 and 309; tensorflow-compression issue 44).

Here the trained float hyper-synthesis is turned into fixed point, in the spirit of Balle et al. 2019
("Integer networks for data compression with latent-variable models"):

* weights become integers ``round(w * 2^WEIGHT_BITS)``, biases ``round(b * 2^(WEIGHT_BITS + ACT_BITS))``,
  the input ``symbol * 2^ACT_BITS + round(median * 2^ACT_BITS)``: each an elementwise rounding of stored
  float values, the same everywhere;
* each layer sums integer products, then ReLU and a rounding right shift by WEIGHT_BITS, clamped to
  [0, 2^ACT_LIMIT_BITS];
* the index is the number of (fixed-point) table scales the result exceeds, compared as integers; a
  variable-rate model first multiplies each channel's scale by its quantization gain, an integer in
  GAIN_BITS fixed point, and compares the product with the table scaled by 2^GAIN_BITS: still integers;
* a mean-scale model's means come from one more layer on the last hidden activations, signed (no ReLU), and
  reach the coder as ``fixed / 2^ACT_BITS`` in float32: exact (|fixed| < 2^24), so every machine shifts its
  symbols by the same means and reconstructs the same latent.

The sums are carried in float64 by PyTorch's native convolutions (im2col and a matrix product, or its
transposed form): every operand and every partial sum is an integer below 2^53 (bounded by the clamps:
2^21 * 2^16 * 25 * 512 < 2^51), so float64 represents each one exactly and the result cannot depend on the
order of the additions, nor on the BLAS, the thread count or the device. cuDNN is switched off around them:
its algorithm choice may include Winograd or FFT transforms, whose intermediate values are not integers. (Integer matmul would be exact too, but PyTorch has none on GPUs.) The native transposed
convolution skips the zeros a stride-2 upsampling inserts: measured 8 ms instead of 15 for the hyper-synthesis
of a Kodak image.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

#: Fractional bits of the activations (1/256 resolution: the scale table is 64 values from 0.11 to 256,
#: about 9% apart, so the fixed point rounds far below its spacing).
ACT_BITS = 8
#: Fractional bits of the weights.
WEIGHT_BITS = 12
#: Activations are clamped to [-2^ACT_LIMIT_BITS, 2^ACT_LIMIT_BITS] (4096 in real units at 8 bits).
ACT_LIMIT_BITS = 20
#: Weights must fit in this many bits (|w| < 16 at 12 fractional bits); sums then stay below 2^53.
WEIGHT_LIMIT_BITS = 16
#: Fractional bits of a variable-rate model's per-channel gains (aecodec.models.variable_rate).
GAIN_BITS = 16
#: Gains must stay below 2^GAIN_LIMIT_BITS in fixed point (256 in real units), so a scale (< 2^21) times a
#: gain stays an exact float64 integer.
GAIN_LIMIT_BITS = 24
#: Largest input-channel count times kernel area the bound above allows.
MAX_FAN_IN = 2 ** (52 - (ACT_LIMIT_BITS + 1) - WEIGHT_LIMIT_BITS)


class IntegerLayer:
    """One convolution (or transposed convolution) in fixed point, followed by ReLU.

    Args:
        module: the trained ``nn.Conv2d`` or ``nn.ConvTranspose2d``.
        relu: False for a signed output (the means of a mean-scale model), clamped to +-2^ACT_LIMIT_BITS.
    """

    def __init__(self, module: nn.Module, relu: bool = True) -> None:
        self.relu = relu
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            raise TypeError(f"cannot make an integer layer of {type(module).__name__}")
        weight = module.weight.detach().to(torch.float64)
        self.transposed = isinstance(module, nn.ConvTranspose2d)
        self.output_padding = module.output_padding[0] if self.transposed else 0
        self.stride = module.stride[0]
        self.padding = module.padding[0]
        self.weight = torch.round(weight * 2**WEIGHT_BITS)
        if self.weight.abs().max() >= 2**WEIGHT_LIMIT_BITS:
            raise ValueError("a hyper-synthesis weight is too large for the integer network")
        # the most products one output sums: a transposed convolution's weight is (in, out, k, k)
        fan_in = self.weight.shape[0] * self.weight[0, 0].numel() if self.transposed else self.weight[0].numel()
        if fan_in > MAX_FAN_IN:
            raise ValueError(f"fan-in {fan_in} is too large for exact float64 sums")
        self.bias = torch.round(module.bias.detach().to(torch.float64) * 2 ** (WEIGHT_BITS + ACT_BITS))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Integer-valued float64 (n, c, h, w) in ACT_BITS fixed point -> the same for the layer's output."""
        with exact_convolutions():
            if self.transposed:
                acc = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)
            else:
                acc = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        if self.relu:
            acc.clamp_(min=0)
        acc = torch.div(acc + 2 ** (WEIGHT_BITS - 1), 2**WEIGHT_BITS, rounding_mode="floor")
        low = 0 if self.relu else -(2**ACT_LIMIT_BITS)
        return acc.clamp_(low, 2**ACT_LIMIT_BITS)


def exact_convolutions() -> contextlib.AbstractContextManager:
    """The native (im2col and matrix product) convolutions only: no cuDNN, whose algorithms may transform the
    operands into non-integers. (On the CPU oneDNN, NNPACK and XNNPACK take no float64.)"""
    return torch.backends.cudnn.flags(enabled=False)


class IntegerHyperSynthesis:
    """The hyper-synthesis (conv layers each followed by ReLU) and the scale-table lookup, in integers.

    Args:
        h_s: the trained ``nn.Sequential`` of convolutions and ReLUs.
        medians: the hyper-latent's per-channel medians (the entropy bottleneck's quantization offsets).
        scale_table: the Gaussian conditional's scale table (increasing).
        mean_head: a mean-scale model's convolution from h_s's last hidden activations to the means.
        gains: a variable-rate model's gain of each latent channel at the coded quality, integers in GAIN_BITS
            fixed point (the latent is coded as y * gain, so its scales are h_s's times the gain).
    """

    def __init__(
        self, h_s: nn.Sequential, medians: torch.Tensor, scale_table: torch.Tensor,
        mean_head: nn.Module | None = None, gains: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        layers = list(h_s)
        convs = [m for m in layers if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        if len(layers) != 2 * len(convs) or not all(isinstance(m, nn.ReLU) for m in layers[1::2]):
            raise ValueError("the integer hyper-synthesis needs alternating convolutions and ReLUs")
        self.layers = [IntegerLayer(m) for m in convs]
        self.mean_layer = IntegerLayer(mean_head, relu=False) if mean_head is not None else None
        self.medians = torch.round(medians.detach().to(torch.float64).reshape(1, -1, 1, 1) * 2**ACT_BITS)
        # scale <= s  <=>  fixed <= s * 2^ACT_BITS  <=>  fixed <= floor(s * 2^ACT_BITS), for integer fixed
        self.thresholds = torch.floor(scale_table.detach().to(torch.float64) * 2**ACT_BITS)
        self.gains = None
        if gains is not None:
            gains = gains.detach().to(torch.float64).reshape(1, -1, 1, 1)
            if torch.any(gains != torch.round(gains)) or gains.min() < 1 or gains.max() >= 2**GAIN_LIMIT_BITS:
                raise ValueError(f"gains must be integers in 1..2^{GAIN_LIMIT_BITS} (fixed point)")
            self.gains = gains
            # scale * gain / 2^GAIN_BITS > threshold  <=>  scale * gain > threshold * 2^GAIN_BITS (integers)
            self.thresholds = self.thresholds * 2**GAIN_BITS

    def fixed_outputs(self, symbols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hyper-latent symbols (integers, (n, N, h, w)) -> scales and (mean-scale models) means, in ACT_BITS
        fixed point (float64)."""
        limit = 2**ACT_LIMIT_BITS
        x = (symbols.to(torch.float64) * 2**ACT_BITS + self.medians).clamp_(-limit, limit)
        for layer in self.layers[:-1]:
            x = layer(x)
        return self.layers[-1](x), (self.mean_layer(x) if self.mean_layer is not None else None)

    def fixed_scales(self, symbols: torch.Tensor) -> torch.Tensor:
        """Hyper-latent symbols (integers, (n, N, h, w)) -> scales in ACT_BITS fixed point (float64)."""
        return self.fixed_outputs(symbols)[0]

    def indexes(self, symbols: torch.Tensor) -> torch.Tensor:
        """CDF index of each latent element: how many of the table's scales (but the last) lie below its
        scale, as CompressAI's GaussianConditional.build_indexes computes it from float scales."""
        return self.coding_parameters(symbols)[0]

    def coding_parameters(self, symbols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The CDF index of each latent element and, for a mean-scale model, its mean (float32, exactly
        ``fixed / 2^ACT_BITS``); None for a scale-only model."""
        fixed, fixed_means = self.fixed_outputs(symbols)
        if self.gains is not None:
            fixed = fixed * self.gains  # < 2^(ACT_LIMIT_BITS + GAIN_LIMIT_BITS): exact in float64
        # searchsorted (left) counts the thresholds strictly below each value: exact float64 comparisons
        below = torch.searchsorted(self.thresholds[:-1].contiguous(), fixed.reshape(-1).contiguous())
        indexes = below.reshape(fixed.shape).to(torch.int32)
        means = (fixed_means / 2**ACT_BITS).to(torch.float32) if fixed_means is not None else None
        return indexes, means
