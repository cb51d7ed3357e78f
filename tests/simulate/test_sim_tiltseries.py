"""Analytic projections, ground-truth volumes, noise and speed of the simulator."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_irdm.progress import run_to_completion
from napari_irdm.simulate.crystal import Nanocrystal, get_lattice, make_nanocrystal
from napari_irdm.simulate.tiltseries import (
    auto_shape,
    gold_sample,
    render_volume,
    simulate_iter,
    simulate_tilt_series,
    tilt_angles,
)


def _atoms(positions_zyx, z=79):
    pos = np.atleast_2d(np.asarray(positions_zyx, dtype=np.float64))
    return Nanocrystal(pos, np.full(len(pos), z, dtype=np.int32), get_lattice("Au"), np.eye(3), shape="sphere",
                       size_nm=0.1)


def test_one_atom_lands_at_u_equals_x_cos_plus_z_sin():
    z, y, x = 3.0, 1.0, 2.0  # Å, volume frame (z, y, x)
    p, n = 0.25, 64
    angles = np.array([-60.0, -20.0, 0.0, 35.0, 70.0])
    ts = simulate_tilt_series(_atoms([z, y, x]), angles, pixel_size_A=p, shape=(n, n), sigma_A=0.35)
    assert ts.data.shape == (5, n, n) and ts.data.dtype == np.float32 and ts.pixel_size_A == p
    grid = np.arange(n)
    for img, th in zip(ts.data, np.deg2rad(angles)):
        assert img.sum() == pytest.approx(1.0, abs=1e-4)  # a gold atom weighs 1
        u_centroid = (img.sum(axis=0) * grid).sum() / img.sum()
        y_centroid = (img.sum(axis=1) * grid).sum() / img.sum()
        assert u_centroid == pytest.approx((n - 1) / 2 + (x * np.cos(th) + z * np.sin(th)) / p, abs=1e-3)
        assert y_centroid == pytest.approx((n - 1) / 2 + y / p, abs=1e-3)
    # a point at (z, y, x) = (d, 0, 0) appears at u = d sin θ (DESIGN)
    ts2 = simulate_tilt_series(_atoms([4.0, 0.0, 0.0]), [30.0], pixel_size_A=p, shape=(n, n))
    col = ts2.data[0].sum(axis=0)
    assert (col * grid).sum() / col.sum() == pytest.approx((n - 1) / 2 + 4.0 * 0.5 / p, abs=1e-3)


def test_z_contrast_and_sigma():
    ts = simulate_tilt_series(_atoms([[0, 0, -3.0], [0, 0, 3.0]], z=46), [0.0], pixel_size_A=0.25, shape=(48, 48))
    assert ts.data.sum() == pytest.approx(2 * (46 / 79) ** 1.7, rel=1e-4)
    wide = simulate_tilt_series(_atoms([0, 0, 0]), [0.0], pixel_size_A=0.25, shape=(48, 48), sigma_A=0.6)
    narrow = simulate_tilt_series(_atoms([0, 0, 0]), [0.0], pixel_size_A=0.25, shape=(48, 48), sigma_A=0.3)
    assert narrow.data.max() > 3 * wide.data.max()


def test_truth_volume_projects_to_the_analytic_series():
    from napari_irdm.tomo import ParallelProjector

    crystal = make_nanocrystal("Au", size_nm=1.2, orientation=(10, 35, 60))
    angles = np.array([-66.0, -31.0, 0.0, 17.0, 52.0])
    n, p = 48, 0.3
    ts = simulate_tilt_series(crystal, angles, pixel_size_A=p, shape=(n, n))
    vol = render_volume(crystal, (n, n, n), p)
    assert vol.shape == (n, n, n) and vol.sum() == pytest.approx(crystal.n_atoms, rel=1e-4)
    proj = ParallelProjector(angles, vol.shape).forward(vol)
    rel = np.linalg.norm(proj - ts.data) / np.linalg.norm(ts.data)
    assert rel < 0.06  # the projector's linear interpolation blurs a little; the geometry is identical
    grid = np.arange(n)
    for a, b in zip(proj, ts.data):
        ca = (a.sum(axis=0) * grid).sum() / a.sum()
        cb = (b.sum(axis=0) * grid).sum() / b.sum()
        assert ca == pytest.approx(cb, abs=0.02)


def test_auto_shape_holds_the_particle_at_every_tilt():
    crystal = make_nanocrystal("Pt", size_nm=1.6, orientation="random", seed=2)
    ny, nx = auto_shape(crystal, 0.3)
    assert ny % 16 == 0 and nx % 16 == 0
    ts = simulate_tilt_series(crystal, tilt_angles((-80, 80), 20), pixel_size_A=0.3)
    totals = ts.data.sum(axis=(1, 2))
    assert np.allclose(totals, crystal.n_atoms * (78 / 79) ** 1.7, rtol=1e-4)


def test_dose_noise_jitter_and_shifts():
    crystal = make_nanocrystal("Au", size_nm=1.2, orientation="zone:[100]")
    clean = simulate_tilt_series(crystal, [0.0, 30.0], pixel_size_A=0.3, shape=(48, 48))
    noisy = simulate_tilt_series(crystal, [0.0, 30.0], pixel_size_A=0.3, shape=(48, 48), dose_e_per_A2=1e5, seed=4)
    again = simulate_tilt_series(crystal, [0.0, 30.0], pixel_size_A=0.3, shape=(48, 48), dose_e_per_A2=1e5, seed=4)
    assert np.array_equal(noisy.data, again.data)
    assert noisy.data.sum() == pytest.approx(clean.data.sum(), rel=0.02)  # same intensity scale
    resid = noisy.data - clean.data
    scale = 1e5 * 0.02
    expected_var = clean.data.astype(np.float64) / scale
    assert (resid**2).sum() == pytest.approx(expected_var.sum(), rel=0.1)  # Poisson variance
    ts, truth = run_to_completion(simulate_iter(crystal, [0.0, 30.0], pixel_size_A=0.3, size_px=48,
                                                angle_jitter_deg=1.0, shift_px=2.0, seed=5))
    assert not np.allclose(truth.true_tilt_angles_deg, [0.0, 30.0])
    assert np.allclose(ts.tilt_angles_deg, [0.0, 30.0])  # the series keeps the nominal angles
    grid = np.arange(48)
    rows = ts.data[0].sum(axis=1)
    y_c = (rows * grid).sum() / rows.sum()
    rows0 = clean.data[0].sum(axis=1)
    assert y_c - (rows0 * grid).sum() / rows0.sum() == pytest.approx(truth.shifts_px[0, 0], abs=0.02)
    with pytest.raises(ValueError, match="dose"):
        simulate_tilt_series(crystal, [0.0], dose_e_per_A2=-1)
    with pytest.raises(ValueError, match="pixel size"):
        simulate_tilt_series(crystal, [0.0], pixel_size_A=None)
    with pytest.raises(ValueError, match="tilt angles"):
        simulate_tilt_series(crystal, [])


def test_one_set_of_acquisition_options_for_every_simulator():
    from napari_irdm.simulate import Acquisition

    crystal = make_nanocrystal("Au", size_nm=1.0, orientation="zone:[100]")
    opts = dict(pixel_size_A=0.3, sigma_A=0.4, dose_e_per_A2=3e4, seed=2, angle_jitter_deg=0.3, shift_px=0.7)
    a = simulate_tilt_series(crystal, [-30.0, 0.0, 45.0], shape=(40, 40), **opts)
    b, truth = run_to_completion(simulate_iter(crystal, [-30.0, 0.0, 45.0], size_px=40, **opts))
    np.testing.assert_array_equal(a.data, b.data)  # the same noise, jitter and shifts from one seed
    assert truth.dose_e_per_A2 == 3e4 and truth.seed == 2 and truth.sigma_A == 0.4
    assert Acquisition(**opts).pixel_size_A == 0.3
    with pytest.raises(ValueError, match="shift"):
        Acquisition(shift_px=-1.0)
    with pytest.raises(ValueError, match="jitter"):
        simulate_iter(crystal, [0.0], angle_jitter_deg=90.0).send(None)
    with pytest.raises(ValueError, match="shift"):  # more than the image: checked against its size
        simulate_tilt_series(crystal, [0.0], shape=(16, 16), shift_px=20.0)
    with pytest.raises(TypeError, match="dose_e_per_A"):
        simulate_tilt_series(crystal, [0.0], dose_e_per_A=1e4)  # a misspelt option is refused


def test_gold_sample_defaults_and_speed():
    ts, truth = gold_sample(tilt_step=5.0, size_nm=1.5, size_px=64)
    assert ts.data.shape == (29, 64, 64) and truth.volume.shape == (64, 64, 64)
    assert ts.tilt_angles_deg[0] == -70 and ts.tilt_angles_deg[-1] == 70
    assert truth.pixel_size_A == 0.25 and truth.lattice.element == "Au"
    # issue figure: a 71-tilt 160² series of ~1000 atoms "in seconds"
    crystal = make_nanocrystal("Au", size_nm=3.3, seed=3)
    assert 900 < crystal.n_atoms < 1400
    t0 = time.perf_counter()
    big = simulate_tilt_series(crystal, tilt_angles((-70, 70), 2.0), shape=(160, 160))
    elapsed = time.perf_counter() - t0
    assert big.data.shape == (71, 160, 160)
    assert elapsed < 15.0, f"71 x 160² series of {crystal.n_atoms} atoms took {elapsed:.1f} s"
