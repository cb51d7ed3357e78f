"""The acquisition model of the training pairs (PairOptions.dose … exceed_fov): physics, not shapes."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_irdm.geometry import angles_on_grid
from napari_irdm.train.library import DatasetSpec, get_spec
from napari_irdm.train.pairs import (
    PairOptions,
    _spec_grid,
    exceeds_fov,
    fov_size,
    geometry,
    make_batch,
    make_pair,
    project_batch,
)

EVERYTHING = dict(asymmetric=True, max_shift_deg=15.0, tilt_steps_deg=(1.0, 2.0, 3.0, 4.0, 5.0), noise=0.01,
                  dose=(50.0, 500.0), read_noise=0.02, misalign_px=1.0, drift=0.1, background=0.05, exceed_fov=0.5)


def _rows(batch, k):
    """Sample ``k``'s projections in its tilt range, ``(n_tilts, n_det)`` as float64."""
    lo, hi = batch.ranges_deg[k]
    # (the clean batches of these tests use the default tilt step, 2°)
    ang = angles_on_grid(lo, hi, 2.0) if batch.acquisition is None else batch.acquisition[k]["angles"]
    pos = np.searchsorted(batch.grid_deg, ang)
    if batch.acquisition is not None:
        np.testing.assert_array_equal(pos, batch.acquisition[k]["rows"])
    return batch.sinogram[pos, :, k].double().numpy()


def test_defaults_reproduce_the_original_pairs_bit_for_bit():
    """Explicit defaults of the new fields give the same pairs, and the pipeline rebuilt from the
    public pieces as it was before the acquisition model (projection, Gaussian noise, filter,
    back-projection, normalisation) gives the same pairs too."""
    from napari_irdm.dl import normalise_pair
    from napari_irdm.geometry import angular_weights
    from napari_irdm.tomo import ParallelProjector
    from napari_irdm.tomo.filters import filter_projections
    from napari_irdm.train.phantoms import source_rng

    base = PairOptions(size=24, asymmetric=True, noise=0.03, tilt_steps_deg=(1.0, 3.0))
    explicit = replace(base, max_shift_deg=10.0, dose=None, read_noise=0.0, misalign_px=0.0, drift=0.0,
                       background=0.0, exceed_fov=0.0)
    assert not explicit.acquisition
    idx = [0, 5, 123]
    a = make_batch("D5", idx, base, device="cpu")
    b = make_batch("D5", idx, explicit, device="cpu")
    assert a.acquisition is None
    torch.testing.assert_close(a.inputs, b.inputs, rtol=0, atol=0)
    # the original path, by hand
    spec = get_spec("D5")
    grid = _spec_grid(spec, base)
    imgs = torch.as_tensor(np.stack([spec.image(i, 24) for i in idx]))
    sino = project_batch(imgs, grid, 2)
    sig = torch.as_tensor(np.array([source_rng(0x6E0 + 1, i).uniform(0.0, 0.03) for i in idx], np.float32))
    z = torch.stack([torch.randn((grid.size, 24), generator=torch.Generator().manual_seed(i + 7_000_000_000))
                     for i in idx], dim=-1)
    sino = sino + z * sino.abs().amax(dim=(0, 1), keepdim=True).clamp_min(1e-6) * sig
    w = np.zeros((grid.size, 3), np.float32)
    for k, i in enumerate(idx):
        _w, lo, hi, st = geometry(spec, i, base)
        ang = angles_on_grid(lo, hi, st)
        w[np.searchsorted(grid, ang), k] = angular_weights(ang)
    q = filter_projections(sino, "ramp", dim=1) * torch.as_tensor(w)[:, None, :]
    rec = ParallelProjector(grid, (24, 1, 24), n_det=24).adjoint_cols(q.reshape(-1, 3)).T.reshape(3, 24, 24)
    x, _y, _lo, _hi = normalise_pair(rec, imgs)
    torch.testing.assert_close(a.inputs[:, 0], x, rtol=0, atol=0)
    torch.testing.assert_close(a.sinogram, sino, rtol=0, atol=0)


