"""Inference-only forms of the analysis and synthesis transforms, built once when a codec is loaded.

The trained modules (:mod:`aecodec.models.layers`) are written for training: CompressAI's GDN recomputes its
reparametrized beta and gamma from the raw parameters on every call, and the tensors are in PyTorch's default
NCHW layout, which the CPU convolutions of oneDNN reorder to and from their channels-last blocked layout at
each layer. Coding an image needs none of that, and the transforms are most of its time. So the codec runs
the same mathematics in a faster form:

* every tensor channels-last (NHWC) from the first convolution to the last, weights included;
* GDN and inverse GDN as one 1x1 convolution per layer, with the reparametrized beta and gamma computed
  once here: ``x * rsqrt(beta + gamma * x^2)`` (``sqrt`` for the inverse);
* the last transposed convolution of the synthesis (to 3 channels, at the full image size) as a stride-1 3x3
  convolution to 4 x 3 channels followed by ``pixel_shuffle``: the same sums, and measured about twice as
  fast on the CPU there (on the hidden layers, with many output channels, the transposed convolution is
  faster, so they keep it);
* no autograd;
* on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX: :func:`native_bfloat16`), the analysis's
  convolutions after the first in bfloat16 (fp32 sums, bf16 operands and outputs; the GDNs stay in float32):
  each twice as fast there (the 5x5 at 128 x 192: 12 ms instead of 24), a Kodak encode 0.81x the time, and
  measured free in rate-distortion (benchmarks/results/bf16_analysis.json: +0.02% BD-rate on Kodak, 8
  qualities). It is the encoder's choice of latent, which nothing downstream depends on: decoding never sees
  it. The first convolution, on the pixels themselves, stays float32 (in bfloat16 it cost 0.15% of rate).
  ``ImageCodec(bf16_analysis=False)`` keeps it all float32.

Otherwise the results equal the trained modules' to float rounding (the sums run in another order), which moves
a decoded pixel by at most 1; the entropy coding (the latent's rounding, the hyperprior's CDF indexes, its
integer hyper-synthesis) is untouched, so decoded latents stay bit-exact. Training and refinement
(:mod:`aecodec.refine`, which needs gradients through g_s) keep the trained modules; these forms are copies of
their weights, taken when they are built: :meth:`InferenceTransforms.stale` says when g_a's or g_s's weights
have changed since (an adapter merged in, an optimizer step, a loaded state dict), and ``ImageCodec.transforms``
then builds them again from the weights as they are.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .._compressai import GDN
from .base import Autoencoder
from .variable_rate import AtQuality

CHANNELS_LAST = torch.channels_last


#: Pixels of a GDN layer computed at once (4 MB of activations at 64 channels): a band of rows whose x^2 and norm
#: stay in cache, instead of two image-sized temporaries (measured 7 ms instead of 11 for 64 x 256 x 384).
GDN_BAND_PIXELS = 16384


class FastGDN(nn.Module):
    """GDN (or inverse GDN) with its reparametrized beta and gamma frozen: one 1x1 convolution of x^2, band of
    rows by band of rows, in place: it overwrites and returns its input (in the transforms, a convolution's
    fresh output)."""

    def __init__(self, gdn: GDN) -> None:
        super().__init__()
        self.inverse = gdn.inverse
        with torch.no_grad():
            beta = gdn.beta_reparam(gdn.beta)
            gamma = gdn.gamma_reparam(gdn.gamma)
        self.register_buffer("beta", beta.detach().clone())
        gamma = gamma.detach().reshape(*gamma.shape, 1, 1)
        self.register_buffer("gamma", gamma.contiguous(memory_format=CHANNELS_LAST))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = max(1, GDN_BAND_PIXELS // x.shape[-1])  # not by batch size: a batch sums as one image does
        for top in range(0, x.shape[-2], rows):
            band = x[..., top : top + rows, :]
            norm = F.conv2d(band * band, self.gamma, self.beta)
            band.mul_(norm.sqrt_() if self.inverse else norm.rsqrt_())
        return x


class PixelShuffleDeconv(nn.Module):
    """A 5x5 stride-2 transposed convolution (``layers.deconv``) as a 3x3 stride-1 convolution to 4 times the
    channels, then ``pixel_shuffle``: output pixel (2i + a, 2j + b) of channel o is input channel 4o + 2a + b
    at (i, j), whose 3x3 taps are the transposed kernel's taps of that phase."""

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        if (deconv.kernel_size, deconv.stride, deconv.padding, deconv.output_padding) != ((5, 5), (2, 2), (2, 2),
                                                                                          (1, 1)):  # fmt: skip
            raise ValueError(f"expected a 5x5 stride-2 transposed convolution (layers.deconv), got {deconv}")
        weight = deconv.weight.detach()  # (in, out, 5, 5)
        # tap e of the 3x3 kernel (input offset e - 1) for output phase a is tap 4 - 2e (a = 0) or 5 - 2e
        # (a = 1, where e = 0 falls outside the kernel) of the transposed one
        taps = torch.zeros(weight.shape[1], 2, 2, weight.shape[0], 3, 3, dtype=weight.dtype, device=weight.device)
        for a in range(2):
            for b in range(2):
                for e in range(3):
                    for f in range(3):
                        k, m = 4 + a - 2 * e, 4 + b - 2 * f
                        if k <= 4 and m <= 4:
                            taps[:, a, b, :, e, f] = weight[:, :, k, m].t()
        self.register_buffer("weight", taps.reshape(-1, weight.shape[0], 3, 3).contiguous(memory_format=CHANNELS_LAST))
        bias = deconv.bias.detach() if deconv.bias is not None else weight.new_zeros(weight.shape[1])
        self.register_buffer("bias", bias.repeat_interleave(4).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2)


