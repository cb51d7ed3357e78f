"""analysis.metrics: PSNR / SSIM / NRMSE with an explicit data range."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_irdm.analysis import nrmse, psnr, ssim


def test_psnr_known_value_2d_and_3d():
    ref = np.zeros((8, 8), np.float32)
    img = ref + 0.1  # MSE = 0.01
    assert psnr(ref, img, data_range=1.0) == pytest.approx(20.0, abs=1e-6)
    assert psnr(ref, img, data_range=10.0) == pytest.approx(40.0, abs=1e-6)
    vol = np.random.default_rng(0).random((8, 8, 8))
    assert psnr(vol, vol + 0.01, data_range=1.0) == pytest.approx(40.0, abs=1e-6)
    assert psnr(vol, vol, data_range=1.0) == float("inf")


def test_ssim_orders_degradations_and_accepts_tensors():
    rng = np.random.default_rng(1)
    ref = np.zeros((32, 32))
    ref[8:24, 8:24] = 1.0
    mild = ref + rng.normal(0, 0.05, ref.shape)
    strong = ref + rng.normal(0, 0.3, ref.shape)
    assert ssim(ref, ref, data_range=1.0) == pytest.approx(1.0)
    assert 1.0 > ssim(ref, mild, data_range=1.0) > ssim(ref, strong, data_range=1.0)
    assert ssim(torch.from_numpy(ref), torch.from_numpy(mild), data_range=1.0) == pytest.approx(
        ssim(ref, mild, data_range=1.0))
    vol = np.repeat(ref[None], 8, axis=0)  # 3-D, thinner than 11 px: uniform 7-px window
    assert ssim(vol, vol, data_range=1.0) == pytest.approx(1.0)
    noisy = vol + rng.normal(0, 0.05, vol.shape)
    assert 1.0 > ssim(vol, noisy, data_range=1.0) > ssim(vol, vol + rng.normal(0, 0.3, vol.shape), data_range=1.0)


def test_nrmse_is_relative_l2():
    ref = np.arange(1, 65, dtype=np.float64).reshape(8, 8)
    img = ref * 1.1
    assert nrmse(ref, img) == pytest.approx(0.1, rel=1e-9)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 5)), data_range=1), "shape"),
        (lambda: psnr(np.zeros((4, 4)), np.ones((4, 4)), data_range=0), "data_range"),
        (lambda: psnr(np.zeros(4), np.ones(4), data_range=1), "2-D or 3-D"),
        (lambda: ssim(np.zeros((5, 5)), np.ones((5, 5)), data_range=1), "7 pixels"),
        (lambda: nrmse(np.zeros((4, 4)), np.ones((4, 4))), "all zeros"),
        (lambda: psnr(np.full((4, 4), np.nan), np.ones((4, 4)), data_range=1), "NaN"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
