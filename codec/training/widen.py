"""Grow a trained model's latent: more channels M, the same function.

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
    """Load ``state``, the weights of a model with ``source_M`` latent channels, into the wider ``model``.

    ``model`` must be freshly built (its weights are the initial values of the new channels), of the same
    family and N as the source, with ``model.config.M >= source_M``.

    Raises:
        ValueError: a weight that differs in shape other than by the latent width.
    """
    M = model.config.M
    if source_M > M:
        raise ValueError(f"cannot narrow a latent: {source_M} channels into {M}")
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
        grown = [d for d, (a, b) in enumerate(zip(old.shape, fresh.shape)) if (a, b) == (source_M, M)]
        if old.dim() != fresh.dim() or not grown or any(
            a != b for d, (a, b) in enumerate(zip(old.shape, fresh.shape)) if d not in grown
        ):
            raise ValueError(f"{key}: shape {tuple(old.shape)} does not grow into {tuple(fresh.shape)}")
        grown_dims[key] = grown
        value = fresh.clone()
        value[tuple(slice(0, source_M) if d in grown else slice(None) for d in range(old.dim()))] = old
        merged[key] = value
    model.load_state_dict(merged)
    _silence_new_inputs(model, grown_dims, source_M)
    _quieten_new_outputs(model, grown_dims, source_M)
    _narrow_new_densities(model, grown_dims, source_M)


def _is_coding_table(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


@torch.no_grad()
def _silence_new_inputs(model: nn.Module, grown_dims: dict[str, list[int]], source_M: int) -> None:
    """Zero the weights with which a layer reads the new latent channels, so its output is unchanged."""
    for name, module in model.named_modules():
        grown = grown_dims.get(f"{name}.weight", [])
        # the input channels are dim 0 of a transposed convolution's weight (in, out, k, k), dim 1 of a
        # convolution's (out, in, k, k)
        if isinstance(module, nn.ConvTranspose2d) and 0 in grown:
            module.weight[source_M:] = 0
        elif isinstance(module, nn.Conv2d) and 1 in grown:
            module.weight[:, source_M:] = 0


@torch.no_grad()
def _quieten_new_outputs(model: nn.Module, grown_dims: dict[str, list[int]], source_M: int) -> None:
    """Scale down the analysis weights that write the new latent channels (see NEW_CHANNEL_SCALE)."""
    last = model.g_a[-1]
    if 0 in grown_dims.get(f"g_a.{len(model.g_a) - 1}.weight", []):
        last.weight[source_M:] *= NEW_CHANNEL_SCALE



@torch.no_grad()
def _narrow_new_densities(model: nn.Module, grown_dims: dict[str, list[int]], source_M: int) -> None:
    """Give the new channels of a grown factorized bottleneck narrow densities centred on 0.

    A fresh EntropyBottleneck density is wide (init_scale 10) and, through its random biases, off centre: on
    factorized q8 grown to M=256 it charged the new, nearly all-zero channels 2.7 bpp on held-out crops (1.64 ->
    4.34); copying the most peaked old channel's density still +0.5. At NEW_DENSITY_SCALE with zero biases
    (an odd cumulative, so a density symmetric about 0): +0.016 bpp rounded, +0.17 with training's uniform noise.
    """
    prefix = "entropy_bottleneck."
    keys = [key for key, dims in grown_dims.items() if key.startswith(prefix) and dims == [0]]
    if not keys:
        return  # the hyperprior's bottleneck codes z, whose width does not grow
    from .._compressai import EntropyBottleneck

    bottleneck = model.entropy_bottleneck
    fresh = EntropyBottleneck(model.config.M - source_M, init_scale=NEW_DENSITY_SCALE, filters=bottleneck.filters)
    for name, param in fresh.named_parameters():
        if name.startswith("biases."):
            param.zero_()
    fresh_params, params = dict(fresh.named_parameters()), dict(bottleneck.named_parameters())
    for key in keys:
        name = key[len(prefix):]
        params[name][source_M:] = fresh_params[name].to(params[name].dtype)
