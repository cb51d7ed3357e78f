"""RaLSGAN (paper Eq. 1 and 2) and L1 content loss on hand-computed values."""

from __future__ import annotations

import pytest
import torch

from napari_irdm.dl import content_loss, ralsgan_d_loss, ralsgan_g_loss


def test_ralsgan_hand_values():
    d_real = torch.tensor([1.0, 3.0])  # E = 2
    d_fake = torch.tensor([0.0, 2.0])  # E = 1
    # L_D = mean[(1-1-1)^2, (3-1-1)^2] + mean[(0-2+1)^2, (2-2+1)^2] = 1 + 1
    assert ralsgan_d_loss(d_real, d_fake).item() == pytest.approx(2.0)
    # L_G = mean[(1-1+1)^2, (3-1+1)^2] + mean[(0-2-1)^2, (2-2-1)^2] = 5 + 5
    assert ralsgan_g_loss(d_real, d_fake).item() == pytest.approx(10.0)


def test_ralsgan_optimum_and_symmetry():
    a = torch.randn(3, 1, 2, 2)
    # D that rates every real exactly 1 above the average fake (and fakes 1 below) is perfect
    assert ralsgan_d_loss(a * 0 + 5.0, a * 0 + 4.0).item() == pytest.approx(0.0)
    assert ralsgan_g_loss(a * 0 + 5.0, a * 0 + 4.0).item() == pytest.approx(8.0)
    # G's loss is D's loss with real and fake swapped
    r, f = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    assert ralsgan_g_loss(r, f).item() == pytest.approx(ralsgan_d_loss(f, r).item(), rel=1e-6)


def test_ralsgan_uses_minibatch_means_over_patch_maps():
    r = torch.tensor([[[[0.0, 2.0]]], [[[4.0, 6.0]]]])  # mean 3
    f = torch.zeros(2, 1, 1, 2)  # mean 0
    expected = ((r - 0 - 1) ** 2).mean() + ((f - 3 + 1) ** 2).mean()
    assert ralsgan_d_loss(r, f).item() == pytest.approx(expected.item())


def test_generator_gradient_pushes_fakes_up():
    d_real = torch.zeros(4)
    d_fake = torch.zeros(4, requires_grad=True)
    ralsgan_g_loss(d_real, d_fake).backward()
    assert (d_fake.grad < 0).all()  # descending raises fake scores towards real + 1


def test_content_loss_l1():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[1.0, 0.0], [3.0, 8.0]])
    assert content_loss(a, b).item() == pytest.approx((0 + 2 + 0 + 4) / 4)
    with pytest.raises(ValueError):
        content_loss(a, b[:1])


def test_ssim_index_matches_the_evaluation_metric():
    """The differentiable SSIM equals analysis.metrics.ssim (what evaluate reports), per image."""
    import numpy as np

    from napari_irdm.analysis.metrics import ssim
    from napari_irdm.dl import ssim_index

    rng = np.random.default_rng(1)
    a = rng.random((3, 33, 40)).astype(np.float32)
    b = (a + rng.normal(0, [[[0.02]], [[0.1]], [[0.3]]], a.shape)).astype(np.float32)
    got = ssim_index(torch.from_numpy(b)[:, None], torch.from_numpy(a)[:, None], 1.0).numpy()
    want = [ssim(x, y, data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[0] > got[1] > got[2]  # more noise, lower SSIM
    t = torch.from_numpy(a)[:, None].requires_grad_(True)
    (1 - ssim_index(t * 0.9, torch.from_numpy(a)[:, None])).sum().backward()
    assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="11"):
        ssim_index(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))
