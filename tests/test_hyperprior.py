"""The scale-hyperprior family: training forward, real entropy coding, and CDF indexes that do not depend on
how (threads, evaluation order, precision, process) the hyper-synthesis is evaluated."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aecodec
import fuzz
from aecodec import container, tiling
from aecodec.models import integer_net
from aecodec.checkpoint import load_final
from aecodec.training.export import export_final
from aecodec.config import preset
from aecodec.training.loss import RateDistortionLoss
from aecodec.models import build_model

from conftest import REPO, make_zoo, natural_like


def _image(width: int, height: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(natural_like(width, height, seed)).permute(2, 0, 1).float().div(255).unsqueeze(0)


def _perturbed(preset_name: str):
    torch.manual_seed(3)
    net = build_model(preset(preset_name))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if not name.endswith("quantiles"):
                p.add_(0.1 * torch.randn_like(p))
    net.update(force=True)
    return net.eval()


@pytest.fixture(scope="module")
def model():
    """A tiny hyperprior with weights perturbed away from the near-linear initialisation, tables built."""
    return _perturbed("hyperprior-tiny")


@pytest.fixture(scope="module")
def mean_model():
    """The same with means (mean-scale)."""
    return _perturbed("hyperprior-mean-tiny")


def test_forward_gives_both_likelihoods_and_a_finite_loss(model):
    model.train()
    out = model(_image(64, 64))
    model.eval()
    assert set(out["likelihoods"]) == {"y", "z"} and out["x_hat"].shape == (1, 3, 64, 64)
    losses = RateDistortionLoss(0.01)(out, _image(64, 64))
    assert torch.isfinite(losses["loss"]) and losses["bpp_loss"] > 0


@torch.no_grad()
def test_integer_scales_follow_the_float_hyper_synthesis(model):
    z = model.h_a(torch.abs(model.g_a(_image(128, 128))))
    symbols = torch.round(z - model.entropy_bottleneck._get_medians())
    float_scales = model.h_s(symbols + model.entropy_bottleneck._get_medians())
    fixed = model.integer_hyper_synthesis().fixed_scales(symbols) / 2**integer_net.ACT_BITS
    # fixed point rounds each layer to 1/256: differences of that order, far below the table's 9% spacing
    assert torch.allclose(fixed.float(), float_scales, atol=0.05, rtol=0.01)


@torch.no_grad()
def test_round_trip_through_real_entropy_coding(model):
    x = _image(128, 64, seed=1)
    coded = model.compress(x)
    assert len(coded["strings"]) == 2 and coded["shape"] == (1, 2)
    x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
    assert x_hat.shape == x.shape
    # the decoder rebuilt exactly the encoder's quantized latent: same reconstruction as coding without rANS
    y_hat = torch.round(model.g_a(x))
    assert torch.equal(x_hat, model.g_s(y_hat).clamp(0, 1))


def _reference_indexes(net: integer_net.IntegerHyperSynthesis, symbols: torch.Tensor, permute: bool) -> torch.Tensor:
    """The same integer network evaluated another way: a transposed convolution as a convolution of the
    zero-upsampled input with the flipped kernel, each convolution as im2col and a matrix product in float64,
    input channels optionally permuted (another order of the sums)."""
    x = (symbols.double() * 2**integer_net.ACT_BITS + net.medians).clamp(-(2**20), 2**20)
    for layer in net.layers:
        # as a convolution's (out, in, k, k); a transposed one's (in, out, k, k) flipped is that of the upsampled
        weight = layer.weight.flip(-1, -2).transpose(0, 1) if layer.transposed else layer.weight
        stride, padding, k = layer.stride, layer.padding, weight.shape[-1]
        if permute:
            order = torch.randperm(weight.shape[1], generator=torch.Generator().manual_seed(0))
            x, weight = x[:, order], weight[:, order]
        if layer.transposed:
            n, c, h, w = x.shape
            up = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
            up[..., ::stride, ::stride] = x
            before = k - 1 - padding
            x = F.pad(up, (before, before + layer.output_padding, before, before + layer.output_padding))
            stride, padding = 1, 0
        out_h = (x.shape[2] + 2 * padding - k) // stride + 1
        columns = F.unfold(x, k, padding=padding, stride=stride)
        acc = weight.reshape(weight.shape[0], -1) @ columns + layer.bias[:, None]
        shift = 2**integer_net.WEIGHT_BITS
        acc = torch.div(acc.clamp(min=0) + shift // 2, shift, rounding_mode="floor").clamp(max=2**20)
        x = acc.reshape(x.shape[0], -1, out_h, acc.shape[-1] // out_h)
    return (x[..., None] > net.thresholds[:-1]).sum(-1).to(torch.int32)


@torch.no_grad()
def test_indexes_do_not_depend_on_how_the_sums_are_done(model):
    symbols = torch.randint(-6, 7, (1, model.config.N, 5, 7)).double()
    net = model.integer_hyper_synthesis()
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(net.indexes(symbols))
    finally:
        torch.set_num_threads(before)
    results += [_reference_indexes(net, symbols, permute=False), _reference_indexes(net, symbols, permute=True)]
    assert all(torch.equal(results[0], r) for r in results[1:])
    assert results[0].unique().numel() > 3  # the scales spread over several CDFs


def test_float64_weights_pick_the_same_indexes(model):
    """The float model in float64 is a perturbed float path; the integer indexes derive from the stored
    weights by elementwise rounding, so they do not move."""
    symbols = torch.randint(-6, 7, (1, model.config.N, 4, 4)).double()
    double = build_model(preset("hyperprior-tiny"))
    double.load_state_dict(model.state_dict())
    double = double.double()
    single_indexes = model.integer_hyper_synthesis().indexes(symbols)
    assert torch.equal(single_indexes, double.integer_hyper_synthesis().indexes(symbols))


@pytest.mark.parametrize("which", ["model", "mean_model"])
def test_checkpoint_round_trip_and_fresh_process_decode(which, request, tmp_path):
    model = request.getfixturevalue(which)
    path = tmp_path / "hyper.pt"
    export_final(model, path, {"lambda": 0.01})
    loaded = load_final(path)
    x = _image(64, 64, seed=2)
    with torch.no_grad():
        coded = loaded.compress(x)
        here = loaded.decompress(coded["strings"], coded["shape"])["x_hat"]
    torch.save({"strings": coded["strings"], "shape": coded["shape"]}, tmp_path / "coded.pt")
    code = textwrap.dedent(
        f"""
        import torch
        from aecodec.checkpoint import load_final
        torch.set_num_threads(1)
        model = load_final({str(path)!r})
        coded = torch.load({str(tmp_path / "coded.pt")!r})
        with torch.no_grad():
            x_hat = model.decompress(coded["strings"], coded["shape"])["x_hat"]
        torch.save(x_hat, {str(tmp_path / "there.pt")!r})
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    there = torch.load(tmp_path / "there.pt")
    assert np.array_equal((here * 255).round().numpy(), (there * 255).round().numpy())


