"""Growing the latent of a trained model (codec/training/widen.py): the wider model starts out coding exactly as the
narrower one, and its new channels can learn."""

from __future__ import annotations

import pytest
import torch

from aecodec.training.export import export_final
from aecodec.config import ModelConfig
from aecodec.training.loss import RateDistortionLoss
from aecodec.models import build_model
from aecodec.training.train import load_initial_weights
from aecodec.training.variable_rate import load_start
from aecodec.training.widen import grow, grow_latent

from conftest import natural_like


def _image(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(natural_like(64, 64, seed)).permute(2, 0, 1).float().div(255).unsqueeze(0)


def _trained_looking(family: str, M: int) -> torch.nn.Module:
    """A small model with weights moved away from the near-linear initialisation."""
    torch.manual_seed(5)
    net = build_model(ModelConfig(family=family, N=8, M=M))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if not name.endswith("quantiles"):
                p.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("family", ["factorized", "hyperprior"])
def test_grown_model_reconstructs_and_rates_the_old_channels_identically(family):
    narrow = _trained_looking(family, M=6).eval()
    torch.manual_seed(9)
    wide = build_model(ModelConfig(family=family, N=8, M=10))
    grow_latent(wide, narrow.state_dict(), source_M=6)
    wide.eval()
    x = _image()
    with torch.no_grad():
        before, after = narrow(x), wide(x)
    assert torch.equal(before["x_hat"], after["x_hat"])
    # equal up to float rounding: the per-channel densities are evaluated as one batch of a different size
    torch.testing.assert_close(before["likelihoods"]["y"], after["likelihoods"]["y"][:, :6], rtol=1e-5, atol=1e-7)
    if family == "hyperprior":
        torch.testing.assert_close(before["likelihoods"]["z"], after["likelihoods"]["z"], rtol=1e-5, atol=1e-7)
    # the new channels carry values (g_a writes them) that g_s does not read yet
    assert wide.g_a(x)[:, 6:].abs().sum() > 0


def test_new_channels_learn_and_lower_the_loss():
    narrow = _trained_looking("hyperprior", M=6)
    wide = build_model(ModelConfig(family="hyperprior", N=8, M=10))
    grow_latent(wide, narrow.state_dict(), source_M=6)
    read_new = wide.g_s[0].weight[6:]
    assert read_new.abs().sum() == 0
    loss_fn = RateDistortionLoss(lmbda=0.05)
    optimizer = torch.optim.Adam(wide.parameters(), lr=1e-3)
    x = _image(1)
    for _ in range(5):
        optimizer.zero_grad()
        loss_fn(wide(x), x)["loss"].backward()
        optimizer.step()
    assert wide.g_s[0].weight[6:].abs().sum() > 0  # the synthesis has started to read them


def test_training_start_from_a_narrower_checkpoint_grows_the_latent(tmp_path):
    narrow = _trained_looking("factorized", M=6)
    narrow.update(force=True)
    path = tmp_path / "narrow.pt"
    export_final(narrow, path, {"lambda": 0.01})
    wide = build_model(ModelConfig(family="factorized", N=8, M=9))
    load_initial_weights(wide, path)
    x = _image(2)
    with torch.no_grad():
        narrow_half = build_model(ModelConfig(family="factorized", N=8, M=6))
        load_initial_weights(narrow_half, path)  # the stored (float16) weights, as the wide model got them
        assert torch.equal(narrow_half.eval()(x)["x_hat"], wide.eval()(x)["x_hat"])


def test_a_latent_cannot_shrink_or_change_its_hidden_width():
    wide = _trained_looking("factorized", M=10)
    with pytest.raises(ValueError, match="cannot narrow"):
        grow_latent(build_model(ModelConfig(family="factorized", N=8, M=6)), wide.state_dict(), source_M=10)
    other_n = build_model(ModelConfig(family="factorized", N=12, M=6)).state_dict()
    with pytest.raises(ValueError, match="does not grow"):
        grow_latent(build_model(ModelConfig(family="factorized", N=8, M=10)), other_n, source_M=6)


def test_grown_factorized_channels_start_nearly_free():
    """The new channels' densities are narrow and centred: their near-zero values cost almost no bits."""
    narrow = _trained_looking("factorized", M=6).eval()
    wide = build_model(ModelConfig(family="factorized", N=8, M=10))
    grow_latent(wide, narrow.state_dict(), source_M=6)
    wide.eval()
    x = _image(3)
    with torch.no_grad():
        y_new = wide.g_a(x)[:, 6:]
        new_bits = -torch.log2(wide(x)["likelihoods"]["y"][:, 6:]).sum()
    assert y_new.abs().max() < 0.5  # they all round to 0 ...
    assert new_bits / y_new.numel() < 0.05  # ... and a fresh (init_scale 10) density would charge ~4 bits each


@pytest.mark.parametrize("family", ["factorized", "hyperprior", "variable-rate"])
def test_wider_transforms_start_out_computing_the_same_function(family):
    narrow = _trained_looking(family, M=6).eval()
    torch.manual_seed(9)
    wide = build_model(ModelConfig(family=family, N=12, M=6))
    grow(wide, narrow.state_dict(), source_N=8, source_M=6)
    wide.eval()
    x = _image(4)
    with torch.no_grad():
        before, after = narrow(x), wide(x)
    # close, not equal: a wider convolution adds its zero terms in another order
    torch.testing.assert_close(before["x_hat"], after["x_hat"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(before["likelihoods"]["y"], after["likelihoods"]["y"], rtol=1e-4, atol=1e-6)
    if family != "factorized":  # z grew by 4 channels: the old ones cost the same, the new ones almost nothing
        old_z, new_z = after["likelihoods"]["z"][:, :8], after["likelihoods"]["z"][:, 8:]
        torch.testing.assert_close(before["likelihoods"]["z"], old_z, rtol=1e-4, atol=1e-6)
        assert -torch.log2(new_z).sum() < 0.05 * -torch.log2(old_z).sum()
    assert wide.g_a[0].weight[8:].abs().sum() > 0  # the new hidden channels are written, not read yet
    assert wide.g_a[2].weight[:, 8:].abs().sum() == 0


def test_a_variable_rate_round_starts_from_a_narrower_checkpoint(tmp_path):
    narrow = _trained_looking("variable-rate", M=6)
    narrow.update(force=True)
    path = tmp_path / "narrow.pt"
    export_final(narrow, path, {"lambda": None})
    wide = build_model(ModelConfig(family="variable-rate", N=12, M=6))
    load_start(wide, path)
    narrow_half = build_model(ModelConfig(family="variable-rate", N=8, M=6))
    load_start(narrow_half, path)  # the stored (float16) weights, as the wide model got them
    x = _image(5)
    with torch.no_grad():
        torch.testing.assert_close(narrow_half.eval()(x)["x_hat"], wide.eval()(x)["x_hat"], rtol=1e-5, atol=1e-6)
    assert torch.equal(wide.log_gain, narrow_half.log_gain)
