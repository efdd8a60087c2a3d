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


class Autoencoder(CompressionModel):
    """What both model families share: g_a / g_s and the interface codec.api codes images with, tile by
    tile: ``analysis``, ``synthesis``, side information of the whole latent (``compress_side`` /
    ``decompress_side``, ``side_strings`` strings of it), and ``compress_latent`` / ``decompress_latent`` of
    one tile given that side information."""

    #: Height and width of the input must be multiples of this (4 stride-2 layers).
    downsampling_factor = 16
    #: Pixels per latent position along each side.
    latent_factor = 16
    #: Strings of side information before the latent's tiles in a stream (a hyperprior has one).
    side_strings = 0
    #: Reach of the transforms in latent positions: a latent depends on the pixels within 30 of its 16 x 16
    #: block (5x5 kernels at strides 1, 2, 4, 8: 2 + 4 + 8 + 16), a pixel on the latents within 30 / 16 of
    #: its own. Tiles computed with this margin around them equal the untiled result (codec/tiling.py).
    latent_margin = 2

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Image (1, 3, 16h, 16w) in [0, 1] -> latent y (1, M, h, w)."""
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Quantized latent (1, M, h, w) -> reconstruction (1, 3, 16h, 16w), not yet clamped."""
        return self.g_s(y_hat)

    def compress_side(self, y: torch.Tensor) -> tuple[list[bytes], object]:
        """Side information of the whole latent: its strings, and what coding the tiles needs of it."""
        return [], None

    def decompress_side(self, strings: list[bytes], latent_shape: tuple[int, int]) -> object:
        """Decode the side strings into what decoding the tiles needs."""
        return None

    # What encoder-side refinement (codec/refine.py) optimises: the latent as the decoder will see it, and
    # the bits it will cost, both differentiable in y.

    def coded_latent(self, y: torch.Tensor) -> torch.Tensor:
        """y as the decoder will receive it (rounded the way compress_latent rounds), with the gradient of
        the identity (straight-through), so a loss on the reconstruction can steer y."""
        raise NotImplementedError

    def estimated_bits(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Bits each element of the latent costs once coded (differentiable in ``y``), as maps: "y" of y's
        shape, and for a hyperprior "z" (the side information, 1/4 the size)."""
        raise NotImplementedError


def straight_through_round(values: torch.Tensor) -> torch.Tensor:
    """round(values) forward, identity backward."""
    return values + (torch.round(values) - values).detach()


def bottleneck_bits(bottleneck: EntropyBottleneck, values: torch.Tensor) -> torch.Tensor:
    """Bits of each element of ``values`` (1, C, h, w), already quantized, under a factorized
    EntropyBottleneck (whose likelihood functions take one row of values per channel)."""
    channels = values.shape[1]
    rows = values.permute(1, 0, 2, 3).reshape(channels, 1, -1)
    likelihood = bottleneck.likelihood_lower_bound(bottleneck._likelihood(rows)[0])
    return -torch.log2(likelihood).reshape(channels, *values.shape[-2:]).unsqueeze(0)


def bottleneck_coded(bottleneck: EntropyBottleneck, values: torch.Tensor) -> torch.Tensor:
    """``values`` rounded as EntropyBottleneck.compress rounds them (to integer offsets from each channel's
    median), straight-through."""
    medians = bottleneck._get_medians().reshape(1, -1, 1, 1)
    return straight_through_round(values - medians) + medians


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

    # Tile coding for codec.api (no side information); compress and decompress below are the whole-image
    # versions of CompressAI's model contract.

    def compress_latent(self, y: torch.Tensor, tile, side=None) -> bytes:
        """Quantize and entropy-code the latent of one tile (1, M, *tile.shape) into one rANS string."""
        return self.entropy_bottleneck.compress(y.contiguous())[0]

    def decompress_latent(self, string: bytes, tile, side=None) -> torch.Tensor:
        """Decode one tile's rANS string into its quantized latent (1, M, *tile.shape)."""
        # CompressAI's C++ decoder reads past the end of a short or garbage string: check and pad it first.
        strings = entropy.safe_strings([string], self.entropy_bottleneck, tile.shape)
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
        y_strings = entropy.safe_strings(strings[0], self.entropy_bottleneck, tuple(shape))
        y_hat = self.entropy_bottleneck.decompress(y_strings, tuple(shape))
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