# -- through the image API: .aec streams, tiles, fuzzing ----------------------------------------------------


@pytest.fixture(scope="module")
def hyper_zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("hyperzoo"), (1,), "hyperprior", "hyperprior-tiny", perturb=0.1)


@pytest.fixture(scope="module")
def hyper(hyper_zoo):
    return aecodec.load_codec("hyperprior", 1, checkpoint_dir=hyper_zoo)


@pytest.mark.parametrize("mode, size", [("RGB", (150, 97)), ("LA", (31, 9)), ("RGB", (1, 1))])
def test_image_round_trip(hyper, mode, size):
    from PIL import Image

    image = Image.fromarray(natural_like(*size), "RGB").convert(mode)
    data = hyper.compress(image)
    header, strings = container.unpack(data)
    assert header.model_id == "hyperprior" and header.latent_shape == (-(-size[1] // 64) * 4, -(-size[0] // 64) * 4)
    assert len(strings) == 1 + 1 + (mode == "LA")  # z, one tile of y, alpha
    out = hyper.decompress(data)
    assert out.size == size and out.mode == mode


@torch.no_grad()
def test_tile_indexes_equal_the_whole_latents_exactly(hyper):
    model = hyper.model
    y = model.analysis(_image(320, 192, seed=4))  # latent 12 x 20: tiles of 8 cut through z's 4 x 4 blocks
    _, side = model.compress_side(y)
    whole = side.net.indexes(side.symbols)
    assert whole.unique().numel() > 3
    tiles = tiling.grid(tuple(y.shape[-2:]), 8)
    assert all(torch.equal(model.tile_indexes(side, t), whole[..., t.top : t.bottom, t.left : t.right]) for t in tiles)
    # the margin is what makes them equal
    model.hyper_margin = 0
    try:
        assert not all(
            torch.equal(model.tile_indexes(side, t), whole[..., t.top : t.bottom, t.left : t.right]) for t in tiles
        )
    finally:
        del model.hyper_margin


def test_multi_tile_stream_and_threads(hyper_zoo, hyper):
    """Same bytes and the same entropy-decoded latent with 1 or 2 threads; the float synthesis may move a
    pixel value by 1 (on AVX2-only CPUs its 2-thread sums run in another order)."""
    from PIL import Image

    image = Image.fromarray(natural_like(300, 205, seed=5), "RGB")
    tiled_codec = aecodec.load_codec("hyperprior", 1, checkpoint_dir=hyper_zoo, tile=8)
    before = torch.get_num_threads()
    try:
        coded, pixels, latents = {}, {}, {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            coded[threads] = tiled_codec.compress(image)
            pixels[threads] = np.asarray(hyper.decompress(coded[1])).astype(int)
            header, strings = container.unpack(coded[1])
            with torch.no_grad():
                side = hyper.model.decompress_side(strings[:1], header.latent_shape, layout=header.tile_layout)
                tiles = tiling.grid(header.latent_shape, header.tile)
                latents[threads] = [hyper.model.decompress_latent(s, t, side) for s, t in zip(strings[1:], tiles)]
    finally:
        torch.set_num_threads(before)
    assert coded[1] == coded[2]
    assert all(torch.equal(a, b) for a, b in zip(latents[1], latents[2]))
    assert np.abs(pixels[1] - pixels[2]).max() <= 1
    assert len(container.unpack(coded[1])[1]) == 1 + 2 * 3  # z and 2 x 3 tiles of the 16 x 20 latent
    single = np.asarray(hyper.decompress(hyper.compress(image))).astype(int)
    assert np.abs(single - pixels[1].astype(int)).max() <= 2


def test_quick_fuzz_of_hyperprior_streams(hyper):
    report = fuzz.run_fuzz(fuzz.base_stream(hyper, "RGB", 70, 40), hyper, 300, seed=0)
    assert report.ok, "\n".join(report.lines())
    assert report.outcomes["CorruptStreamError"] > 0 and report.outcomes[fuzz.DECODED] > 0


def test_a_factorized_run_starts_a_hyperprior(tmp_path):
    from aecodec.training.train import load_initial_weights

    torch.manual_seed(0)
    factorized = build_model(preset("tiny"))
    export_final(factorized, tmp_path / "f.pt", {})
    hyper = build_model(preset("hyperprior-tiny"))
    h_a_before = hyper.h_a[0].weight.clone()
    load_initial_weights(hyper, tmp_path / "f.pt")
    assert torch.equal(hyper.g_a[0].weight, factorized.g_a[0].weight.half().float())
    assert torch.equal(hyper.h_a[0].weight, h_a_before)  # the new parts keep their initialisation
    wider = build_model(preset("hyperprior-small"))
    with pytest.raises(ValueError, match="do not fit"):
        load_initial_weights(wider, tmp_path / "f.pt")


# -- mean-scale: the same family with means predicted from z -----------------------------------------------


@pytest.fixture(scope="module")
def mean_zoo(tmp_path_factory):
    return make_zoo(tmp_path_factory.mktemp("meanzoo"), (1,), "hyperprior", "hyperprior-mean-tiny", perturb=0.1)


@pytest.fixture(scope="module")
def mean_codec(mean_zoo):
    return aecodec.load_codec("hyperprior", 1, checkpoint_dir=mean_zoo, tile=8)


def test_a_scale_only_model_starts_a_mean_scale_one_coding_the_same_bytes(model, tmp_path):
    from aecodec.training.train import load_initial_weights

    export_final(model, tmp_path / "scale.pt", {"lambda": 0.01})
    mean_model = build_model(preset("hyperprior-mean-tiny"))
    load_initial_weights(mean_model, tmp_path / "scale.pt")
    mean_model.update(force=True)
    x = _image(128, 128, seed=6)
    with torch.no_grad():
        assert model.compress(x)["strings"] == mean_model.eval().compress(x)["strings"]
        with pytest.raises(RuntimeError):  # and not the other way: a mean-scale model's means would be lost
            model.load_state_dict(mean_model.state_dict())


@torch.no_grad()
def test_mean_scale_codes_y_minus_integer_means_and_decodes_them_back(mean_codec):
    model = mean_codec.model
    y = model.analysis(_image(320, 192, seed=4))
    _, side = model.compress_side(y)
    indexes, means = side.net.coding_parameters(side.symbols)
    assert means.abs().mean() > 0.1 and torch.equal(means, (means * 2**integer_net.ACT_BITS).round() / 2**8)
    # the float means the model trains with, within the fixed point's rounding
    _, float_means = model.hyper_synthesis(side.symbols.float() + model.entropy_bottleneck._get_medians())
    assert torch.allclose(float_means, means, atol=0.05)
    tiles = tiling.grid(tuple(y.shape[-2:]), 8)
    decoded = torch.zeros_like(y)
    for t in tiles:
        part = (..., slice(t.top, t.bottom), slice(t.left, t.right))
        tile_indexes, tile_means = model.tile_parameters(side, t)
        assert torch.equal(tile_indexes, indexes[part]) and torch.equal(tile_means, means[part])
        decoded[part] = model.decompress_latent(model.compress_latent(y[part], t, side), t, side)
    symbols = torch.round(y - means).masked_fill(indexes == 0, 0)  # the table's floor is not coded: 0 (format 5)
    assert torch.equal(decoded, symbols + means)
    assert not torch.equal(decoded, torch.round(y))


def test_mean_scale_streams_decode_the_same_latent_on_any_float_path(mean_codec):
    """As for scale-only models: 1 or 2 threads, the model in float64, a fresh process, all decode the same
    latent (the means as well as the CDF indexes come from the integer hyper-synthesis)."""
    from PIL import Image

    data = mean_codec.compress(Image.fromarray(natural_like(300, 205, seed=8), "RGB"))
    header, strings = container.unpack(data)
    assert len(strings) == 1 + 2 * 3  # z, then 2 x 3 tiles of y (latent 16 x 20)

    def decoded(model):
        side = model.decompress_side(strings[:1], header.latent_shape, layout=header.tile_layout)
        tiles = tiling.grid(header.latent_shape, header.tile)
        return torch.cat([model.decompress_latent(s, t, side).flatten() for s, t in zip(strings[1:], tiles)])

    before = torch.get_num_threads()
    try:
        with torch.no_grad():
            latents = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                latents.append(decoded(mean_codec.model))
            double = build_model(preset("hyperprior-mean-tiny"))
            double.load_state_dict(mean_codec.model.state_dict())
            latents.append(decoded(double.double().eval()))
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(latents[0], other) for other in latents[1:])
    assert not torch.equal(latents[0], latents[0].round())  # the means shifted the latent off the integers


def test_refinement_of_a_mean_scale_model_lowers_its_estimated_cost(mean_codec):
    """Refinement's latent as the decoder sees it: round(y - means) + means, with means from y's own z."""
    from aecodec import refine

    model = mean_codec.model
    pixels = natural_like(128, 128, seed=9)
    x = torch.from_numpy(pixels).permute(2, 0, 1).float().div(255)[None]

    def cost(latent):
        with torch.no_grad():
            squared_error = ((model.synthesis(model.coded_latent(latent)).clamp(0, 1) - x) ** 2).mean() * 3
            bits = sum(b.sum() for b in model.estimated_bits(latent).values())
        return float(0.01 * 255**2 * squared_error * x.shape[-1] * x.shape[-2] / 3 + bits)

    with torch.no_grad():
        y = model.analysis(x)
    refined = refine.refine_latent(model, y, pixels, 0.01, steps=8, lr=0.1)  # an untrained model: big steps
    assert cost(refined) < cost(y)
