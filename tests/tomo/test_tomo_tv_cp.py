"""Chambolle–Pock TV, the automatic TV weight and SIRT's discrepancy stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _phantoms import blocks_slice, volume_from_slice

from napari_irdm.analysis import psnr
from napari_irdm.tomo import ParallelProjector, sirt, tv
from napari_irdm.tomo.tv_cp import (
    TV_WEIGHT_GRID,
    choose_tv_weight,
    cp_tv_cols,
    holdout_split,
    operator_norm_sq,
    tv_objective,
)

ANGLES = np.arange(-60.0, 61.0, 3.0)

def _noisy(n=32, ny=2, noise=0.02, seed=0):
    vol = volume_from_slice(blocks_slice(n), ny)
    b = ParallelProjector(ANGLES, vol.shape).forward(vol)
    b = b + np.random.default_rng(seed).normal(0, noise * b.max(), b.shape).astype(np.float32)
    return vol, b

def _cols(a: np.ndarray) -> torch.Tensor:
    """(n0, ny, n2) → slice-last columns (n0·n2, ny)."""
    return torch.from_numpy(np.ascontiguousarray(a)).transpose(1, 2).reshape(a.shape[0] * a.shape[2], a.shape[1])

def _run(gen):
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value

def test_cp_objective_decreases_and_matches_fista():
    _vol, b = _noisy()
    proj = ParallelProjector(ANGLES, (32, 2, 32))
    s = float(np.abs(b).max())
    bc = _cols(b / s).contiguous()
    n = len(ANGLES) * 32
    w = 1e-3
    lsq = operator_norm_sq(proj, "cpu")
    objs = [float(tv_objective(proj, _run(cp_tv_cols(proj, bc, w, iterations=k, norm=n, op_norm_sq=lsq)),
                               bc, w, n).sum()) for k in (10, 50, 200, 600)]
    assert all(a > b for a, b in zip(objs, objs[1:])), objs
    fista = tv(b, ANGLES, tv_weight=w, iterations=300, nonnegative=True)
    f_obj = float(tv_objective(proj, _cols(fista / s), bc, w, n).sum())
    assert objs[-1] <= f_obj * 1.005, (objs[-1], f_obj)  # CP reaches FISTA's minimum (or lower)
    cp = tv(b, ANGLES, tv_weight=w, iterations=600, nonnegative=True, solver="cp")
    assert np.linalg.norm(cp - fista) / np.linalg.norm(fista) < 0.03
    assert cp.min() >= 0.0

def test_cp_without_constraint_and_weight_zero_fits_the_data():
    _vol, b = _noisy(noise=0.0)
    rec = tv(b, ANGLES, tv_weight=0.0, iterations=300, solver="cp")
    rep = ParallelProjector(ANGLES, rec.shape).forward(rec)
    assert np.linalg.norm(rep - b) / np.linalg.norm(b) < 0.03
    assert rec.min() < 0.0  # unconstrained least squares rings below zero at the edges

def test_holdout_split_keeps_the_range_and_holds_out_edges():
    fit, held = holdout_split(ANGLES)
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(ANGLES.size))
    assert ANGLES[held].min() == ANGLES.min() and ANGLES[held].max() == ANGLES.max()
    assert 0.2 < held.size / ANGLES.size < 0.45
    with pytest.raises(ValueError, match="at least 6 tilts"):
        holdout_split(ANGLES[:4])

def test_auto_weight_lands_near_the_best_in_hindsight_on_a_noisy_phantom():
    """Generated phantoms (held-back seeds), 60° wedge, noisy: auto vs a sweep scored on the truth."""
    from napari_irdm.geometry import angles_on_grid as tilt_angles
    from napari_irdm.train.library import get_spec
    from napari_irdm.train.pairs import PairOptions, geometry, make_batch

    spec = get_spec("D2")
    opts = PairOptions(size=64, tilt_steps_deg=(2.0,), noise=0.03, oversample=2)
    idx = [10**6 + i for i in range(4)]
    batch = make_batch(spec, idx, opts, holdout=True, source="phantom", wedge_deg=60.0, device="cpu")
    _w, lo, hi, st = geometry(spec, idx[0], opts, holdout=True, wedge_deg=60.0)
    ang = tilt_angles(lo, hi, st)
    series = batch.sinogram.permute(0, 2, 1).contiguous().numpy()  # (n_tilts, 4, 64)
    truth = batch.truth.numpy()  # (4, 64, 64) slices (z, x)
    scores = {}
    for w in TV_WEIGHT_GRID:
        rec = tv(series, ang, tv_weight=w, iterations=100, nonnegative=True, solver="cp")
        scores[w] = np.mean([psnr(truth[i], rec[:, i], data_range=1.0) for i in range(4)])
    best = max(scores, key=scores.get)
    auto = choose_tv_weight(series, ang, iterations=100)

    assert best / 10 <= auto <= best * 10, (auto, best, scores)
    rec = tv(series, ang, tv_weight="auto", iterations=100, nonnegative=True)
    p_auto = np.mean([psnr(truth[i], rec[:, i], data_range=1.0) for i in range(4)])

    assert p_auto > scores[best] - 0.5, (p_auto, scores)
    assert p_auto > scores[TV_WEIGHT_GRID[-1]] + 1.0  # far better than over-smoothing
    assert rec.min() >= 0.0

def test_tv_weight_string_must_be_auto():
    _vol, b = _noisy()
    with pytest.raises(ValueError, match="'auto'"):
        tv(b, ANGLES, tv_weight="best")
    with pytest.raises(ValueError, match="solver"):
        tv(b, ANGLES, solver="admm")

def test_sirt_discrepancy_stops_earlier_on_noisy_data():
    _vol, clean = _noisy(n=48, ny=4, noise=0.0)
    _vol, noisy = _noisy(n=48, ny=4, noise=0.03)
    _r, info_c = sirt(clean, ANGLES, iterations=150, stop="discrepancy", return_info=True)
    _r, info_n = sirt(noisy, ANGLES, iterations=150, stop="discrepancy", return_info=True)
    assert info_n["iterations"].max() < info_c["iterations"].min(), (info_n, info_c)
    assert info_n["iterations"].max() < 150
    # the noise estimate finds the added noise (σ = 3 % of the maximum) to within 25 %
    assert info_n["sigma"].mean() == pytest.approx(0.03 * noisy.max(), rel=0.25)
    with pytest.raises(ValueError, match="stop"):
        sirt(noisy, ANGLES, stop="holdout")
