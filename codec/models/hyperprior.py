"""The scale-hyperprior autoencoder (Balle et al. 2018, "Variational image compression with a scale
hyperprior"), whose decoder chooses its CDFs with integer arithmetic.

Same analysis and synthesis as the factorized model; a hyper-analysis h_a turns |y| into a hyper-latent z
(coded with a factorized EntropyBottleneck), and a hyper-synthesis h_s turns the decoded z into the scale of
a zero-mean Gaussian for each element of y (coded with a GaussianConditional). A mean-scale model
(``config.means``) also predicts each element's mean from h_s's last hidden layer (``h_m``) and codes
round(y - mean); its hyper-analysis also reads y itself (``h_a_signed``), since |y| hides the sign the means
need. Both extra layers start at zero, so a trained scale-only model starts a mean-scale one unchanged.
Training runs h_s in float;
coding runs it through :class:`~aecodec.models.integer_net.IntegerHyperSynthesis`, so the encoder and every decoder,
whatever its threads or device, compute the same CDF index for every symbol.

Model contract as for the factorized model: ``forward(x) -> {"x_hat", "likelihoods": {"y", "z"}}``,
``compress(x) -> {"strings": [y_strings, z_strings], "shape"}``, ``decompress(strings, shape)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import latent_coding, rans_guard
from .._compressai import EntropyBottleneck, GaussianConditional
from ..config import ModelConfig
from ..container import TileLayout
from ..grouped_coding import GroupedTables
from ..tiling import Tile
from .base import Autoencoder, bottleneck_bits, bottleneck_coded, straight_through_round
from .integer_net import IntegerHyperSynthesis
from .layers import analysis_transform, conv, deconv, init_weights, synthesis_transform

#: The Gaussian scales the CDF tables are built for: 64 values log-spaced from 0.11 to 256 (CompressAI's).
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64


def default_scale_table() -> torch.Tensor:
    low, high = torch.log(torch.tensor(SCALE_MIN)), torch.log(torch.tensor(SCALE_MAX))
    return torch.exp(torch.linspace(low, high, SCALE_LEVELS))


@dataclass(frozen=True)
class HyperSide:
    """The decoded hyper-latent: what coding each tile of y needs to pick its CDFs."""

    net: IntegerHyperSynthesis
    symbols: torch.Tensor  # (1, N, h/4, w/4), integer-valued
    #: How the tiles' strings are coded (codec/latent_coding.py): the layout of the stream's format version;
    #: every stream is written in the current one.
    layout: TileLayout = TileLayout.GROUPED
    #: The Gaussian conditional's tables as the grouped layout codes with them (built once per image).
    tables: GroupedTables | None = None


def _shifted_round(y: torch.Tensor, means: torch.Tensor | None) -> torch.Tensor:
    """round(y - means) + means (round(y) without means), straight-through: the latent the decoder gets."""
    return straight_through_round(y) if means is None else straight_through_round(y - means) + means


class ScaleHyperprior(Autoencoder):
    """g_a / g_s as in the factorized model; h_a (3x3 conv, then two 5x5 stride-2 convs, ReLUs between) and
    h_s (two 5x5 stride-2 transposed convs, then a 3x3 conv, each followed by ReLU).

    Args:
        config: channel counts N (transforms, hyper-latent) and M (latent).
    """

    #: Input sides must be multiples of this: 16 for y, 4 more for z.
    downsampling_factor = 64
    #: One string of side information: the hyper-latent z, coded whole (1/64 of the pixels a side).
    side_strings = 1
    #: z positions around a region of y that the hyper-synthesis needs to give that region's scales: a
    #: scale depends on the z within 1.25 positions of its own (5x5 transposed convolutions at strides 2 and
    #: 4, then a 3x3 convolution). Exact integers, so tiled indexes equal untiled ones bit for bit.
    hyper_margin = 2

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        N, M = config.N, config.M
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True), conv(N, N),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            deconv(N, N), nn.ReLU(inplace=True), deconv(N, N), nn.ReLU(inplace=True),
            conv(N, M, stride=1, kernel_size=3), nn.ReLU(inplace=True),
        )  # fmt: skip
        if config.means:
            self.h_a_signed = nn.Conv2d(M, N, kernel_size=1, bias=False)  # added to h_a's first layer
            self.h_m = nn.Conv2d(N, M, kernel_size=1)  # h_s's last hidden activations -> means
        init_weights(self)
        if config.means:
            for param in (self.h_a_signed.weight, self.h_m.weight, self.h_m.bias):
                nn.init.zeros_(param)  # start as the scale-only model (means 0, z as before)

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """z from y: h_a of |y| (plus, with means, a 1x1 convolution of y into its first layer)."""
        if not self.config.means:
            return self.h_a(torch.abs(y))
        return self.h_a[1:](self.h_a[0](torch.abs(y)) + self.h_a_signed(y))

    def hyper_synthesis(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scales (and with means, means) of y from the quantized z, in float (training, refinement)."""
        if not self.config.means:
            return self.h_s(z_hat), None
        hidden = self.h_s[:-2](z_hat)
        return self.h_s[-2:](hidden), self.h_m(hidden)

    def forward(self, x: torch.Tensor, rounded_synthesis: bool = False) -> dict:
        """As FactorizedPrior.forward; with ``rounded_synthesis`` in training, h_s and g_s both get their
        inputs (z, y) rounded as the decoder will, while the likelihoods stay those of the noisy values."""
        y = self.g_a(x)
        z = self.hyper_analysis(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        rounded = rounded_synthesis and self.training
        scales, means = self.hyper_synthesis(bottleneck_coded(self.entropy_bottleneck, z) if rounded else z_hat)
        y_hat, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
        if rounded:
            y_hat = _shifted_round(y, means)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def update(self, scale_table=None, force: bool = False, update_quantiles: bool = False) -> bool:
        table = default_scale_table() if scale_table is None else scale_table
        return super().update(table, force, update_quantiles)

    def integer_hyper_synthesis(self, gains: torch.Tensor | None = None) -> IntegerHyperSynthesis:
        """The coding-time h_s, from the current weights, medians and scale table (call after update);
        ``gains``: a variable-rate model's fixed-point gains at the coded quality."""
        medians = self.entropy_bottleneck._get_medians().detach().reshape(-1)
        mean_head = self.h_m if self.config.means else None
        return IntegerHyperSynthesis(self.h_s, medians, self.gaussian_conditional.scale_table, mean_head, gains)

    def _z_symbols(self, z_hat: torch.Tensor) -> torch.Tensor:
        # z_hat = symbol + median in float; the symbol is an integer, so rounding recovers it exactly.
        medians = self.entropy_bottleneck._get_medians().detach()
        return torch.round(z_hat - medians)

    def coded_latent(self, y: torch.Tensor) -> torch.Tensor:
        if not self.config.means:
            return straight_through_round(y)  # zero-mean Gaussian: the symbols are round(y)
        z_hat = bottleneck_coded(self.entropy_bottleneck, self.hyper_analysis(y))
        return _shifted_round(y, self.hyper_synthesis(z_hat)[1])

    def estimated_bits(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        # z from y as compress_side takes it; the float h_s here (the integer one picks nearly the same
        # scales: benchmarks/results/hyperprior_integer.json measures 0.02% difference in size)
        z_hat = bottleneck_coded(self.entropy_bottleneck, self.hyper_analysis(y))
        scales, means = self.hyper_synthesis(z_hat)
        likelihood = self.gaussian_conditional.likelihood_lower_bound(
            self.gaussian_conditional._likelihood(_shifted_round(y, means), scales, means)
        )
        return {"y": -torch.log2(likelihood), "z": bottleneck_bits(self.entropy_bottleneck, z_hat)}

    # Tile coding for aecodec.api: z of the whole image first, then each tile of y with the CDF indexes (and
    # means) of its region (the integer h_s run on that region's z and a margin around it).

    def compress_side(self, y: torch.Tensor) -> tuple[list[bytes], HyperSide]:
        string, symbols = self.encode_z(y)
        return [string], self.side(self.integer_hyper_synthesis(), symbols, TileLayout.GROUPED)

    def decompress_side(
        self, strings: list[bytes], latent_shape: tuple[int, int], *, layout: TileLayout
    ) -> HyperSide:
        return self.side(self.integer_hyper_synthesis(), self.decode_z(strings, latent_shape), layout)

    def encode_z(self, y: torch.Tensor) -> tuple[bytes, torch.Tensor]:
        """The hyper-latent of y: its string and its symbols (the coded integers)."""
        z = self.hyper_analysis(y)
        return self.entropy_bottleneck.compress(z)[0], torch.round(z - self.entropy_bottleneck._get_medians().detach())

    def decode_z(self, strings: list[bytes], latent_shape: tuple[int, int]) -> torch.Tensor:
        """The hyper-latent's symbols from its string (validated and padded first, see rans_guard)."""
        z_shape = (latent_shape[0] // 4, latent_shape[1] // 4)
        z_strings = rans_guard.safe_strings(strings, self.entropy_bottleneck, z_shape)
        return self._z_symbols(self.entropy_bottleneck.decompress(z_strings, z_shape))

    def side(self, net: IntegerHyperSynthesis, symbols: torch.Tensor, layout: TileLayout) -> HyperSide:
        """What coding the tiles needs: the integer h_s ``net`` (a variable-rate model's at its quality), the
        hyper-latent's symbols, and the tables of ``layout``."""
        tables = GroupedTables(self.gaussian_conditional) if layout is TileLayout.GROUPED else None
        return HyperSide(net, symbols, layout, tables)

    def tile_parameters(self, side: HyperSide, tile: Tile) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CDF indexes (1, M, *tile.shape) of one tile of y, and its means (None for a scale-only model)."""
        height, width = side.symbols.shape[-2:]
        m = self.hyper_margin
        top, left = max(0, tile.top // 4 - m), max(0, tile.left // 4 - m)
        bottom, right = min(height, -(-tile.bottom // 4) + m), min(width, -(-tile.right // 4) + m)
        rows, cols = tile.top - 4 * top, tile.left - 4 * left
        region = (..., slice(rows, rows + tile.shape[0]), slice(cols, cols + tile.shape[1]))
        indexes, means = side.net.coding_parameters(side.symbols[..., top:bottom, left:right])
        return indexes[region], (means[region].contiguous() if means is not None else None)

    def tile_indexes(self, side: HyperSide, tile: Tile) -> torch.Tensor:
        """CDF indexes (1, M, *tile.shape) of one tile of y."""
        return self.tile_parameters(side, tile)[0]

    def compress_latent(self, y: torch.Tensor, tile: Tile, side: HyperSide) -> bytes:
        indexes, means = self.tile_parameters(side, tile)
        return latent_coding.encode_tile(self.gaussian_conditional, y, indexes, means, side.layout, side.tables)

    def decompress_latent(self, string: bytes, tile: Tile, side: HyperSide) -> torch.Tensor:
        indexes, means = self.tile_parameters(side, tile)
        return latent_coding.decode_tile(self.gaussian_conditional, string, indexes, means, side.layout, side.tables)

    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z = self.hyper_analysis(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        indexes, means = self.integer_hyper_synthesis().coding_parameters(self._z_symbols(z_hat))
        y_strings = self.gaussian_conditional.compress(y, indexes, means=means)
        return {"strings": [y_strings, z_strings], "shape": tuple(z.shape[-2:])}

    def decompress(self, strings: list, shape: tuple) -> dict:
        y_strings, z_strings = strings
        shape = tuple(shape)
        z_strings = rans_guard.safe_strings(z_strings, self.entropy_bottleneck, shape)
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        indexes, means = self.integer_hyper_synthesis().coding_parameters(self._z_symbols(z_hat))
        y_strings = rans_guard.safe_gaussian_strings(y_strings, self.gaussian_conditional, indexes)
        y_hat = self.gaussian_conditional.decompress(y_strings, indexes, means=means)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1)}
