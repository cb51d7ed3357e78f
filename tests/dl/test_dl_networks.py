"""U-Net++ generator and conditional discriminator: shapes, padding, channel bookkeeping, training step."""

from __future__ import annotations

import pytest
import torch

from napari_irdm.dl import (
    PRESETS,
    Discriminator,
    UNetPlusPlus,
    build_generator,
    content_loss,
    ralsgan_d_loss,
    ralsgan_g_loss,
)


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("hw", [(50, 70), (16, 16), (33, 17)])
def test_generator_keeps_any_shape(depth, hw):
    g = UNetPlusPlus(base_width=4, depth=depth)
    x = torch.rand(2, 1, *hw)
    y = g(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_generator_node_bookkeeping():
    depth, w = 4, 4
    g = UNetPlusPlus(base_width=w, depth=depth)
    names = {n for n, _ in g.named_children() if n.startswith("x_")}
    expected = {f"x_{i}_{j}" for i in range(depth + 1) for j in range(depth + 1 - i)}
    assert names == expected  # nodes x_{i,j} for i + j <= depth, 15 of them
    for i in range(depth + 1):
        assert getattr(g, f"x_{i}_0").out_channels == w * 2**i
    # dense skip: x_{i,j} takes j same-level maps and one upsampled map from below
    assert g.x_1_2.in_channels == 2 * (2 * w) + 4 * w
    assert g.x_0_4.in_channels == 4 * w + 2 * w
    assert g.head.in_channels == w  # output from the last top node only


def test_generator_residual_starts_near_identity_and_direct_does_not():
    x = torch.rand(2, 1, 40, 24)
    g = UNetPlusPlus(base_width=4, depth=3, residual=True).eval()
    assert (g(x) - x).abs().max() < 0.1
    d = UNetPlusPlus(base_width=4, depth=3, residual=False).eval()
    assert (d(x) - x).abs().mean() > 0.05


def test_tiny_inputs_are_padded_not_rejected():
    g = UNetPlusPlus(base_width=4, depth=4).eval()
    x = torch.rand(1, 1, 5, 7)  # smaller than 2**depth: edge replication instead of reflect
    assert g(x).shape == x.shape


def test_padding_crops_back_the_same_region():
    # a non-residual net on a padded-by-us input must agree with the net padding itself
    g = UNetPlusPlus(base_width=4, depth=2, residual=False).eval()
    x = torch.rand(1, 1, 14, 10)  # pads to 16 x 12: rows 1 + 1, cols 1 + 1
    xp = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    assert torch.allclose(g(x), g(xp)[..., 1:-1, 1:-1], atol=1e-6)


def test_bad_input_raises_valueerror():
    g = UNetPlusPlus(base_width=4, depth=2)
    with pytest.raises(ValueError, match="expects"):
        g(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match="residual"):
        UNetPlusPlus(in_channels=2, out_channels=1, residual=True)


def test_build_generator_presets_and_overrides():
    assert build_generator("cpu").base_width == PRESETS["cpu"]["base_width"]
    g = build_generator({"preset": "paper", "base_width": 4, "depth": 2})
    assert (g.base_width, g.depth) == (4, 2)
    assert UNetPlusPlus(**g.config).config == g.config
    with pytest.raises(ValueError, match="preset"):
        build_generator("huge")
    with pytest.raises(ValueError, match="unknown generator option"):
        build_generator({"width": 3})


def test_discriminator_patch_map_shape():
    d = Discriminator(in_channels=2, base_width=4)
    c, x = torch.rand(3, 1, 50, 70), torch.rand(3, 1, 50, 70)
    s = d(c, x)
    assert s.shape == (3, 1, 2, 3)  # ceil(50/32), ceil(70/32)
    assert d(torch.rand(2, 1, 256, 256), torch.rand(2, 1, 256, 256)).shape == (2, 1, 8, 8)
    # final layer has no activation: scores are unbounded, may be negative
    assert isinstance(d.score, torch.nn.Conv2d)
    with pytest.raises(ValueError):
        d(torch.rand(3, 1, 50, 70), torch.rand(2, 1, 50, 70))


def test_discriminator_is_conditional():
    d = Discriminator(base_width=4).eval()
    x = torch.rand(2, 1, 32, 32)
    assert not torch.allclose(d(torch.rand(2, 1, 32, 32), x), d(torch.zeros(2, 1, 32, 32), x))


def test_one_training_step_changes_weights_and_lowers_loss():
    torch.manual_seed(1)
    g = UNetPlusPlus(base_width=4, depth=2)
    d = Discriminator(base_width=4)
    x = torch.rand(4, 1, 32, 32)
    target = torch.roll(x, 3, dims=-1) * 0.5
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=1e-4)
    opt_d = torch.optim.RMSprop(d.parameters(), lr=1e-4, alpha=0.99, weight_decay=1e-4)

    # discriminator step on RaLSGAN Eq. (1)
    with torch.no_grad():
        fake = g(x)
    d_before = {k: v.clone() for k, v in d.state_dict().items()}
    loss_d0 = ralsgan_d_loss(d(x, target), d(x, fake))
    opt_d.zero_grad()
    loss_d0.backward()
    opt_d.step()
    with torch.no_grad():
        loss_d1 = ralsgan_d_loss(d(x, target), d(x, fake))
    assert loss_d1 < loss_d0
    assert any(not torch.equal(v, d.state_dict()[k]) for k, v in d_before.items() if v.is_floating_point())

    # generator step on L1 + RaLSGAN Eq. (2)
    def g_loss():
        out = g(x)
        return content_loss(out, target) + 0.01 * ralsgan_g_loss(d(x, target).detach(), d(x, out))

    before = [p.detach().clone() for p in g.parameters()]
    loss0 = g_loss()
    opt_g.zero_grad()
    loss0.backward()
    opt_g.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, g.parameters())]
    assert all(changed), "every generator parameter must move after one step"
    with torch.no_grad():
        loss1 = g_loss()
    assert loss1 < loss0
