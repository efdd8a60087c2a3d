"""The model contract both families keep, and the rounding and bit-counting helpers they share.

Every model keeps CompressAI's contract, so loss, training and benchmarks never depend on the concrete
model: ``forward(x) -> {"x_hat", "likelihoods"}``, ``compress(x) -> {"strings", "shape"}``,
``decompress(strings, shape) -> {"x_hat"}``; :class:`Autoencoder` adds what :mod:`aecodec.api` codes
images with, tile by tile.
"""

from __future__ import annotations

import torch

from .._compressai import CompressionModel, EntropyBottleneck
from ..container import TileLayout


class Autoencoder(CompressionModel):
    """What both model families share: g_a / g_s and the interface aecodec.api codes images with, tile by
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

    def decompress_side(self, strings: list[bytes], latent_shape: tuple[int, int], *, layout: TileLayout) -> object:
        """Decode the side strings into what decoding the tiles needs; ``layout``: how the tiles' strings are
        coded (``Header.tile_layout``; a hyperprior's only)."""
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
