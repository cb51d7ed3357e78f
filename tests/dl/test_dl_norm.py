"""Per-slice normalisation shared by training and inference."""

from __future__ import annotations

import numpy as np
import torch

from napari_irdm.dl import denormalise, normalise_pair, normalise_slice


def test_robust_normalisation_maps_percentiles_and_inverts():
    rng = np.random.default_rng(0)
    x = (rng.normal(5.0, 2.0, (4, 30, 20)) * np.arange(1, 5)[:, None, None]).astype(np.float32)
    xn, lo, hi = normalise_slice(x)
    assert isinstance(xn, np.ndarray) and lo.shape == (4, 1, 1)
    for i in range(4):
        assert abs(np.percentile(xn[i], 0.5)) < 1e-4 and abs(np.percentile(xn[i], 99.5) - 1) < 1e-4
    assert np.allclose(denormalise(xn, lo, hi), x, atol=1e-4)


def test_torch_in_torch_out_and_flat_slices():
    t = torch.zeros(2, 8, 8)
    t[1] = torch.arange(64.0).reshape(8, 8)
    tn, lo, hi = normalise_slice(t, method="minmax")
    assert isinstance(tn, torch.Tensor) and torch.isfinite(tn).all()
    assert tn[1].min() == 0 and tn[1].max() == 1
    assert torch.all(tn[0] == 0)  # flat slice: no division by zero


def test_pair_uses_input_range():
    cond = np.linspace(-1, 3, 100, dtype=np.float32).reshape(1, 10, 10)
    target = np.ones((1, 10, 10), np.float32)
    cn, tn, lo, hi = normalise_pair(cond, target, method="minmax")
    assert np.isclose(cn.min(), 0) and np.isclose(cn.max(), 1)
    assert np.allclose(tn, (1 - (-1)) / 4)  # target mapped with the input's lo/hi
