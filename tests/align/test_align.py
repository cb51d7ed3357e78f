"""Alignment recovers known misalignments of a bead phantom (physics, not shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_irdm.align import Transforms, align_iter, apply_transforms
from napari_irdm.align._pm import Level, gauge_free, reprojection_residual
from napari_irdm.align._register import com_shifts, register_batch, xcorr_shifts
from napari_irdm.progress import Progress
from napari_irdm.tomo import wbp

from ._spoil import gauge_errors, spoiled_series

ANGLES = np.arange(-70.0, 70.1, 3.0)


def _corr(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def _run(raw, **kw):
    gen = align_iter(raw, ANGLES, method="pm", levels=(2, 1), iterations=6, coarse_method="com", **kw)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return stop.value, events


#: (phantom, seed, Poisson dose, true tilt axis deg, true centre offset px)
CASES = {
    "beads-noise-free": ("beads", 0, None, 2.0, 3.0),
    "beads-poisson": ("beads", 2, 200.0, 2.0, 3.0),
    "blobs-poisson": ("blobs", 1, 200.0, -1.5, -2.5),
    # the sharpest WBP puts this one's centre 1.9 px off; the centres of mass get it
    "blobs-poisson-2": ("blobs", 2, 200.0, -1.41, 2.57),
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def aligned(request):
    kind, seed, dose, phi, centre = CASES[request.param]
    vol, ideal, raw, truth = spoiled_series(ANGLES, kind=kind, seed=seed, dose=dose, phi=phi, centre=centre)
    result, events = _run(raw)
    return vol, ideal, raw, truth, result, events


def test_register_batch_recovers_known_shifts():
    _, ideal, _, _ = spoiled_series(ANGLES[:6], phi=0.0, centre=0.0)
    d = np.array([[1.3, -2.7], [0.0, 0.4], [-3.2, 1.1], [2.5, 2.5], [-0.6, -0.2], [4.0, -4.0]])
    moved = apply_transforms(ideal, Transforms.from_parameters(-d, 0.0, ANGLES[:6]))
    found = register_batch(torch.from_numpy(moved), torch.from_numpy(ideal)).numpy()
    assert np.abs(found - d).max() < 0.1


def test_coarse_methods_find_the_drift():
    _, _, raw, truth = spoiled_series(ANGLES, phi=0.0)
    s = xcorr_shifts(torch.from_numpy(raw), ANGLES)
    rms, _, _ = gauge_errors(s, truth.shifts_xy, ANGLES)
    assert rms < 1.5  # neighbours only: errors add up outward; projection matching removes them
    s, c = com_shifts(torch.from_numpy(raw), ANGLES)
    rms, centre_err, _ = gauge_errors(s, truth.shifts_xy, ANGLES)
    assert rms < 0.3 and abs(centre_err) < 0.5


@pytest.mark.slow
def test_alignment_recovers_shifts_axis_and_centre(aligned):
    _, _, _, truth, result, _ = aligned
    rms, centre_err, _ = gauge_errors(result.transforms.shifts_xy, truth.shifts_xy, ANGLES)
    phi = truth.rotation_deg
    print(f"measured: RMS {rms:.3f} px, centre {centre_err:.3f} px, axis {result.transforms.rotation_deg:.3f} deg "
          f"(true {phi:g})")
    # acceptance of issue #13 (measured values in docs/alignment.md)
    assert rms <= 0.3, rms
    assert abs(centre_err) <= 0.3, centre_err
    assert abs(result.transforms.rotation_deg - phi) <= 0.2, result.transforms.rotation_deg


@pytest.mark.slow
def test_projection_matching_residual_falls(aligned):
    *_, result, events = aligned
    assert all(isinstance(e, Progress) for e in events) and events[-1].step == events[-1].total
    for res in result.report["residuals"].values():
        assert len(res) >= 2 and all(b < a for a, b in zip(res, res[1:]))
    assert result.report["residual_final"] < result.report["residual_initial"]


@pytest.mark.slow
def test_reconstruction_close_to_perfect_alignment(aligned):
    vol, ideal, raw, truth, result, _ = aligned
    _, _, coef = gauge_errors(result.transforms.shifts_xy, truth.shifts_xy, ANGLES)
    # move our (equally valid) specimen position onto the truth's before comparing volumes
    th = np.deg2rad(ANGLES)
    m = result.transforms.matrices.copy()
    m[:, 0, 2] -= coef[0] * np.cos(th) + coef[1] * np.sin(th)
    m[:, 1, 2] -= (result.transforms.shifts_xy[:, 1] - truth.shifts_xy[:, 1]).mean()
    ours = wbp(apply_transforms(raw, result.transforms.replace(matrices=m)), ANGLES)
    perfect = wbp(apply_transforms(raw, truth), ANGLES)
    unaligned = wbp(raw, ANGLES)
    c_ours, c_perfect, c_raw = _corr(ours, vol), _corr(perfect, vol), _corr(unaligned, vol)
    print(f"measured: WBP correlation ours {c_ours:.4f}, perfect {c_perfect:.4f}, unaligned {c_raw:.4f}")
    assert c_ours >= 0.98 * c_perfect, (c_ours, c_perfect)
    assert c_raw < 0.8 * c_perfect


def test_gauge_free_removes_specimen_motion_only():
    th = np.deg2rad(ANGLES)
    dx = 2 * np.cos(th) - 3 * np.sin(th) + 1.5
    dy = np.full_like(dx, 4.0)
    gx, gy = gauge_free(dx, dy, ANGLES)
    assert np.abs(gy).max() < 1e-12
    gx2, _ = gauge_free(dx, dy, ANGLES, keep_centre=False)
    assert np.abs(gx2).max() < 1e-9 and np.abs(gx).max() > 0.1  # the constant is kept by default


def test_residual_is_lowest_at_the_true_geometry():
    _, _, raw, truth = spoiled_series(ANGLES)
    level = Level(torch.from_numpy(raw), 1)
    r0 = reprojection_residual(level, truth)
    rng = np.random.default_rng(3)
    m = truth.matrices.copy()
    m[:, :, 2] += rng.normal(0, 0.5, m[:, :, 2].shape)
    assert reprojection_residual(level, truth.replace(matrices=m)) > 1.2 * r0


@pytest.mark.parametrize("bad", [np.zeros((2, 32, 32)), np.zeros((5, 8, 8)), np.zeros((32, 32))])
def test_bad_input_is_a_value_error(bad):
    with pytest.raises(ValueError):
        next(align_iter(bad, np.zeros(len(bad)) if bad.ndim == 3 else [0.0]))


def test_unknown_method_is_a_value_error():
    with pytest.raises(ValueError, match="method"):
        next(align_iter(np.zeros((5, 32, 32)), np.arange(5.0), method="nope"))


def test_centre_of_mass_offset_is_exact_for_an_object_inside_the_field():
    from napari_irdm.align._register import com_centre_offset

    for kind, seed in (("blobs", 2), ("blobs", 6), ("beads", 1)):
        _, _, raw, truth = spoiled_series(ANGLES, kind=kind, seed=seed, dose=200.0, phi=0.7, centre=-1.9)
        for c in (0.0, 1.3, -2.6):
            m = truth.matrices.copy()
            m[:, 0, 2] += c  # an alignment whose centre is c px off
            found, spread = com_centre_offset(torch.from_numpy(raw), truth.replace(matrices=m))
            assert abs(found - c) < 0.06, (kind, seed, c, found)
            assert spread < 0.01


def test_centre_method_follows_mass_conservation():
    """Auto: centres of mass for a conserved mass; the sharpest WBP when a background ramp breaks it."""
    _, _, raw, _ = spoiled_series(ANGLES, kind="blobs", seed=2, dose=200.0, phi=-1.41, centre=2.57)
    r = align_iter(raw, ANGLES, method="com", levels=(1,))
    while True:
        try:
            next(r)
        except StopIteration as stop:
            result = stop.value
            break
    assert result.report["centre_method"].startswith("centre of mass")
    ramp = np.linspace(0, 1, raw.shape[2], dtype=np.float32)[None, None, :] * np.linspace(0.5, 3, len(ANGLES),
                                                                                           dtype=np.float32)[:, None, None]
    from napari_irdm.align import align

    shaded = align(raw + ramp, ANGLES, method="com", levels=(1,))
    assert shaded.report["centre_method"].startswith("sharpness (mass varies")
    assert align(raw, ANGLES, method="com", levels=(1,), centre_method="sharpness").report["centre_method"] == "sharpness"
    with pytest.raises(ValueError, match="centre_method 'middle' is unknown"):
        align(raw, ANGLES, centre_method="middle")


def test_common_line_axis_is_unbiased_by_noise():
    """Noisy atomic series with their axis exactly along y: the common-line search must find ~0°.

    Profiles taken from interpolated (rotated) images lose noise at every angle but 0°, so the
    old search settled 0.5–0.9° away from the truth on these series (0.93°, 0.91°, 0.53°);
    noise-free, both find 0.00°.
    """
    from napari_irdm.align._axis import sweep_rotation_common_line
    from napari_irdm.simulate import make_nanocrystal, simulate_tilt_series

    angles = np.arange(-40.0, 60.1, 3.0)
    found = []
    for seed in (1, 3, 5):
        crystal = make_nanocrystal("Pt", shape="cuboctahedron", size_nm=2.0, orientation="random", seed=seed)
        ts = simulate_tilt_series(crystal, angles, dose_e_per_A2=5000.0, seed=seed)
        images = torch.as_tensor(np.asarray(ts.data, np.float32))
        t, _ = sweep_rotation_common_line(images, Transforms.identity(angles), 2.0, tol_deg=0.01, update_y=False)
        found.append(t.rotation_deg)
    err = np.abs(found)
    assert err.max() <= 0.5 and err.mean() <= 0.25, found


def test_an_axis_far_from_the_start_is_found_or_reported(tmp_path, capsys):
    """A series whose tilt axis is turned 40° in the images: the ±3° search alone cannot reach it.

    With the default range the scan of every direction only reports it (and the CLI warns with
    the --rotation to use); with a range of 90° the scan starts the search there.
    """
    from napari_irdm.cli import main
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    _vol, _ideal, raw, truth = spoiled_series(ANGLES, kind="beads", seed=4, dose=200.0, phi=40.0, centre=1.0)
    near, _ = _run(raw)
    assert abs(near.report["axis_elsewhere_deg"] - 40.0) <= 2.5
    assert near.report["axis_elsewhere_ratio"] < 0.2
    assert abs(near.transforms.rotation_deg - 40.0) > 20.0  # the result stays near the start
    wide, _ = _run(raw, rotation_range_deg=90.0)
    assert abs(wide.transforms.rotation_deg - 40.0) <= 0.2
    assert "axis_elsewhere_deg" not in wide.report
    errors, _centre, _coef = gauge_errors(wide.transforms.shifts_xy, truth.shifts_xy, ANGLES)
    assert errors <= 0.3
    # the CLI: one warning line that names the rotation to pass
    src = tmp_path / "rotated.mrc"
    write_tilt_series(src, TiltSeries(data=raw, tilt_angles_deg=ANGLES))
    assert main(["align", str(src), "-o", str(tmp_path / "ali.mrc"), "--levels", "2,1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning: the tilt axis fits much better" in err and "--rotation 4" in err
    assert main(["align", str(src), "-o", str(tmp_path / "ali2.mrc"), "--axis-range", "120"]) != 0
    assert "--axis-range 120: give 0 to 90 degrees" in capsys.readouterr().err
    assert not (tmp_path / "ali2.mrc").exists()


def test_a_damaged_image_is_reported(tmp_path, capsys):
    """One frame that jumped and turned over: after alignment it re-projects far worse than the rest;
    the report names it and the CLI warns with its file index (with --exclude already in use)."""
    from napari_irdm.cli import main
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    _vol, _ideal, raw, _truth = spoiled_series(ANGLES, kind="blobs", seed=1, dose=200.0, phi=-1.5, centre=-2.5)
    clean, _ = _run(raw)
    assert clean.report["suspect_images"] == []
    per = np.asarray(clean.report["residual_per_image"])
    assert per.shape == (ANGLES.size,) and per.max() > 5.0 * np.median(per)  # the end tilts: high, but smooth
    bad = raw.copy()
    bad[20] = np.roll(bad[20], 20, axis=1)[::-1]
    spoiled, _ = _run(bad)
    assert spoiled.report["suspect_images"] == [20]
    src = tmp_path / "bad.mrc"
    write_tilt_series(src, TiltSeries(data=bad, tilt_angles_deg=ANGLES))
    assert main(["align", str(src), "-o", str(tmp_path / "ali.mrc"), "--levels", "2,1", "--exclude", "3",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    # image 20 of the file is image 19 of the kept series: the warning speaks in file indices
    assert "image(s) 20 (" in err and "--exclude 3,20" in err, err
