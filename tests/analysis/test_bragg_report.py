"""Bragg-spot measurement on simulated gold: ground truth vs WBP, controls, JSON, CLI, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_irdm.analysis.bragg import bragg_report
from napari_irdm.cli import main
from napari_irdm.simulate import gold_sample

PIX = 0.3  # Nyquist 1.667 1/Å holds Au 440 (1.387 1/Å)


@pytest.fixture(scope="module")
def gold():
    """A 2.4 nm Au particle ([100] along the tilt axis), ±70° / 2°, 96³ at 0.3 Å, and its WBP."""
    from napari_irdm.tomo import wbp

    ts, truth = gold_sample(size_nm=2.4, pixel_size_A=PIX, size_px=96)
    rec = wbp(ts.data, ts.tilt_angles_deg)
    return ts, truth, rec


def test_truth_detects_every_reflection_to_440_in_both_regions(gold):
    ts, truth, _ = gold
    rep = bragg_report(truth.volume.data, PIX, ts.tilt_angles_deg, truth=truth, d_min_A=0.72)
    assert [f.family for f in rep.families][-1] == "440"
    for f in rep.families:
        assert f.detected == f.expected, f.family
    em, dm = rep.counts("measured")
    ew, dw = rep.counts("wedge")
    assert em > 0 and ew > 0 and dm == em and dw == ew
    assert {s.region for s in rep.spots if s.family == "440"} == {"measured", "wedge"}
    assert len(rep.controls) > 100 and rep.false_positive_fraction <= 0.05
    assert rep.information_limit_A == pytest.approx(4.078 / np.sqrt(32), abs=1e-4)


def test_wbp_loses_the_wedge(gold):
    ts, truth, rec = gold
    rep = bragg_report(rec, PIX, ts.tilt_angles_deg, truth=truth, d_min_A=0.72)
    em, dm = rep.counts("measured")
    ew, dw = rep.counts("wedge")
    assert dm >= 0.8 * em  # measured region kept up to 440
    assert dw <= 0.2 * ew  # the missing wedge is missing
    fam = {f.family: f for f in rep.families}
    assert fam["440"].detected["measured"] >= 1 and fam["440"].detected["wedge"] == 0
    assert rep.false_positive_fraction <= 0.05
    # a symmetric wedge that is larger loses more
    narrow = bragg_report(rec, PIX, [-40.0, 40.0], truth=truth, d_min_A=0.72)
    assert narrow.counts("wedge")[0] > ew


def test_spots_within_one_voxel_for_a_rotated_lattice():
    ts, truth = gold_sample(tilt_step=10.0, size_nm=2.0, pixel_size_A=PIX, size_px=80, orientation=(20, 35, 55))
    rep = bragg_report(truth.volume, None, None, truth=truth, d_min_A=0.9)  # Volume carries pixel size + angles
    assert rep.tilt_range_deg == (-70.0, 70.0)
    det = [s for s in rep.spots if s.detected]
    assert len(det) == len(rep.spots)
    for s in det:
        err = np.linalg.norm(np.subtract(s.found_vox, s.position_vox))
        assert err <= 1.0, (s.hkl, err)
    # the expected position is the analytic g on the grid: centre + g · n · pixel
    s = rep.spots[0]
    g = truth.crystal.g_vectors(s.hkl)
    assert np.allclose(s.position_vox, 40 + g * 80 * PIX)


def test_unknown_orientation_indexes_by_g(gold):
    ts, truth, _ = gold
    rep = bragg_report(truth.volume.data, PIX, ts.tilt_angles_deg, lattice="Au", d_min_A=0.9, fit_orientation=False)
    assert not rep.orientation_known
    det = {f.family: f.detected["measured"] + f.detected["wedge"] for f in rep.families}
    assert det["111"] == 4 and det["200"] == 3 and det["220"] == 6  # every low-order spot found and indexed
    assert rep.information_limit_A is not None and rep.information_limit_A < 1.0
    assert rep.false_positive_fraction <= 0.05
    assert "?" in rep.table()


def test_report_json_and_table(gold, tmp_path):
    ts, truth, rec = gold
    rep = bragg_report(rec, PIX, ts.tilt_angles_deg, truth=truth, d_min_A=1.0, n_controls=1)
    d = json.loads(rep.to_json())
    assert d["information_limit_A"] == pytest.approx(rep.information_limit_A, abs=1e-5)
    assert {"families", "spots", "controls", "false_positive_fraction", "snr_threshold"} <= set(d)
    spot = d["spots"][0]
    assert {"hkl", "d_A", "position_vox", "snr", "region", "detected", "g_inv_A"} <= set(spot)
    assert set(d["families"][0]["expected"]) == {"measured", "wedge"}
    table = rep.table()
    assert "400" in table and "information limit" in table
    rep.save_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["volume_shape"] == [96, 96, 96]


def test_bad_input(gold):
    ts, truth, rec = gold
    with pytest.raises(ValueError, match="3-D"):
        bragg_report(rec[0], PIX, ts.tilt_angles_deg, truth=truth)
    with pytest.raises(ValueError, match="pixel size is missing"):
        bragg_report(rec, None, ts.tilt_angles_deg, truth=truth)
    with pytest.raises(ValueError, match=r"beyond Nyquist: 331 \(0.936 Å\), 420 .*440 \(0.721 Å\)"):
        bragg_report(rec, 0.5, ts.tilt_angles_deg, lattice="Au", d_min_A=0.72)
    with pytest.raises(ValueError, match="too coarse"):
        bragg_report(rec, 1.5, ts.tilt_angles_deg, lattice="Au")
    with pytest.raises(ValueError, match="unknown lattice 'unobtainium'"):
        bragg_report(rec, PIX, ts.tilt_angles_deg, lattice="unobtainium", a_A=3.5)


def test_cli_spectrum(gold, tmp_path, capsys):
    from napari_irdm.io import write_volume
    from napari_irdm.simulate import save_simulation

    ts, truth, rec = gold
    sim = tmp_path / "sim"
    save_simulation(sim, ts, truth)
    vol = tmp_path / "wbp.mrc"
    write_volume(vol, rec, pixel_size_A=PIX)
    out = tmp_path / "report.json"
    assert main(["spectrum", str(vol), "--truth", str(sim), "--tilt-range", "-70", "70", "--d-min", "0.72",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "440" in printed and "wedge" in printed
    d = json.loads(out.read_text())
    assert d["information_limit_A"] == pytest.approx(0.7209, abs=1e-3)
    fam = {f["family"]: f for f in d["families"]}
    assert fam["440"]["detected"]["wedge"] == 0 and fam["440"]["expected"]["wedge"] == 2
    # the truth volume written by `simulate` carries its tilt angles: no --tilt-range needed
    assert main(["spectrum", str(sim / "truth_volume.mrc"), "--lattice", "Au", "--orientation", "zone:[100]",
                 "--d-min", "1.0"]) == 0
    capsys.readouterr()
    for argv, msg in [
        (["spectrum", str(vol), "--lattice", "Au", "--pixel-size", "0.5", "--d-min", "0.7", "--tilt-range", "-70", "70"],
         "beyond Nyquist"),
        (["spectrum", str(vol), "--tilt-range", "-70", "70"], "no lattice given"),
        (["spectrum", str(vol), "--lattice", "unobtainium", "--tilt-range", "-70", "70"], "unknown lattice"),
        (["spectrum", str(vol), "--lattice", "Au"], "no tilt angles"),
        (["spectrum", str(tmp_path / "missing.mrc"), "--lattice", "Au"], "missing.mrc"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err


def test_noise_only_volume_detects_nothing():
    vol = np.random.default_rng(1).normal(size=(64, 80, 72)).astype(np.float32)  # nz ≠ ny ≠ nx allowed
    known = bragg_report(vol, PIX, [-70.0, 70.0], lattice="Au", orientation="zone:[100]", d_min_A=0.72)
    assert sum(s.detected for s in known.spots) <= 0.05 * len(known.spots)
    assert known.false_positive_fraction <= 0.05 and known.information_limit_A is None
    unknown = bragg_report(vol, PIX, [-70.0, 70.0], lattice="Au", d_min_A=0.72)
    assert unknown.information_limit_A is None
    assert unknown.orientation_fitted is None and not unknown.orientation_known  # noise fits no lattice


@pytest.mark.parametrize("element, seed", [("Pt", 2), ("W", 5)])
def test_orientation_is_fitted_to_the_peaks(element, seed):
    """A crystal in a random orientation, its lattice named but not its orientation: the fitted
    orientation puts the truth's lattice points where the truth's own orientation does, and the
    WBP report then counts measured and wedge spots (almost) as the known-orientation report does."""
    from napari_irdm.crystallography import allowed_hkl, reciprocal_vectors
    from napari_irdm.progress import run_to_completion
    from napari_irdm.simulate import make_nanocrystal, simulate_iter
    from napari_irdm.tomo import wbp

    crystal = make_nanocrystal(element, size_nm=2.2, orientation="random", seed=seed)
    angles = np.arange(-60.0, 60.1, 3.0)
    ts, truth = run_to_completion(simulate_iter(crystal, angles, pixel_size_A=PIX, size_px=96, seed=seed))
    rec = wbp(ts.data, angles)
    known = bragg_report(rec, PIX, angles, truth=truth, d_min_A=0.75)
    fitted = bragg_report(rec, PIX, angles, lattice=element, d_min_A=0.75)
    assert fitted.orientation_known and fitted.orientation_fitted is not None
    assert fitted.orientation_fitted["n_matched"] >= 0.9 * fitted.orientation_fitted["n_peaks"]
    lat = crystal.lattice
    hkl = allowed_hkl(lat, 12)
    g_true = reciprocal_vectors(hkl, lat.a_A, crystal.orientation)
    g_fit = reciprocal_vectors(hkl, lat.a_A, np.asarray(fitted.orientation_fitted["rotation"]))
    # the same set of points (a lattice symmetry may permute them): every true point has a fitted one near it
    dist = np.linalg.norm(g_true[:, None] - g_fit[None], axis=2).min(axis=1)
    assert dist.max() < 0.01  # 1/Å; the nearest distinct points are > 0.35 1/Å apart
    for region in ("measured", "wedge"):
        (e_k, d_k), (e_f, d_f) = known.counts(region), fitted.counts(region)
        assert abs(e_k - e_f) <= 3 and abs(d_k - d_f) <= 2, (region, known.counts(region), fitted.counts(region))
    assert "orientation fitted to the detected peaks" in fitted.table()
    # a pixel size 4 % too large (a common miscalibration): the peaks sit 4 % inside the lattice's
    # |g|; the fit finds that scale, says so, and counts with the lattice constant the peaks imply
    off = bragg_report(rec, PIX * 1.04, angles, lattice=element, d_min_A=0.75 * 1.04)
    assert off.orientation_fitted is not None
    assert off.orientation_fitted["scale"] == pytest.approx(1 / 1.04, rel=0.006)
    assert "% off the lattice's |g|" in off.notes[-1]
    for region in ("measured", "wedge"):
        (e_k, d_k), (e_o, d_o) = known.counts(region), off.counts(region)
        assert abs(e_k - e_o) <= 3 and abs(d_k - d_o) <= 3, (region, known.counts(region), off.counts(region))
    # several volumes (napari's Fourier compare): the first one's fitted orientation counts them all
    from napari_irdm.analysis.fourier import spectra_iter

    vols = [{"name": n, "data": d, "pixel_size_A": PIX, "tilt_angles_deg": angles}
            for n, d in (("wbp", rec), ("truth", truth.volume.data))]
    out = run_to_completion(spectra_iter(vols, reference={"lattice": element, "d_min_A": 0.75}))
    r_wbp, r_truth = out[0]["report"], out[1]["report"]
    assert r_truth.orientation_fitted is None and "orientation fitted to the peaks of wbp" in r_truth.notes
    assert [s.hkl for s in r_truth.spots] == [s.hkl for s in r_wbp.spots]
    assert r_truth.counts("wedge")[1] > r_wbp.counts("wedge")[1]  # the truth has the wedge spots WBP lacks
