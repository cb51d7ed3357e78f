"""Lattices, orientations and nanocrystal shapes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from napari_irdm.simulate.crystal import ELEMENTS, get_lattice, make_nanocrystal, orientation_matrix


def test_presets_and_errors():
    assert get_lattice("Au").a_A == pytest.approx(4.078)
    assert get_lattice("gold").element == "Au"
    assert get_lattice("pt").a_A == pytest.approx(3.924)
    assert {k: ELEMENTS[k][1] for k in ("Pd", "Ag", "Cu")} == {"Pd": 3.891, "Ag": 4.086, "Cu": 3.615}
    assert get_lattice("bcc", 3.0).structure == "bcc"
    assert get_lattice("Au", 4.2).a_A == pytest.approx(4.2)
    with pytest.raises(ValueError, match="unknown lattice 'bct'"):
        get_lattice("bct")
    with pytest.raises(ValueError, match="needs both lattice constants"):
        get_lattice("hcp", 2.5)
    with pytest.raises(ValueError, match="lattice constant"):
        get_lattice("fcc")


def test_extinctions_from_structure_factor():
    fcc, bcc, sc = get_lattice("fcc", 4.0), get_lattice("bcc", 3.0), get_lattice("sc", 3.0)
    assert fcc.allowed([1, 1, 1]) and fcc.allowed([2, 0, 0]) and fcc.allowed([4, 4, 0])
    assert not fcc.allowed([1, 0, 0]) and not fcc.allowed([1, 1, 0]) and not fcc.allowed([2, 1, 0])
    assert bcc.allowed([1, 1, 0]) and not bcc.allowed([1, 0, 0]) and not bcc.allowed([1, 1, 1])
    assert sc.allowed([1, 0, 0]) and sc.allowed([1, 1, 1])
    assert fcc.d_spacing([1, 1, 1]) == pytest.approx(4.0 / np.sqrt(3))


def test_orientations():
    r = orientation_matrix("zone:[110]")
    assert np.allclose(r @ np.array([1, 1, 0]) / np.sqrt(2), [0, 1, 0])  # zone axis along the tilt axis y
    assert np.allclose(r @ [0, 0, 1], [0, 0, 1])  # lowest-index perpendicular along the beam
    for spec in ("zone:[100]", "zone:[1,-1,2]", (10, 20, 30), "10,20,30", None):
        m = orientation_matrix(spec, seed=1)
        assert np.allclose(m @ m.T, np.eye(3)) and np.linalg.det(m) == pytest.approx(1.0)
    assert np.allclose(orientation_matrix(None, seed=3), orientation_matrix("random", seed=3))
    with pytest.raises(ValueError, match="proper rotation"):
        orientation_matrix(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="zone axis"):
        orientation_matrix("zone:[abc]")


def test_fcc_geometry_and_volume_frame():
    rot = orientation_matrix((25.0, 40.0, -70.0))
    c = make_nanocrystal("Au", shape="sphere", size_nm=2.0, orientation=rot)
    a = 4.078
    # positions are (z, y, x): back to crystal coordinates they sit on the fcc lattice (multiples of a/2)
    crys = c.positions_A[:, ::-1] @ rot
    half = crys / (a / 2)
    assert np.allclose(half, np.rint(half), atol=1e-6)
    assert np.all(np.rint(half).sum(axis=1) % 2 == 0)  # fcc: sum of half-indices even
    assert np.allclose(c.positions_A[0], (rot @ crys[0])[::-1])
    d, _ = cKDTree(c.positions_A).query(c.positions_A, k=13)
    assert d[:, 1].min() == pytest.approx(a / np.sqrt(2), rel=1e-6)  # nearest neighbours a/√2
    inner = np.linalg.norm(c.positions_A, axis=1) < 5
    assert np.all(np.isclose(d[inner, 1:13], a / np.sqrt(2)))  # 12 neighbours inside
    assert c.radius_A() <= 10.0 + 1e-6
    assert np.any(np.all(np.abs(c.positions_A) < 1e-9, axis=1))  # an atom on the centre
    # g vectors in (kz, ky, kx)
    assert np.allclose(c.g_vectors([1, 1, 1]), (rot @ np.array([1, 1, 1]) / a)[::-1])


def test_shapes_sizes_and_defects():
    n = {s: make_nanocrystal("Au", shape=s, size_nm=2.4, orientation="identity").n_atoms
         for s in ("cube", "cuboctahedron", "truncated_octahedron", "sphere", "rod")}
    assert n["cube"] > n["cuboctahedron"] > n["truncated_octahedron"] and n["rod"] < n["sphere"]
    cube = make_nanocrystal("Au", shape="cube", size_nm=2.4, orientation="identity")
    assert np.abs(cube.positions_A).max() <= 12.0 + 1e-6
    rod = make_nanocrystal("Au", shape="rod", size_nm=3.0, orientation="identity")
    assert np.abs(rod.positions_A[:, 0]).max() > 2 * np.hypot(rod.positions_A[:, 1], rod.positions_A[:, 2]).max()
    vac = make_nanocrystal("Au", shape="cube", size_nm=2.4, orientation="identity", vacancy_fraction=0.2, seed=1)
    assert 0.7 * n["cube"] < vac.n_atoms < 0.9 * n["cube"]
    tw = make_nanocrystal("Au", shape="sphere", size_nm=2.4, orientation="identity", twin=True)
    d, _ = cKDTree(tw.positions_A).query(tw.positions_A, k=2)
    assert d[:, 1].min() == pytest.approx(4.078 / np.sqrt(2), rel=1e-6)  # coherent twin: no overlaps
    perfect = make_nanocrystal("Au", shape="sphere", size_nm=2.4, orientation="identity")
    assert not np.array_equal(np.sort(tw.positions_A, axis=0), np.sort(perfect.positions_A, axis=0))
    pt = make_nanocrystal("Pt", size_nm=1.5, seed=0)
    assert np.all(pt.atomic_numbers == 78) and pt.lattice.a_A == pytest.approx(3.924)
    with pytest.raises(ValueError, match="unknown shape"):
        make_nanocrystal("Au", shape="star")
    with pytest.raises(ValueError, match="size_nm"):
        make_nanocrystal("Au", size_nm=-1)


def test_new_presets_do_not_change_the_training_slices(monkeypatch):
    """Training pairs and held-back evaluation slices come from a frozen element list: adding a
    preset to ELEMENTS (as hcp/diamond/compound presets were added) leaves every slice as it was."""
    from napari_irdm.crystallography import ELEMENTS
    from napari_irdm.simulate.slices import TRAINING_ELEMENTS, slice_source

    assert set(TRAINING_ELEMENTS) <= set(ELEMENTS)
    idx = [0, 5, 10**6 + 3]
    before = [slice_source(i, size=48) for i in idx]
    monkeypatch.setitem(ELEMENTS, "Aa", ("fcc", 4.2, 60))
    monkeypatch.setitem(ELEMENTS, "Bb", ("bcc", 3.1, 40))
    for i, b in zip(idx, before):
        np.testing.assert_array_equal(slice_source(i, size=48), b)
