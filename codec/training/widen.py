"""Grow a trained model: more latent channels M or transform channels N, the same function.

At high qualities our models are held back by the width of the latent, not by training steps: without any
quantization g_s(g_a(x)) of the M=128 models reaches only about 34 dB on held-out photos at lambda 0.0483 and
0.18 alike. A wider latent starts from a trained narrower model instead of from scratch: the old channels keep
their weights, and the new ones enter with zero weight wherever they are *read* (the synthesis g_s, and for the
hyperprior the hyper-analysis h_a), so the wider model reconstructs every image exactly as the narrower one
did and its old channels cost exactly the same bits. What the new channels are *written* by (the last layer of
g_a, the rows of h_s that give their scales) starts as a fresh model would, only quieter; training then teaches
g_s to read them. A factorized model's new channels get narrow densities centred on 0, not fresh ones: a fresh
density is wide and charges each near-zero value several bits.
"""

from __future__ import annotations

import torch
from torch import nn

#: The new channels' analysis weights start at this fraction of a fresh model's: their values are then mostly
#: below 0.5 and round to 0, so the wider model starts at the narrower one's rate as well as its distortion.
#: At full size (Xavier) the new channels of hyperprior q8 grown to M=256 cost 3.7 bpp more on held-out crops
#: (1.37 -> 5.06; at 0.1: 1.44), which training would first have to undo.
NEW_CHANNEL_SCALE = 0.1

#: init_scale of the new channels' factorized densities (EntropyBottleneck's default is 10): narrow enough that
#: their near-zero values cost almost nothing, wide enough that training's uniform noise does not cost more.
#: Measured on factorized q8 grown to M=256 (held-out crops, rounded / noisy bpp over the M=128 model's):
#: 1: +1.0 / +1.0, 0.3: +0.28 / +0.38, 0.1: +0.016 / +0.17, 0.03: +0.025 / +0.20.
NEW_DENSITY_SCALE = 0.1


def grow_latent(model: nn.Module, state: dict[str, torch.Tensor], source_M: int) -> None:
    """Load ``state``, the weights of a model with ``source_M`` latent channels and the same N, into the
    wider ``model`` (see :func:`grow`)."""
    grow(model, state, source_N=model.config.N, source_M=source_M)


def grow(model: nn.Module, state: dict[str, torch.Tensor], *, source_N: int, source_M: int) -> None:
    """Load ``state``, the weights of a model with ``source_N`` transform (and hyper-latent) channels and
    ``source_M`` latent channels, into the wider ``model``, which then computes the same function.

    New hidden channels (N) enter as new latent channels do: every layer that reads them starts with zero weights
    on them (a GDN's new gamma columns are zero, so the old channels are normalised as before), and the layers that
    write them start fresh. New hyper-latent channels (a hyperprior's z, N wide) get narrow densities and quiet
    writers, like a factorized model's new latent channels, so they cost next to nothing at first.

    ``model`` must be freshly built (its weights are the initial values of the new channels), of the same
    family as the source, with ``N >= source_N`` and ``M >= source_M``.

    Raises:
        ValueError: a narrower target, or a weight that differs in shape other than by the growing widths.
    """
    N, M = model.config.N, model.config.M
    if source_M > M or source_N > N:
        raise ValueError(f"cannot narrow a model: N={source_N}, M={source_M} into N={N}, M={M}")
    widths = {(source_M, M), (source_N, N)}
    own = model.state_dict()
    merged, grown_dims = {}, {}
    for key, fresh in own.items():
        old = state.get(key)
        if old is None or _is_coding_table(key):
            merged[key] = fresh  # CDF tables are rebuilt from the weights when the model is exported
            continue
        if old.shape == fresh.shape:
            merged[key] = old.to(fresh.dtype)
            continue
        pairs = list(zip(old.shape, fresh.shape))
        grown = {d: a for d, (a, b) in enumerate(pairs) if a != b and (a, b) in widths}
        if old.dim() != fresh.dim() or not grown or any(a != b for d, (a, b) in enumerate(pairs) if d not in grown):
            raise ValueError(f"{key}: shape {tuple(old.shape)} does not grow into {tuple(fresh.shape)}")
        grown_dims[key] = grown
        value = fresh.clone()
        value[tuple(slice(0, old.shape[d]) for d in range(old.dim()))] = old
        merged[key] = value
    model.load_state_dict(merged)
    _silence_new_inputs(model, grown_dims)
    _quieten_new_outputs(model, grown_dims)
    _narrow_new_densities(model, grown_dims)


def _is_coding_table(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


@torch.no_grad()
def _silence_new_inputs(model: nn.Module, grown_dims: dict[str, dict[int, int]]) -> None:
    """Zero the weights with which a layer reads new channels, so its output is unchanged.

    A GDN's new gamma entries need nothing: a fresh gamma is diagonal, and its reparametrisation gives the
    off-diagonal entries exactly 0."""
    for name, module in model.named_modules():
        grown = grown_dims.get(f"{name}.weight", {})
        # the input channels are dim 0 of a transposed convolution's weight (in, out, k, k), dim 1 of a
        # convolution's (out, in, k, k)
        if isinstance(module, nn.ConvTranspose2d) and 0 in grown:
            module.weight[grown[0]:] = 0
        elif isinstance(module, nn.Conv2d) and 1 in grown:
            module.weight[:, grown[1]:] = 0


@torch.no_grad()
def _quieten_new_outputs(model: nn.Module, grown_dims: dict[str, dict[int, int]]) -> None:
    """Scale down the weights that write new coded channels, y's and z's (see NEW_CHANNEL_SCALE)."""
    for transform in ("g_a", "h_a"):
        layers = getattr(model, transform, None)
        if layers is None:
            continue
        old = grown_dims.get(f"{transform}.{len(layers) - 1}.weight", {}).get(0)
        if old is not None:
            layers[-1].weight[old:] *= NEW_CHANNEL_SCALE


@torch.no_grad()
def _narrow_new_densities(model: nn.Module, grown_dims: dict[str, dict[int, int]]) -> None:
    """Give the new channels of a grown factorized bottleneck (y's, or a hyperprior's z) narrow densities centred
    on 0.

    A fresh EntropyBottleneck density is wide (init_scale 10) and, through its random biases, off centre: on
    factorized q8 grown to M=256 it charged the new, nearly all-zero channels 2.7 bpp on held-out crops (1.64 ->
    4.34); copying the most peaked old channel's density still +0.5. At NEW_DENSITY_SCALE with zero biases
    (an odd cumulative, so a density symmetric about 0): +0.016 bpp rounded, +0.17 with training's uniform noise.
    """
    prefix = "entropy_bottleneck."
    keys = [key for key, dims in grown_dims.items() if key.startswith(prefix) and list(dims) == [0]]
    if not keys:
        return
    from .._compressai import EntropyBottleneck

    old = grown_dims[keys[0]][0]
    bottleneck = model.entropy_bottleneck
    fresh = EntropyBottleneck(bottleneck.channels - old, init_scale=NEW_DENSITY_SCALE, filters=bottleneck.filters)
    for name, param in fresh.named_parameters():
        if name.startswith("biases."):
            param.zero_()
    fresh_params, params = dict(fresh.named_parameters()), dict(bottleneck.named_parameters())
    for key in keys:
        name = key[len(prefix):]
        params[name][old:] = fresh_params[name].to(params[name].dtype)