class Bfloat16Conv(nn.Module):
    """A convolution run in bfloat16 between float32 layers: casts its input down and its output back up."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = copy.deepcopy(conv).to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.to(torch.bfloat16)).float()


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 convolutions run at native speed on ``device``: a CPU with AVX512-BF16 or AMX tiles (on
    others oneDNN emulates them, slower than float32). Only CPUs are considered: elsewhere the transforms keep
    float32."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def fast_transform(transform: nn.Sequential, bf16_after_first: bool = False) -> nn.Sequential:
    """The inference form of a g_a or g_s stack (:func:`layers.analysis_transform`, ``synthesis_transform``):
    copies of its convolutions in channels-last, GDNs frozen, a last transposed convolution to few channels
    as convolution plus pixel shuffle; with ``bf16_after_first``, its (non-transposed) convolutions after the
    first in bfloat16."""
    layers = []
    for i, layer in enumerate(transform):
        if isinstance(layer, GDN):
            layers.append(FastGDN(layer))
        elif isinstance(layer, nn.ConvTranspose2d) and i == len(transform) - 1 and layer.out_channels <= 4:
            layers.append(PixelShuffleDeconv(layer))
        elif isinstance(layer, nn.Conv2d) and bf16_after_first and i > 0:
            layers.append(Bfloat16Conv(layer))
        elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layers.append(copy.deepcopy(layer))
        else:
            raise TypeError(f"no inference form for {type(layer).__name__}")
    return nn.Sequential(*layers).eval().requires_grad_(False).to(memory_format=CHANNELS_LAST)


def weights_stamp(model: nn.Module) -> tuple:
    """Identity and in-place version counter of every tensor of ``model``'s g_a and g_s: any change of their
    weights (``add_``, ``copy_``, an optimizer step, ``load_state_dict``, a parameter replaced) changes it."""
    return tuple((id(t), t._version) for part in (model.g_a, model.g_s)
                 for t in (*part.parameters(), *part.buffers()))  # fmt: skip


class InferenceTransforms:
    """The analysis and synthesis a codec runs: the inference forms of the model's g_a and g_s where the model
    is one of the shipped families, else the model's own ``analysis`` and ``synthesis``. Same signatures and
    results (to float rounding) as those methods.

    Args:
        model: a :class:`~aecodec.models.base.Autoencoder` or :class:`~aecodec.models.variable_rate.AtQuality`
            with its final weights, on the device it will run on.
        bf16_analysis: run the analysis's convolutions after the first in bfloat16 (see the module's docstring;
            :func:`native_bfloat16` says where that is faster).
    """

    def __init__(
        self, model: nn.Module, bf16_analysis: bool = False, _forms: tuple[nn.Module, nn.Module, tuple] | None = None
    ) -> None:
        self._model, self.gain = model, None
        base = model
        if isinstance(model, AtQuality):
            base, self.gain = model.model, model.gain
        self._base = base
        plain = isinstance(base, Autoencoder) and (type(base).analysis, type(base).synthesis) == (
            Autoencoder.analysis, Autoencoder.synthesis)  # fmt: skip
        if _forms is not None:
            self.g_a, self.g_s, self._stamp = _forms
        elif plain:
            self._stamp = weights_stamp(base)  # before copying: a change while copying shows as stale
            self.g_a, self.g_s = fast_transform(base.g_a, bf16_analysis), fast_transform(base.g_s)
        else:
            self.g_a, self.g_s, self._stamp = None, None, ()

    def at(self, model: AtQuality) -> "InferenceTransforms":
        """These transforms for the same variable-rate model at another quality (sharing g_a and g_s)."""
        return InferenceTransforms(model, _forms=None if self.g_a is None else (self.g_a, self.g_s, self._stamp))

    def stale(self) -> bool:
        """Whether the model's g_a or g_s weights changed (in place or replaced) since these copies were made."""
        return self.g_a is not None and weights_stamp(self._base) != self._stamp

    @torch.no_grad()
    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, 16h, 16w) in [0, 1] -> latent (B, M, h, w) as the model's ``analysis`` gives it."""
        if self.g_a is None:
            return self._model.analysis(x)
        y = self.g_a(x.contiguous(memory_format=CHANNELS_LAST))
        return y if self.gain is None else y * self.gain

    @torch.no_grad()
    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Quantized latent (B, M, h, w) -> reconstruction (B, 3, 16h, 16w), not yet clamped."""
        if self.g_s is None:
            return self._model.synthesis(y_hat)
        if self.gain is not None:
            y_hat = y_hat / self.gain
        return self.g_s(y_hat.contiguous(memory_format=CHANNELS_LAST))
