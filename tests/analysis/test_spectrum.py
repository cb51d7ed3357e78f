"""Power spectra: frequency axes in 1/Å, central sections, the missing wedge in a WBP spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.analysis.spectrum import central_sections, power_spectrum_3d, spectrum_2d


def test_plane_wave_peaks_at_its_frequency():
    n, p = (32, 24, 40), 0.5
    z, y, x = np.meshgrid(*(np.arange(k) * p for k in n), indexing="ij")
    kz, ky, kx = 0.25, -0.5, 0.4  # 1/Å, on the grid (multiples of 1/(n p))
    vol = np.cos(2 * np.pi * (kz * z + ky * y + kx * x))
    spec, freqs = power_spectrum_3d(vol, p)
    assert spec.shape == n and spec.dtype == np.float32
    for f, k in zip(freqs, n):
        assert f[k // 2] == 0 and np.diff(f) == pytest.approx(1 / (k * p))
        assert f.min() == pytest.approx(-1 / (2 * p))  # Nyquist 1/(2p)
    i = np.unravel_index(np.argmax(spec), spec.shape)
    peak = sorted([(freqs[0][i[0]], freqs[1][i[1]], freqs[2][i[2]]), (-freqs[0][i[0]], -freqs[1][i[1]], -freqs[2][i[2]])])
    assert np.allclose(peak[0], sorted([(kz, ky, kx), (-kz, -ky, -kx)])[0])
    lin, _ = power_spectrum_3d(vol, p, log=False, window="none")
    assert lin.max() == pytest.approx((np.prod(n) / 2) ** 2, rel=1e-3)  # |F|² of a unit cosine


def test_spectrum_2d_and_errors():
    img = np.cos(2 * np.pi * 0.5 * np.arange(64) * 0.25)[None, :] * np.ones((32, 1))
    spec, (fy, fx) = spectrum_2d(img, 0.25)
    iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
    assert fy[iy] == 0 and abs(fx[ix]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="3-D"):
        power_spectrum_3d(img, 0.25)
    with pytest.raises(ValueError, match="2-D"):
        spectrum_2d(np.zeros((4, 4, 4)), 0.25)
    with pytest.raises(ValueError, match="pixel size is missing"):
        power_spectrum_3d(np.zeros((4, 4, 4)), None)
    with pytest.raises(ValueError, match="window"):
        power_spectrum_3d(np.zeros((4, 4, 4)), 1.0, window="kaiser")


def test_central_sections_show_the_missing_wedge():
    from napari_irdm.tomo import ParallelProjector, wbp

    rng = np.random.default_rng(0)
    n = 48
    vol = np.zeros((n, n, n), np.float32)
    idx = rng.integers(12, 36, size=(150, 3))
    vol[idx[:, 0], idx[:, 1], idx[:, 2]] = 1.0
    angles = np.arange(-60, 61, 3.0)
    rec = wbp(ParallelProjector(angles, vol.shape).forward(vol), angles)
    spec, (fz, fy, fx) = power_spectrum_3d(rec, 1.0, log=False)
    sec = central_sections(spec)
    assert sec["kx-kz"].shape == (n, n) and sec["kx-ky"].shape == (n, n) and sec["ky-kz"].shape == (n, n)
    kz, kx = np.meshgrid(fz, fx, indexing="ij")
    r = np.hypot(kz, kx)
    phi = np.degrees(np.arctan2(np.abs(kz), np.abs(kx)))
    band = (r > 0.1) & (r < 0.4)
    measured = sec["kx-kz"][band & (phi < 45)].mean()
    wedge = sec["kx-kz"][band & (phi > 75)].mean()
    assert wedge < 0.05 * measured  # the wedge around kz (tilt ±60°) is empty
    slab = central_sections(spec, half_width=2, reduce="mean")
    assert slab["kx-kz"].shape == (n, n)