def test_poisson_counting_noise_at_a_fixed_dose():
    """At dose D the counts are integers, the noise variance is the clean signal / scale
    (scale = D / mean projection), i.e. it grows with the signal, and is unbiased."""
    dose = 200.0
    clean_o = PairOptions(size=48, oversample=1)
    noisy_o = replace(clean_o, dose=(dose, dose))
    clean = make_batch("D2", [3, 4], clean_o, holdout=True, wedge_deg=60.0, device="cpu")
    noisy = make_batch("D2", [3, 4], noisy_o, holdout=True, wedge_deg=60.0, device="cpu")
    for k in range(2):
        a = noisy.acquisition[k]
        c, y = _rows(clean, k), _rows(noisy, k)
        scale = dose / c.mean()
        assert a["dose"] == dose and a["dose_scale"] == pytest.approx(scale, rel=1e-5)
        counts = y * scale
        np.testing.assert_allclose(counts, np.round(counts), atol=2e-3 * counts.max())
        r2 = (y - c) ** 2
        ratio = r2.mean() / (c.mean() / scale)
        print(f"sample {k}: var / (mean / scale) = {ratio:.3f}")
        assert abs(ratio - 1.0) < 0.15
        hi = c > np.median(c)  # variance ∝ signal: the bright half has the larger variance, in proportion
        ratio_hi = r2[hi].mean() / (c[hi].mean() / scale)
        ratio_lo = r2[~hi].mean() / (c[~hi].mean() / scale)
        assert abs(ratio_hi - 1.0) < 0.15 and abs(ratio_lo - 1.0) < 0.2
        assert abs((y - c).mean()) < 4 * np.sqrt(c.mean() / scale / c.size)  # unbiased
    # the dose is drawn per index log-uniformly in [lo, hi]
    o = replace(clean_o, dose=(10.0, 1000.0), size=16)
    doses = [a["dose"] for a in make_batch("D2", range(40), o, holdout=True, wedge_deg=90.0,
                                           device="cpu").acquisition]
    assert 10.0 <= min(doses) and max(doses) <= 1000.0
    assert abs(np.mean(np.log10(doses)) - 2.0) < 0.3 and np.std(np.log10(doses)) > 0.4


def test_read_noise_sigma_is_measured():
    o = PairOptions(size=48, oversample=1)
    clean = make_batch("D2", [1, 2], o, holdout=True, wedge_deg=60.0, device="cpu")
    noisy = make_batch("D2", [1, 2], replace(o, read_noise=0.05), holdout=True, wedge_deg=60.0, device="cpu")
    for k in range(2):
        c, y = _rows(clean, k), _rows(noisy, k)
        sd = (y - c).std()
        a = noisy.acquisition[k]
        print(f"sample {k}: read sigma drawn {a['read_sigma']:.4g}, measured {sd:.4g}")
        assert 0 < a["read_sigma"] <= 0.05 * c.mean() * (1 + 1e-6)
        assert sd == pytest.approx(a["read_sigma"], rel=0.05)
        assert abs((y - c).mean()) < 4 * sd / np.sqrt(c.size)


def test_misalignment_is_recovered_by_cross_correlation():
    """Each tilt's projection is its clean projection moved by the drawn shift: registration by
    (sub-pixel) cross-correlation finds the shifts within 0.1 px; the RMS is the drawn one."""
    from skimage.registration import phase_cross_correlation

    o = PairOptions(size=64, oversample=1)
    clean = make_batch("D1", [5], o, holdout=True, wedge_deg=60.0, device="cpu")
    mis = make_batch("D1", [5], replace(o, misalign_px=1.5), holdout=True, wedge_deg=60.0, device="cpu")
    a = mis.acquisition[0]
    c, y = _rows(clean, 0), _rows(mis, 0)
    rms = float(np.sqrt(np.mean(a["shifts_px"] ** 2)))
    assert 0 < rms <= 1.5 and np.abs(a["shifts_px"]).max() > 0.5
    found = np.array([-phase_cross_correlation(c[j], y[j], upsample_factor=200, normalization=None)[0][0]
                      for j in range(c.shape[0])])
    err = np.abs(found - a["shifts_px"])
    print(f"RMS shift {rms:.3f} px, max |recovered - applied| = {err.max():.4f} px")
    assert err.max() < 0.1
    assert y.sum(axis=1) == pytest.approx(c.sum(axis=1), rel=0.02)  # a shift keeps the mass
    assert not torch.allclose(mis.wbp, clean.wbp, atol=1e-3)


