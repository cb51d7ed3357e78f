"""wedge_mask directions (symmetric and asymmetric ranges) tied to the project's projector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_irdm.dl import apply_data_consistency, wedge_mask
from napari_irdm.tomo import ParallelProjector

N = 64


def _at(mask, kz, kx):
    """Mask value at integer frequency (kz, kx) (cycles per N pixels)."""
    return mask[kz % mask.shape[0], kx % mask.shape[1]]


def test_symmetric_range_hand_directions():
    m = wedge_mask((N, N), np.arange(-60, 61, 2.0))
    assert _at(m, 0, 0) == 1.0  # DC is always measured
    assert _at(m, 0, 10) == 1.0  # kx axis: direction 0°
    assert _at(m, 10, 10) == 1.0 and _at(m, -10, 10) == 1.0  # ±45°
    assert _at(m, 10, 0) == 0.0  # kz axis: 90°, deep in the wedge
    assert _at(m, 20, 5) == 0.0  # atan(4) = 76°
    assert _at(m, 17, 10) == 1.0  # atan(1.7) = 59.5° < 60°
    assert _at(m, -17, -10) == 1.0  # same line through the origin


def test_asymmetric_range_hand_directions():
    m = wedge_mask((N, N), np.linspace(-30, 70, 51), soft_deg=0)
    assert _at(m, 10, 10) == 1.0  # +45° measured
    assert _at(m, -10, 10) == 0.0  # -45° is in the wedge
    assert _at(m, -5, 10) == 1.0  # -26.6° measured
    assert _at(m, 25, 10) == 1.0  # 68.2° measured
    assert _at(m, 30, 10) == 0.0  # 71.6° missing
    frac = (m[1:, 1:] > 0).mean()
    assert 0.45 < frac < 0.65  # ~100° of 180°


def test_soft_edge_only_inside_the_wedge_and_dft_symmetric():
    hard = wedge_mask((48, 80), [-50, 50], soft_deg=0)
    soft = wedge_mask((48, 80), [-50, 50], soft_deg=6)
    assert np.all(soft[hard == 1] == 1)  # the measured cone keeps weight exactly 1
    assert np.any((soft > 0) & (soft < 1))
    for m in (hard, soft):
        mirror = np.roll(np.flip(m, axis=(0, 1)), 1, axis=(0, 1))
        assert np.array_equal(m, mirror)


def test_full_range_measures_everything():
    assert np.all(wedge_mask((16, 24), [-90, 90]) == 1)


def test_mask_matches_projector_convention():
    # a grating with wave vector (kx, kz) = (4, 4) / N is seen by a projection at +45°
    # (integration along its wavefronts) and nearly averaged away at -45°
    z, x = np.mgrid[0:N, 0:N].astype(np.float64)
    c = (N - 1) / 2
    env = np.exp(-((x - c) ** 2 + (z - c) ** 2) / (2 * (N / 6) ** 2))
    g = (np.cos(2 * np.pi * 4 * (x + z) / N) * env).astype(np.float32)
    vol = g[:, None, :]
    proj = ParallelProjector([45.0, -45.0], vol.shape, device="cpu").forward(vol)
    seen, missed = proj[0, 0].std(), proj[1, 0].std()
    assert seen > 20 * missed
    assert _at(wedge_mask((N, N), [20, 60]), 4, 4) == 1.0
    assert _at(wedge_mask((N, N), [-60, -20]), 4, 4) == 0.0


def test_apply_data_consistency_blends_spectra():
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((3, 20, 28), dtype=np.float32))
    b = torch.from_numpy(rng.random((3, 20, 28), dtype=np.float32))
    m = wedge_mask((20, 28), [-45, 60])
    out = apply_data_consistency(a, b, torch.from_numpy(m))
    assert out.dtype == torch.float32 and out.shape == a.shape
    fo, fa, fb = (np.fft.fft2(t.numpy()) for t in (out, a, b))
    assert np.allclose(fo[:, m == 1], fa[:, m == 1], atol=1e-3)
    assert np.allclose(fo[:, m == 0], fb[:, m == 0], atol=1e-3)
    with pytest.raises(ValueError):
        apply_data_consistency(a, b[:, :10], torch.from_numpy(m))


def test_mask_marks_what_wbp_actually_recovers():
    # WBP of a blob slice from an asymmetric range matches the truth's spectrum on the mask's
    # measured cone and misses it in the wedge; the mirrored range's mask would be wrong
    from napari_irdm.tomo import wbp

    rng = np.random.default_rng(0)
    z, x = np.mgrid[0:N, 0:N] - (N - 1) / 2
    gt = np.zeros((N, N))
    for _ in range(12):
        cz, cx = rng.uniform(-18, 18, 2)
        r = rng.uniform(2, 6)
        gt += rng.uniform(0.3, 1) * np.exp(-((z - cz) ** 2 + (x - cx) ** 2) / (2 * r * r))
    gt = gt.astype(np.float32)
    angles = np.arange(-40.0, 71.0, 1.0)
    series = ParallelProjector(angles, (N, 1, N), device="cpu").forward(gt[:, None, :])
    rec = wbp(series, angles, device="cpu")[:, 0, :]
    kz, kx = np.meshgrid(np.fft.fftfreq(N), np.fft.fftfreq(N), indexing="ij")
    low = (np.hypot(kz, kx) < 0.25) & (np.hypot(kz, kx) > 0)
    fg, fr = np.fft.fft2(gt), np.fft.fft2(rec)

    def rel_err(region):
        return np.linalg.norm((fr - fg)[region]) / np.linalg.norm(fg[region])

    m = wedge_mask((N, N), angles, soft_deg=0)
    assert rel_err((m == 1) & low) < 0.3
    assert rel_err((m == 0) & low) > 0.6
    mirrored = wedge_mask((N, N), -angles, soft_deg=0)
    assert rel_err((mirrored == 1) & (m == 0) & low) > 0.6


def test_consistency_mask_trusts_network_at_lowest_frequencies():
    from napari_irdm.dl import consistency_mask

    angles = [-60, 60]
    m = consistency_mask((N, N), angles, min_freq=0.05)
    assert m[0, 0] == 0 and _at(m, 0, 2) == 0  # |k| = 2/64 < 0.05
    assert _at(m, 0, 4) == 1  # 4/64 >= 0.05 on the measured kx axis
    assert np.array_equal(consistency_mask((N, N), angles, min_freq=0), wedge_mask((N, N), angles))
    with pytest.raises(ValueError):
        consistency_mask((N, N), angles, min_freq=-1)
