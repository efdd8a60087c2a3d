"""Coding an image tile by tile, so that memory is set by the tile and not by the image.

The latent grid is cut into square tiles of ``tile`` x ``tile`` positions (raster order); each tile is one rANS
string of the .aec file. Both transforms are convolutional with a bounded reach (``model.latent_margin``
latent positions): the analysis of a tile runs on its pixels plus that margin of neighbouring pixels, the
synthesis on its latents plus that margin of neighbouring latents, and only the tile's own part of the
result is kept. Inside the image the margin supplies exactly the neighbours the untiled computation would
see; at the image's edges the tile's edge is the image's edge. So the tiled result equals the untiled one up
to float rounding (different convolution sizes may sum in a different order), and there are no seams.

A 48-megapixel photo then needs the 8-bit image, its quantized latent (1/256 of the pixels times M floats)
and one tile's activations, instead of float activations of the whole image (several GB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch


@dataclass(frozen=True)
class Tile:
    """A rectangle of latent positions, half-open: rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.bottom - self.top, self.right - self.left)


def grid(latent_shape: tuple[int, int], tile: int) -> list[Tile]:
    """The tiles covering a latent of ``latent_shape``, in raster order (the order of the strings)."""
    height, width = latent_shape
    return [
        Tile(top, left, min(top + tile, height), min(left + tile, width))
        for top in range(0, height, tile)
        for left in range(0, width, tile)
    ]


def _with_margin(tile: Tile, margin: int, latent_shape: tuple[int, int]) -> Tile:
    height, width = latent_shape
    return Tile(max(0, tile.top - margin), max(0, tile.left - margin),
                min(height, tile.bottom + margin), min(width, tile.right + margin))  # fmt: skip


def tile_input(
    pixels: np.ndarray, tile: Tile, margin: int, factor: int, latent_shape: tuple[int, int]
) -> tuple[torch.Tensor, Tile]:
    """Float input (1, 3, h, w) for the analysis of ``tile``: its pixels and the margin around them.

    ``pixels`` is the H x W x 3 uint8 image; the model's input is that image padded up to ``factor`` x the
    latent shape by repeating its last row and column, done here by clamping indexes so that the padded
    image never exists in full. Returns the tensor and the latent rectangle it covers.
    """
    outer = _with_margin(tile, margin, latent_shape)
    top, bottom, left, right = outer.top * factor, outer.bottom * factor, outer.left * factor, outer.right * factor
    # the part inside the image, then its last row and column repeated over the rest (a rectangle wholly below or
    # beside the image starts at its last row or column)
    crop = pixels[min(top, pixels.shape[0] - 1) : bottom, min(left, pixels.shape[1] - 1) : right]
    below, beside = bottom - top - crop.shape[0], right - left - crop.shape[1]
    crop = np.pad(crop, ((0, below), (0, beside), (0, 0)), mode="edge") if below or beside else crop.copy()
    # H x W x 3 memory read as (1, 3, H, W): channels-last, the layout the transforms run in
    return torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0).float().div_(255.0), outer


def _inner(tensor: torch.Tensor, tile: Tile, outer: Tile, scale: int) -> torch.Tensor:
    """The part of ``tensor`` (computed over ``outer``, ``scale`` elements per latent position) in ``tile``."""
    top, left = (tile.top - outer.top) * scale, (tile.left - outer.left) * scale
    height, width = tile.shape
    return tensor[..., top : top + height * scale, left : left + width * scale]


def analyse(
    analysis: Callable[[torch.Tensor], torch.Tensor],
    pixels: np.ndarray,
    latent_shape: tuple[int, int],
    tile: int,
    margin: int,
    factor: int,
    device: torch.device,
) -> Iterator[tuple[Tile, torch.Tensor]]:
    """Yield each tile of the grid with its latent y (1, M, *tile.shape), computed with ``margin`` around it."""
    for t in grid(latent_shape, tile):
        x, outer = tile_input(pixels, t, margin, factor, latent_shape)
        yield t, _inner(analysis(x.to(device)), t, outer, 1)


def synthesise(
    synthesis: Callable[[torch.Tensor], torch.Tensor],
    y_hat: torch.Tensor,
    tile: int,
    margin: int,
    factor: int,
) -> Iterator[tuple[Tile, torch.Tensor]]:
    """Yield each tile of the grid with its reconstruction (1, 3, factor x tile.shape), from the whole
    quantized latent ``y_hat`` (1, M, h, w), computed with ``margin`` latents around the tile."""
    latent_shape = tuple(y_hat.shape[-2:])
    for t in grid(latent_shape, tile):
        outer = _with_margin(t, margin, latent_shape)
        x_hat = synthesis(y_hat[..., outer.top : outer.bottom, outer.left : outer.right])
        yield t, _inner(x_hat, t, outer, factor)