def test_drift_and_background_change_the_per_tilt_sums_as_drawn():
    o = PairOptions(size=48, oversample=1)
    kw = dict(holdout=True, wedge_deg=50.0, device="cpu")
    clean = make_batch("D2", [7, 8], o, **kw)
    drift = make_batch("D2", [7, 8], replace(o, drift=0.2), **kw)
    bg = make_batch("D2", [7, 8], replace(o, background=0.1), **kw)
    both = make_batch("D2", [7, 8], replace(o, drift=0.2, background=0.1), **kw)
    for k in range(2):
        c = _rows(clean, k)
        s0 = c.sum(axis=1)
        gain = drift.acquisition[k]["gain"]
        np.testing.assert_allclose(_rows(drift, k).sum(axis=1) / s0, gain, rtol=1e-5)
        dev = np.abs(gain - 1).max()
        assert 0 < dev <= 0.2 + 1e-9 and np.abs(np.diff(gain, 2)).max() < 0.05 * dev  # slow (smooth)
        b = bg.acquisition[k]["background"]
        off = _rows(bg, k) - c
        np.testing.assert_allclose(off, np.broadcast_to(b[:, None], off.shape), atol=1e-6 * c.max())
        peak = np.abs(c).max()
        lvl = b.mean() / peak
        # one level per series, at most 0.1 x max, with a per-tilt variation of at most ±10 % of it
        assert 0 < lvl and b.max() / peak <= 0.1 * 1.1 + 1e-7 and b.max() / b.min() <= 1.1 / 0.9 + 1e-6
        assert np.std(b) > 0
        np.testing.assert_allclose(_rows(both, k).sum(axis=1), gain * s0 + c.shape[1] * b, rtol=1e-5)
        print(f"sample {k}: max |gain - 1| = {dev:.4f}, background {lvl:.4f} x max")


def test_exceed_fov_is_interior_tomography_of_a_larger_object():
    """Truth = central crop of the object drawn at 1.5x (which goes on past the crop); the data are
    A(truth_big) on the central detector pixels; the WBP of these truncated data shows the crop's
    region: it matches the central crop of the WBP of the untruncated data, best at zero offset."""
    from napari_irdm.tomo import ParallelProjector, wbp

    n, big = 32, fov_size(32)
    assert big == 48
    o = PairOptions(size=n, oversample=1, exceed_fov=1.0)
    spec = get_spec("D2")  # medical slices fill the square: at 1.5x they go on past the field of view
    idx = list(range(6))
    b = make_batch(spec, idx, o, holdout=True, source="mgh", wedge_deg=0.0, device="cpu")
    disc = np.hypot(*(np.mgrid[:n, :n] - (n - 1) / 2)) < 12  # seen at every angle, off the truncation edge
    corr, past, touch = [], [], []
    for k, i in enumerate(idx):
        assert b.acquisition[k]["exceed_fov"] and exceeds_fov(i, o, holdout=True)
        full = spec.image(i, big, holdout=True, source="mgh")
        crop = full[8:40, 8:40]
        np.testing.assert_array_equal(b.truth[k].numpy(), crop)  # the target is the central crop
        outside = full.copy()
        outside[8:40, 8:40] = 0
        past.append(outside.sum() / full.sum())  # the object goes on past the field of view
        edge = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
        touch.append((edge > 0.02).mean())  # and touches the crop's border
        ang = b.acquisition[k]["angles"]
        sino = ParallelProjector(ang, (big, 1, big), n_det=big).forward(full[:, None, :])
        np.testing.assert_allclose(_rows(b, k), sino[:, 0, 8:40], atol=1e-4 * sino.max())  # A(truth_big), centre
        ref = wbp(sino, ang)[:, 0, :]  # the untruncated reconstruction of the big object
        r = b.wbp[k].numpy()
        cc = {(dz, dx): np.corrcoef(r[disc], ref[8 + dz:40 + dz, 8 + dx:40 + dx][disc])[0, 1]
              for dz in range(-3, 4) for dx in range(-3, 4)}
        assert max(cc, key=cc.get) == (0, 0)
        corr.append(cc[(0, 0)])
    print("corr(interior WBP, crop of untruncated WBP) in the central disc:", np.round(corr, 4))
    print("mass outside the crop:", np.round(past, 3), "border pixels > 0.02:", np.round(touch, 2))
    assert min(corr) > 0.5 and np.median(corr) > 0.75 and max(corr) > 0.99
    assert min(past) > 0.005 and np.median(past) > 0.05 and np.median(touch) > 0.5


def test_exceed_fov_mixes_sizes_and_keeps_the_others_as_they_were():
    o = PairOptions(size=32, oversample=2, exceed_fov=0.5)
    idx = list(range(8))
    ex = [exceeds_fov(i, o, holdout=True) for i in idx]
    assert any(ex) and not all(ex)
    b = make_batch("D2", idx, o, holdout=True, wedge_deg=50.0, device="cpu")
    plain = make_batch("D2", idx, replace(o, exceed_fov=0.0), holdout=True, wedge_deg=50.0, device="cpu")
    for k, e in enumerate(ex):
        same = torch.allclose(b.sinogram[..., k], plain.sinogram[..., k], atol=1e-5)
        assert same != e  # only the samples that exceed the field of view change
        if not e:
            torch.testing.assert_close(b.truth[k], plain.truth[k], rtol=0, atol=0)


