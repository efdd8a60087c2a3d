"""The factorized-prior autoencoder (Balle et al. 2018, "Variational image compression with a scale
hyperprior", the model without the hyperprior): g_a, a factorized EntropyBottleneck on y, g_s."""

from __future__ import annotations

import torch

from .. import rans_guard
from .._compressai import EntropyBottleneck
from ..config import ModelConfig
from .base import Autoencoder, bottleneck_bits, bottleneck_coded
from .layers import analysis_transform, init_weights, synthesis_transform


class FactorizedPrior(Autoencoder):
    """Analysis g_a (4 strided convolutions, GDN between them), EntropyBottleneck on y, synthesis g_s
    (4 strided transposed convolutions, inverse GDN between them).

    Args:
        config: channel counts; kept on the model as ``self.config`` and saved with every checkpoint.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        N, M = config.N, config.M
        self.entropy_bottleneck = EntropyBottleneck(M)
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        init_weights(self)

    def forward(self, x: torch.Tensor, rounded_synthesis: bool = False) -> dict:
        """Reconstruction and likelihoods; in training the likelihoods are of y plus uniform noise.

        ``rounded_synthesis``: g_s gets y rounded as the decoder will get it (straight-through gradient)
        instead of the noisy y (see TrainConfig.rounded_synthesis). Eval mode rounds either way."""
        y = self.g_a(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        if rounded_synthesis and self.training:
            y_hat = self.coded_latent(y)
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    # Tile coding for aecodec.api (no side information); compress and decompress below are the whole-image
    # versions of CompressAI's model contract.

    def compress_latent(self, y: torch.Tensor, tile, side=None) -> bytes:
        """Quantize and entropy-code the latent of one tile (1, M, *tile.shape) into one rANS string."""
        return self.entropy_bottleneck.compress(y.contiguous())[0]

    def decompress_latent(self, string: bytes, tile, side=None) -> torch.Tensor:
        """Decode one tile's rANS string into its quantized latent (1, M, *tile.shape)."""
        # CompressAI's C++ decoder reads past the end of a short or garbage string: check and pad it first.
        strings = rans_guard.safe_strings([string], self.entropy_bottleneck, tile.shape)
        return self.entropy_bottleneck.decompress(strings, tile.shape)

    def coded_latent(self, y: torch.Tensor) -> torch.Tensor:
        return bottleneck_coded(self.entropy_bottleneck, y)

    def estimated_bits(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": bottleneck_bits(self.entropy_bottleneck, self.coded_latent(y))}

    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        y_strings = self.entropy_bottleneck.compress(y)
        return {"strings": [y_strings], "shape": tuple(y.shape[-2:])}

    def decompress(self, strings: list, shape: tuple) -> dict:
        y_strings = rans_guard.safe_strings(strings[0], self.entropy_bottleneck, tuple(shape))
        y_hat = self.entropy_bottleneck.decompress(y_strings, tuple(shape))
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        return {"x_hat": x_hat}
