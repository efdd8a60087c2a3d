"""The factorized-prior autoencoder (Balle et al. 2018, "Variational image compression with a scale
hyperprior", the model without the hyperprior).

It keeps CompressAI's model contract so loss, training and benchmarks never depend on the concrete model:
``forward(x) -> {"x_hat", "likelihoods"}``, ``compress(x) -> {"strings", "shape"}``,
``decompress(strings, shape) -> {"x_hat"}``.
"""

from __future__ import annotations

import warnings

import torch

with warnings.catch_warnings():
    # compressai 1.2.8 imports torch_geometric, which calls torch.jit.script at import (deprecated in torch
    # 2.14): without this every `aecodec encode` or `decode` printed two lines of FutureWarning on stderr.
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    from compressai.entropy_models import EntropyBottleneck
    from compressai.models import CompressionModel

from . import entropy
from .config import ModelConfig
from .layers import analysis_transform, init_weights, synthesis_transform


class FactorizedPrior(CompressionModel):
    """Analysis g_a (4 strided convolutions, GDN between them), EntropyBottleneck on y, synthesis g_s
    (4 strided transposed convolutions, inverse GDN between them).

    Args:
        config: channel counts; kept on the model as ``self.config`` and saved with every checkpoint.
    """

    #: Height and width of the input must be multiples of this (4 stride-2 layers).
    downsampling_factor = 16
    #: Reach of the transforms in latent positions: a latent depends on the pixels within 30 of its 16 x 16
    #: block (5x5 kernels at strides 1, 2, 4, 8: 2 + 4 + 8 + 16), a pixel on the latents within 30 / 16 of
    #: its own. Tiles computed with this margin around them equal the untiled result (codec/tiling.py).
    latent_margin = 2

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        N, M = config.N, config.M
        self.entropy_bottleneck = EntropyBottleneck(M)
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    # The four steps of coding, which codec.tiling runs tile by tile; compress and decompress below are the
    # whole-image versions of CompressAI's model contract.

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Image (1, 3, 16h, 16w) in [0, 1] -> latent y (1, M, h, w)."""
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Quantized latent (1, M, h, w) -> reconstruction (1, 3, 16h, 16w), not yet clamped."""
        return self.g_s(y_hat)

    def compress_latent(self, y: torch.Tensor) -> bytes:
        """Quantize and entropy-code a latent (1, M, h, w) into one rANS string."""
        return self.entropy_bottleneck.compress(y.contiguous())[0]

    def decompress_latent(self, string: bytes, shape: tuple[int, int]) -> torch.Tensor:
        """Decode one rANS string into the quantized latent (1, M, *shape)."""
        # CompressAI's C++ decoder reads past the end of a short or garbage string: check and pad it first.
        strings = entropy.safe_strings([string], self.entropy_bottleneck, tuple(shape))
        return self.entropy_bottleneck.decompress(strings, tuple(shape))

    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        y_strings = self.entropy_bottleneck.compress(y)
        return {"strings": [y_strings], "shape": tuple(y.shape[-2:])}

    def decompress(self, strings: list, shape: tuple) -> dict:
        y_hat = torch.cat([self.decompress_latent(s, shape) for s in strings[0]])
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        return {"x_hat": x_hat}


def build_model(config: ModelConfig) -> CompressionModel:
    """Build an untrained model of ``config.family``."""
    if config.family == "factorized":
        return FactorizedPrior(config)
    if config.family == "hyperprior":
        from .hyperprior import ScaleHyperprior

        return ScaleHyperprior(config)
    raise ValueError(f"unknown model family {config.family!r}")