def test_make_pair_equals_make_batch_with_every_option_and_is_deterministic():
    o = replace(PairOptions(size=24, oversample=2, **EVERYTHING), tilt_steps_deg=(2.0, 3.0))  # a smaller grid
    assert o.acquisition
    idx = [4, 9, 17, 30000, 50000]  # phantom, medical and natural sources (D6)
    b1 = make_batch("D6", idx, o, device="cpu")
    ex = [a["exceed_fov"] for a in b1.acquisition]
    assert any(ex) and not all(ex)
    b2 = make_batch("D6", [9, 1], o, device="cpu")
    for k, i in list(enumerate(idx))[2:]:  # the same pair alone, in another batch, or with others (float rounding only)
        x, y = make_pair("D6", i, o, device="cpu")
        np.testing.assert_allclose(b1.inputs[k, 0].numpy(), x, atol=1e-5)
        np.testing.assert_allclose(b1.targets[k, 0].numpy(), y, atol=1e-6)
    x, y = make_pair("D6", 9, o, device="cpu")
    np.testing.assert_allclose(b2.inputs[0, 0].numpy(), x, atol=1e-5)
    x2, y2 = make_pair("D6", 9, o, device="cpu")
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    a1, a2 = b1.acquisition[1], b2.acquisition[0]
    for key in ("dose", "read_sigma", "exceed_fov"):
        assert a1[key] == pytest.approx(a2[key])
    for key in ("shifts_px", "gain", "background", "angles"):
        np.testing.assert_allclose(a1[key], a2[key], rtol=1e-6)
    assert not np.allclose(x, make_pair("D6", 9, replace(o, dose=None), device="cpu")[0], atol=1e-3)


def test_spec_grid_holds_every_geometry_for_wide_wedges_and_steps_1_to_5():
    """Wedges 30–120°, steps 1–5°, asymmetric shifts up to 15°: the grid is exactly the union of
    every drawable geometry's angles, every range stays inside ±90°, and the grid is not huge."""
    sp = DatasetSpec("W", (("phantom", 1000),), (30.0, 120.0))
    steps = (1.0, 2.0, 3.0, 4.0, 5.0)
    o = PairOptions(size=16, tilt_steps_deg=steps, asymmetric=True, max_shift_deg=15.0)
    grid = _spec_grid(sp, o)
    want = set()
    for w in np.arange(30.0, 120.0 + 1e-9, 0.5):
        m = np.floor(min(15.0, w / 2) / 0.5) * 0.5
        for shift in np.arange(-m, m + 1e-9, 0.5):
            lo, hi = -(90 - w / 2) + shift, 90 - w / 2 + shift
            assert -90 <= lo and hi <= 90
            for st in steps:
                want.update(angles_on_grid(lo, hi, st).tolist())
    np.testing.assert_array_equal(grid, np.array(sorted(want)))
    print(f"grid of wedges 30-120, steps 1-5, shift 15: {grid.size} angles")
    assert grid.size < 700
    gset = set(np.round(grid, 6).tolist())
    shifts = []
    for i in range(300):
        w, lo, hi, st = geometry(sp, i, o)
        assert 30 <= w <= 120 and -90 <= lo < hi <= 90 and hi - lo == pytest.approx(180 - w)
        shifts.append((lo + hi) / 2)
        assert set(angles_on_grid(lo, hi, st).tolist()) <= gset
    assert max(np.abs(shifts)) > 12  # the wider shifts are used
    with pytest.raises(ValueError, match="max_shift_deg"):
        PairOptions(max_shift_deg=95)


@pytest.mark.parametrize("bad, match", [(dict(dose=(0, 10)), "dose"), (dict(dose=(10, 5)), "dose"),
                                        (dict(read_noise=-1), "read_noise"), (dict(drift=2), "drift"),
                                        (dict(exceed_fov=1.5), "exceed_fov"), (dict(misalign_px=-0.1), "misalign")])
def test_bad_acquisition_options_are_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        PairOptions(size=32, **bad)


def test_fixed_asymmetric_tilt_range():
    o = PairOptions(size=16, oversample=1)
    b = make_batch("D2", [0], o, holdout=True, tilt_range_deg=(-60.0, 45.0), device="cpu")
    assert b.ranges_deg == [(-60.0, 45.0)] and b.wedges_deg[0] == 75.0
    assert b.grid_deg[0] == -60.0 and b.grid_deg[-1] == 45.0
    with pytest.raises(ValueError, match="tilt range"):
        make_batch("D2", [0], o, holdout=True, tilt_range_deg=(-95.0, 45.0), device="cpu")
