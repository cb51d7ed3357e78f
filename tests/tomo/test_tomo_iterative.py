"""SIRT, SART and TV: convergence, re-projection consistency, TV vs WBP in a wedge, I/O types."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _phantoms import blocks_slice, disc_slice, volume_from_slice

from napari_irdm.analysis import psnr
from napari_irdm.tomo import ParallelProjector, sart, sart_iter, sirt, sirt_iter, tv, wbp
from napari_irdm.tomo.sart import subset_order


def _series(s, angles, ny=2, noise=0.0, seed=0):
    vol = volume_from_slice(s, ny)
    b = ParallelProjector(angles, vol.shape).forward(vol)
    if noise:
        b = b + np.random.default_rng(seed).normal(0, noise * b.max(), b.shape).astype(np.float32)
    return vol, b


def test_sirt_residual_decreases_monotonically():
    angles = np.arange(-60.0, 61.0, 3.0)
    _vol, b = _series(blocks_slice(32), angles, noise=0.01)
    rec, res = sirt(b, angles, iterations=30, return_residuals=True)
    assert res.shape == (31,) and res[0] == pytest.approx(1.0)
    assert np.all(np.diff(res) < 0)
    assert res[-1] < 0.1


def test_sirt_reprojection_matches_series():
    angles = np.arange(-70.0, 71.0, 5.0)
    _vol, b = _series(blocks_slice(32), angles)
    rec = sirt(b, angles, iterations=100)
    rep = ParallelProjector(angles, rec.shape).forward(rec)
    assert np.linalg.norm(rep - b) / np.linalg.norm(b) < 0.02


def test_sirt_improves_on_wbp_and_nonnegativity_holds():
    angles = np.arange(-60.0, 61.0, 3.0)
    vol, b = _series(blocks_slice(32), angles)
    rec = sirt(b, angles, iterations=50, nonnegative=True)
    assert rec.min() >= 0.0
    assert psnr(vol, rec, data_range=2.0) > psnr(vol, wbp(b, angles), data_range=2.0) + 2.0


def test_sart_converges_faster_than_sirt_per_pass():
    angles = np.arange(-60.0, 61.0, 3.0)
    vol, b = _series(blocks_slice(32), angles)
    p = ParallelProjector(angles, vol.shape)
    rel = lambda r: np.linalg.norm(p.forward(r) - b) / np.linalg.norm(b)  # noqa: E731
    r_sart = sart(b, angles, iterations=3)
    r_sirt = sirt(b, angles, iterations=3)
    assert rel(r_sart) < 0.5 * rel(r_sirt)
    assert psnr(vol, r_sart, data_range=2.0) > psnr(vol, wbp(b, angles), data_range=2.0)


def test_subset_order_covers_every_projection_once():
    angles = np.linspace(-60, 60, 13)[::-1]
    subsets = subset_order(angles, 3)
    assert sorted(np.concatenate(subsets).tolist()) == list(range(13))
    assert len(subsets) == 5
    first = subset_order(angles, 1)
    assert abs(angles[first[0][0]] - angles[first[1][0]]) > 30  # consecutive updates far apart


def test_tv_beats_wbp_in_a_60_degree_wedge():
    angles = np.arange(-60.0, 61.0, 3.0)  # missing wedge of 60°
    vol, b = _series(blocks_slice(32), angles, noise=0.02)
    rec_tv = tv(b, angles, iterations=60)
    rec_wbp = wbp(b, angles)
    p_tv, p_wbp = psnr(vol, rec_tv, data_range=2.0), psnr(vol, rec_wbp, data_range=2.0)
    assert p_tv > p_wbp + 5.0, (p_tv, p_wbp)
    rec_nn = tv(b, angles, iterations=20, nonnegative=True)
    assert rec_nn.min() >= 0.0


def test_tv_weight_zero_is_least_squares():
    angles = np.arange(-70.0, 71.0, 5.0)
    _vol, b = _series(disc_slice(24), angles)
    rec = tv(b, angles, tv_weight=0.0, iterations=60)
    rep = ParallelProjector(angles, rec.shape).forward(rec)
    assert np.linalg.norm(rep - b) / np.linalg.norm(b) < 0.03


@pytest.mark.parametrize("method", ["sirt", "sart", "tv"])
def test_asymmetric_range_tensor_io_chunks_and_x0(method):
    angles = np.arange(-50.0, 71.0, 4.0)
    vol, b = _series(disc_slice(20), angles, ny=3)
    fn = {"sirt": sirt, "sart": sart, "tv": tv}[method]
    kw = {"iterations": 5}
    ref = fn(b, angles, **kw)
    assert isinstance(ref, np.ndarray) and ref.shape == vol.shape and ref.dtype == np.float32
    got = fn(torch.from_numpy(b), angles, chunk_slices=1, **kw)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-4)
    thick = fn(b, angles, thickness=12, **kw)
    assert thick.shape == (12, 3, 20)
    # starting from a good volume keeps it good
    warm = fn(b, angles, x0=vol, iterations=2)
    assert np.abs(warm - vol).mean() < np.abs(ref - vol).mean()


def test_generators_yield_progress():
    angles = np.arange(-60.0, 61.0, 10.0)
    _vol, b = _series(disc_slice(16), angles, ny=2)
    for gen in (sirt_iter(b, angles, iterations=3, chunk_slices=1), sart_iter(b, angles, iterations=3)):
        steps = []
        while True:
            try:
                steps.append(next(gen).step)
            except StopIteration as stop:
                assert stop.value.shape == (16, 2, 16)
                break
        assert steps == sorted(steps) and steps[-1] > 0


@pytest.mark.parametrize(
    "fn,kwargs,match",
    [
        (sirt, {"iterations": -1}, "iterations"),
        (sirt, {"relaxation": 2.5}, "relaxation"),
        (sirt, {"relaxation": 0}, "relaxation"),
        (sart, {"subset_size": 0}, "subset_size"),
        (tv, {"tv_weight": -1.0}, "tv_weight"),
        (tv, {"iterations": 1.5}, "iterations"),
        (sirt, {"x0": np.zeros((3, 3, 3))}, "x0"),
        (sirt, {"thickness": -2}, "thickness"),
        (sirt, {"chunk_slices": 0}, "chunk_slices"),
    ],
)
def test_bad_parameters(fn, kwargs, match):
    b = np.zeros((3, 2, 8), np.float32)
    with pytest.raises(ValueError, match=match):
        fn(b, [-10.0, 0.0, 10.0], **kwargs)
