"""Crystal structures beyond cubic metals: hcp, diamond, rutile, wurtzite, fluorite, CIF files.

Known d-spacings and extinctions, the structure's rotation group, nanocrystals cut from the
cell, and the Bragg report fitting the orientation of such crystals without the truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm import crystallography as cr
from napari_irdm.cli import main

RUTILE_CIF = """data_TiO2_rutile
_cell_length_a 4.594
_cell_length_b 4.594
_cell_length_c 2.959
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 42/m n m'
loop_
_symmetry_equiv_pos_as_xyz
'x, y, z'
'-x, -y, z'
'-y+1/2, x+1/2, z+1/2'
'y+1/2, -x+1/2, z+1/2'
'-x+1/2, y+1/2, -z+1/2'
'x+1/2, -y+1/2, -z+1/2'
'y, x, -z'
'-y, -x, -z'
'-x, -y, -z'
'x, y, -z'
'y+1/2, -x+1/2, -z+1/2'
'-y+1/2, x+1/2, -z+1/2'
'x+1/2, -y+1/2, z+1/2'
'-x+1/2, y+1/2, z+1/2'
'-y, -x, z'
'y, x, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Ti1 Ti 0 0 0 1
O1 O 0.3053 0.3053 0 1
"""


def _families(lat, d_min):
    out: dict[str, list] = {}
    for r in cr.expected_reflections(lat, d_min_A=d_min):
        out.setdefault(r.family, []).append(r)
    return out


def test_hcp_cobalt_spacings_extinctions_and_symmetry():
    co = cr.get_lattice("Co")
    assert co.cell == pytest.approx((2.507, 2.507, 4.070, 90, 90, 120))
    fam = _families(co, 1.2)
    # d(hk l) = 1 / sqrt(4/3 (h² + hk + k²) / a² + l² / c²)
    assert list(fam)[:5] == ["100", "002", "101", "102", "110"]
    assert fam["100"][0].d_A == pytest.approx(2.507 * np.sqrt(3) / 2, rel=1e-9)
    assert fam["002"][0].d_A == pytest.approx(4.070 / 2, rel=1e-9)
    assert fam["101"][0].d_A == pytest.approx(1 / np.sqrt(4 / (3 * 2.507**2) + 1 / 4.070**2), rel=1e-9)
    assert [len(fam[f]) for f in ("100", "002", "101", "110")] == [3, 1, 6, 3]  # Friedel pairs
    assert not co.allowed([0, 0, 1]) and not co.allowed([0, 0, 3]) and co.allowed([0, 0, 2])
    assert not co.allowed([1, 1, 1]) and co.allowed([1, 1, 2])  # h - k = 3n with l odd: extinct
    assert len(co.rotations()) == 12 and len(cr.get_lattice("Au").rotations()) == 24
    # |g| from the metric agrees with the reciprocal basis: g·a_i = h_i
    hkl = np.array([[1, 0, 1], [2, -1, 3]])
    assert np.allclose(co.g_vectors(hkl) @ co.direct_matrix, hkl)


def test_diamond_rutile_wurtzite_fluorite_reflections():
    si = _families(cr.get_lattice("Si"), 1.0)
    assert list(si)[:5] == ["111", "220", "311", "400", "331"]  # 200 and 222 extinct (h+k+l = 4n+2)
    assert si["111"][0].d_A == pytest.approx(5.431 / np.sqrt(3))
    tio2 = cr.get_lattice("TiO2")
    t = _families(tio2, 1.4)
    assert list(t)[:4] == ["110", "101", "200", "111"]  # rutile: 100 and 001 extinct (4₂ screw, n glide)
    assert t["110"][0].d_A == pytest.approx(4.594 / np.sqrt(2)) and t["101"][0].d_A == pytest.approx(2.4876, abs=1e-4)
    assert not tio2.allowed([1, 0, 0]) and not tio2.allowed([0, 0, 1]) and len(tio2.rotations()) == 8
    zno = cr.get_lattice("ZnO")
    assert not zno.allowed([0, 0, 1]) and zno.allowed([0, 0, 2]) and len(zno.rotations()) == 6
    ceo2 = cr.get_lattice("CeO2")
    assert set(ceo2.site_numbers.tolist()) == {58, 8} and len(ceo2.sites) == 12
    assert ceo2.allowed([2, 0, 0]) and not ceo2.allowed([1, 0, 0]) and not ceo2.allowed([2, 1, 0])
    # a preset rescaled by a: the whole cell scales (c / a kept); c alone too
    co = cr.get_lattice("Co", 2.6)
    assert co.cell[2] / co.cell[0] == pytest.approx(4.070 / 2.507)
    assert cr.get_lattice("Co", 2.5, 4.0).cell[:3] == pytest.approx((2.5, 2.5, 4.0))


def test_lattice_errors_name_the_parameters():
    with pytest.raises(ValueError, match="needs both lattice constants") as err:
        cr.get_lattice("hcp", 2.5)
    assert err.value.params == ("a_A", "c_A")
    with pytest.raises(ValueError, match="more than one element"):
        cr.get_lattice("rutile", 4.6, 3.0)
    with pytest.raises(ValueError, match="cubic"):
        cr.get_lattice("Au", c_A=4.0)
    with pytest.raises(ValueError, match="not built in"):
        cr.Lattice("cif", 4.0)
    with pytest.raises(ValueError, match="cubic families only"):
        cr.family_label(cr.get_lattice("Co"), 3)


def test_cif_file_gives_the_built_in_structure(tmp_path):
    path = tmp_path / "rutile.cif"
    path.write_text(RUTILE_CIF)
    lat = cr.get_lattice(path)
    assert lat.structure == "cif" and len(lat.sites) == 6 and sorted(set(lat.site_numbers.tolist())) == [8, 22]
    built = cr.get_lattice("TiO2")
    a = [(r.family, round(r.d_A, 6)) for r in cr.expected_reflections(lat, d_min_A=0.8)]
    b = [(r.family, round(r.d_A, 6)) for r in cr.expected_reflections(built, d_min_A=0.8)]
    assert a == b and len(a) > 40
    again = cr.Lattice.from_dict(lat.to_dict())
    assert again.cell == pytest.approx(lat.cell) and np.allclose(again.basis, lat.basis)
    bad = tmp_path / "bad.cif"
    bad.write_text("data_x\n_cell_length_a 4\n")
    with pytest.raises(ValueError, match="bad.cif"):
        cr.get_lattice(bad)


def test_nanocrystals_of_other_structures_have_their_bond_lengths():
    from scipy.spatial import cKDTree

    from napari_irdm.simulate import make_nanocrystal

    co = make_nanocrystal("Co", shape="sphere", size_nm=2.0, orientation="random", seed=1)
    d, _ = cKDTree(co.positions_A).query(np.zeros(3), k=13)
    assert d[0] < 1e-9 and d[1:] == pytest.approx(np.full(12, 2.507), abs=0.08)  # 12 neighbours, ideal c/a ≈ 1.63
    assert np.all(co.atomic_numbers == 27)
    tio2 = make_nanocrystal("TiO2", shape="sphere", size_nm=2.5, orientation="zone:[001]", seed=1)
    n_ti, n_o = (int((tio2.atomic_numbers == z).sum()) for z in (22, 8))
    assert n_o / n_ti == pytest.approx(2.0, rel=0.15)
    # zone [001]: the c axis along the tilt axis y (volume frame order z, y, x)
    assert np.allclose(tio2.orientation @ [0, 0, 1], [0, 1, 0], atol=1e-9)
    ti = tio2.positions_A[tio2.atomic_numbers == 22]
    d, _ = cKDTree(ti).query(ti[np.argmin(np.linalg.norm(ti, axis=1))], k=3)
    assert d[1:] == pytest.approx([2.959, 2.959], abs=1e-6)  # Ti chains along c
    with pytest.raises(ValueError, match="twin needs a cubic"):
        make_nanocrystal("Co", twin=True)


@pytest.mark.parametrize("name, wrong, seed", [("Co", "CdSe", 2), ("TiO2", "Au", 3)])
def test_orientation_of_other_crystals_is_fitted(name, wrong, seed):
    """hcp Co and rutile TiO2 in random orientations, WBP ±60°: the orientation fitted without the
    truth puts the lattice points where the truth's orientation does and counts as it does; a
    lattice that is not the crystal's is not fitted (CdSe shares Co's hexagonal plane spacings)."""
    from napari_irdm.analysis.bragg import bragg_report
    from napari_irdm.progress import run_to_completion
    from napari_irdm.simulate import make_nanocrystal, simulate_iter
    from napari_irdm.tomo import wbp

    pix = 0.3
    crystal = make_nanocrystal(name, shape="sphere", size_nm=2.2, orientation="random", seed=seed)
    angles = np.arange(-60.0, 60.1, 3.0)
    ts, truth = run_to_completion(simulate_iter(crystal, angles, pixel_size_A=pix, size_px=96, seed=seed))
    rec = wbp(ts.data, angles)
    known = bragg_report(rec, pix, angles, truth=truth, d_min_A=0.75)
    fitted = bragg_report(rec, pix, angles, lattice=name, d_min_A=0.75)
    assert fitted.orientation_fitted is not None
    assert fitted.orientation_fitted["n_matched"] >= 0.9 * fitted.orientation_fitted["n_peaks"]
    lat = crystal.lattice
    hkl = cr.allowed_hkl(lat, g_max=1.2)
    g_true = cr.reciprocal_vectors(hkl, lat, crystal.orientation)
    g_fit = cr.reciprocal_vectors(hkl, lat, np.asarray(fitted.orientation_fitted["rotation"]))
    assert np.linalg.norm(g_true[:, None] - g_fit[None], axis=2).min(axis=1).max() < 0.01  # 1/Å
    for region in ("measured", "wedge"):
        (e_k, d_k), (e_f, d_f) = known.counts(region), fitted.counts(region)
        assert e_k == e_f and abs(d_k - d_f) <= 2, (region, known.counts(region), fitted.counts(region))
    e, d = known.counts("measured")
    assert d >= 0.5 * e  # WBP resolves most measured-region reflections of these crystals
    assert known.false_positive_fraction <= 0.05
    other = bragg_report(rec, pix, angles, lattice=wrong, d_min_A=0.75)
    assert other.orientation_fitted is None


def test_cli_simulate_and_spectrum_of_an_hcp_crystal(tmp_path, capsys):
    out = tmp_path / "co"
    assert main(["simulate", "Co", "-o", str(out), "--size-nm", "2", "--pixel-size", "0.3", "--box", "80",
                 "--orientation", "random", "--seed", "4", "--tilt-range", "-60", "60", "--tilt-step", "3",
                 "--shape", "sphere"]) == 0
    assert "(hcp, a, b, c = 2.507, 2.507, 4.07 Å)" in capsys.readouterr().out
    assert main(["spectrum", str(out / "truth_volume.mrc"), "--lattice", "Co", "--d-min", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "orientation fitted to the detected peaks" in text and " 101 " in text
    cif = tmp_path / "rutile.cif"
    cif.write_text(RUTILE_CIF)
    # a compound: every atom written with its own element; the saved lattice reads back
    tio2 = tmp_path / "tio2"
    assert main(["simulate", str(cif), "-o", str(tio2), "--size-nm", "1.2", "--pixel-size", "0.5",
                 "--tilt-range", "-60", "60", "--tilt-step", "10"]) == 0
    capsys.readouterr()
    rows = [ln.split(",") for ln in (tio2 / "atoms.csv").read_text().splitlines()[2:]]
    assert {(r[0], r[1]) for r in rows} == {("Ti", "22"), ("O", "8")}
    from napari_irdm.simulate.store import load_truth

    lat = load_truth(tio2).crystal.lattice
    assert lat.structure == "cif" and lat.cell == pytest.approx((4.594, 4.594, 2.959, 90, 90, 90))
    assert main(["spectrum", str(out / "truth_volume.mrc"), "--lattice", str(cif), "--d-min", "0.8"]) == 0
    assert "orientation fitted" not in capsys.readouterr().out  # the wrong structure explains too few peaks
    for argv, msg in [(["--lattice", "hcp", "--a", "2.5"], "give --a and --c in Å"),
                      (["--lattice", "Au", "--c", "4"], "--c is for hexagonal and tetragonal cells"),
                      (["--truth", str(out), "--c", "4"], "--c is the c lattice constant of --lattice"),
                      (["--lattice", "Co", "--c", "-1"], "--c: the lattice constant must be a positive number")]:
        assert main(["spectrum", str(out / "truth_volume.mrc"), *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
