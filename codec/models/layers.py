"""Building blocks of the transforms: strided 5x5 convolutions, their transposed twins, and the GDN
analysis / synthesis stacks both model families share."""

from __future__ import annotations

from torch import nn

from .._compressai import GDN


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """A convolution that divides height and width by ``stride`` (padding keeps sizes exact)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """A transposed convolution that multiplies height and width by ``stride`` exactly."""
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        output_padding=stride - 1,
        padding=kernel_size // 2,
    )


def analysis_transform(N: int, M: int) -> nn.Sequential:
    """g_a: image (3 channels) -> latent (M channels) at 1/16 of the size; GDN between the convolutions."""
    return nn.Sequential(
        conv(3, N), GDN(N),
        conv(N, N), GDN(N),
        conv(N, N), GDN(N),
        conv(N, M),
    )  # fmt: skip


def synthesis_transform(N: int, M: int) -> nn.Sequential:
    """g_s: latent (M channels) -> image (3 channels) at 16 times the size; inverse GDN between."""
    return nn.Sequential(
        deconv(M, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True),
        deconv(N, 3),
    )  # fmt: skip


def init_weights(model: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every (transposed) convolution of ``model``.

    GDN starts close to the identity (beta=1, small gamma), so the layers act linearly at first: Xavier keeps
    the activation variance constant through such a stack.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
