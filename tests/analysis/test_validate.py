"""Trust report: FSC pieces, directional resolutions of WBP and IRDM on simulated gold vs the truth, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch_fourier_shell_correlation")

from napari_irdm.analysis.validate import (  # noqa: E402
    cone_mask,
    directional_fsc,
    even_odd_split,
    half_bit_threshold,
    validate,
    wedge_energy_fraction,
)


def test_half_bit_threshold_limits():
    assert half_bit_threshold([1])[0] == pytest.approx(1.0, abs=1e-3)  # one voxel: no information
    assert half_bit_threshold([1e12])[0] == pytest.approx(0.2071 / 1.2071, abs=1e-4)  # 0.1716 for large shells
    t = half_bit_threshold([10, 100, 1000])
    assert np.all(np.diff(t) < 0)


def test_cone_mask_covers_the_expected_solid_angle():
    shape = (48, 48, 48)
    full = cone_mask(shape, 0, 90.0)
    assert bool(full.all())
    from napari_irdm.analysis.validate import _freq_grid

    k = np.sqrt((_freq_grid(shape).numpy() ** 2).sum(0))
    ball = (k > 0.1) & (k < 0.5)
    for axis in (0, 2):
        for half in (20.0, 45.0):
            m = cone_mask(shape, axis, half).numpy()
            # fraction of a ball inside a double cone of half-angle α: 1 − cos α (rfft half-space alike)
            assert m[ball].mean() == pytest.approx(1 - np.cos(np.radians(half)), rel=0.1)


def test_fsc_of_identical_and_independent_volumes():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(32, 32, 32)).astype(np.float32)
    same = directional_fsc(a, a, pixel_size_A=2.0)
    assert all(r.at_nyquist and r.resolution_A == pytest.approx(4.0) for r in same.values())
    assert np.allclose(same["all"].fsc[1:], 1.0, atol=1e-4)
    b = rng.normal(size=a.shape).astype(np.float32)
    indep = directional_fsc(a, b, pixel_size_A=2.0)
    assert np.abs(indep["all"].fsc[2:]).max() < 0.15  # no correlation beyond chance
    assert indep["all"].resolution_px > 8  # crosses the threshold within the first shells
    with pytest.raises(ValueError, match="one shape"):
        directional_fsc(a, b[:-1])


def test_even_odd_split_interleaves_the_range():
    ang = np.array([10.0, -10.0, 0.0, 20.0, -20.0, 30.0])
    e, o = even_odd_split(ang)
    assert sorted(np.concatenate([e, o]).tolist()) == list(range(6))
    assert ang[e].min() == -20 and ang[o].max() == 30  # both halves span (nearly) the whole range
    with pytest.raises(ValueError, match="at least 4"):
        even_odd_split(ang[:3])


@pytest.fixture(scope="module")
def gold():
    from napari_irdm.simulate import gold_sample
    from napari_irdm.tomo import wbp

    ts, truth = gold_sample((-60.0, 60.0), 2.0, size_nm=1.5, size_px=64)
    vol = wbp(ts.data, ts.tilt_angles_deg)
    return ts, truth.volume.data, vol


def _res(results):
    return {k: r.resolution_A for k, r in results.items()}


@pytest.mark.slow
def test_validate_wbp_gold_directional_resolution_against_truth(gold):
    ts, truth, vol = gold
    px, ang = ts.pixel_size_A, ts.tilt_angles_deg
    rep = validate(vol, ts.data, ang, method="wbp", pixel_size_A=px)
    val = _res(rep.fsc)
    true = _res(directional_fsc(vol, truth, pixel_size_A=px, threshold=0.5))  # map vs truth: FSC 0.5
    # the measured direction x: the half maps' ½-bit resolution agrees with the truth's to within 1.5×
    # (halves have half the tilts: never better than the full map's)
    assert true["x"] <= val["x"] <= 1.5 * true["x"], (val, true)
    # the wedge direction z: worse than x by both measures (the missing wedge shows)
    assert val["z"] > 1.5 * val["x"] and true["z"] > 1.5 * true["x"], (val, true)
    # WBP leaves the wedge (29 % of Fourier space here) nearly empty; the truth fills it
    e_truth, vox = wedge_energy_fraction(truth, ang)
    assert vox == pytest.approx(rep.wedge_voxel_fraction) and 0.25 < vox < 0.33
    assert rep.wedge_energy_fraction < 0.05 < e_truth
    assert len(rep.reprojection_residual) == ts.n_tilts and max(rep.reprojection_residual) < 0.5
    lines = rep.summary_lines()
    assert lines[0].startswith("FSC (even/odd tilts, wbp") and "Å" in lines[1]


@pytest.mark.slow
def test_validate_irdm_gold_runs_the_network_on_each_half(gold):
    from napari_irdm.dl import inpaint

    ts, truth, vol = gold
    px, ang = ts.pixel_size_A, ts.tilt_angles_deg
    irdm = inpaint(vol, ang)
    rep = validate(irdm, ts.data, ang, method="irdm", pixel_size_A=px)
    val = _res(rep.fsc)
    true = _res(directional_fsc(irdm, truth, pixel_size_A=px, threshold=0.5))
    wbp_true = _res(directional_fsc(vol, truth, pixel_size_A=px, threshold=0.5))
    # against the truth IRDM resolves z far better than WBP (it fills the wedge) ...
    assert true["z"] < 0.5 * wbp_true["z"], (true, wbp_true)
    # ... and the report's x and z resolutions are within 1.5× of the truth's
    for d in ("x", "z"):
        assert true[d] / 1.5 <= val[d] <= 1.5 * true[d], (d, val, true)
    # the network puts back about the truth's share of energy into the wedge
    e_truth, _ = wedge_energy_fraction(truth, ang)
    assert abs(rep.wedge_energy_fraction - e_truth) < 0.05
    assert any("share the missing wedge" in n for n in rep.notes)


def test_cli_validate_writes_json_and_plot(tmp_path, capsys):
    from napari_irdm.cli import main
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series, write_volume
    from napari_irdm.tomo import ParallelProjector, wbp

    n = 32
    z, y, x = np.mgrid[:n, :8, :n] - np.array([(n - 1) / 2, 3.5, (n - 1) / 2])[:, None, None, None]
    truth = ((z**2 + x**2) < 64).astype(np.float32) + 0.5 * ((np.abs(z - 4) < 2) & (np.abs(x + 3) < 5))
    ang = np.arange(-60.0, 61.0, 3.0)
    b = ParallelProjector(ang, truth.shape).forward(truth.astype(np.float32))
    b += np.random.default_rng(1).normal(0, 0.02 * b.max(), b.shape).astype(np.float32)
    ts = TiltSeries(data=b, tilt_angles_deg=ang, pixel_size_A=3.0)
    series = write_tilt_series(tmp_path / "tilt.mrc", ts)
    vol = write_volume(tmp_path / "rec.mrc", wbp(b, ang), pixel_size_A=3.0,
                       provenance=["napari-irdm test reconstruct method=wbp filter=ramp"])
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    rc = main(["validate", str(vol), "--series", str(series), "--json", str(out_json), "--plot", str(out_png),
               "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "FSC (even/odd tilts, wbp" in out and "missing wedge" in out
    rep = json.loads(out_json.read_text())
    assert set(rep["fsc"]) == {"all", "x", "y", "z"} and rep["method"] == "wbp" and rep["pixel_size_A"] == 3.0
    assert rep["fsc"]["z"]["resolution_A"] > rep["fsc"]["x"]["resolution_A"]
    assert len(rep["reprojection_residual"]) == ang.size
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a volume that does not match the series: exit 2, one line
    other = write_volume(tmp_path / "small.mrc", np.zeros((n, 4, n), np.float32))
    assert main(["validate", str(other), "--series", str(series), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "give the series the volume was reconstructed from" in err


def test_settings_from_provenance_reads_how_a_volume_was_made():
    from napari_irdm.analysis.validate import settings_from_provenance

    prov = ["napari-irdm 0.1 reconstruct method=wbp filter=ramp",
            "napari-irdm 0.1 reconstruct method=irdm model=general data_consistency=iterative"]
    assert settings_from_provenance(prov) == {"method": "irdm", "model": "general", "data_consistency": "iterative"}
    assert settings_from_provenance(["made by hand"]) == {"method": "wbp", "model": None, "data_consistency": False}
    assert settings_from_provenance(["method=banana"])["method"] == "wbp"
