"""Reflection lists, extinctions and missing-wedge classification (hand values)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.analysis.bragg import expected_reflections, family_label, wedge_region, wedge_regions
from napari_irdm.simulate.crystal import orientation_matrix

# Au, a = 4.078 Å: d = a / √(h²+k²+l²), counted per Friedel pair
AU_HAND = {
    "111": (2.3544, 4),
    "200": (2.0390, 3),
    "220": (1.4418, 6),
    "311": (1.2296, 12),
    "222": (1.1772, 4),
    "400": (1.0195, 3),
    "331": (0.9356, 12),
    "420": (0.9119, 12),
    "422": (0.8324, 12),
    "511/333": (0.7848, 16),
    "440": (0.7209, 6),
}


def test_gold_families_and_d_spacings():
    refl = expected_reflections("Au", d_min_A=0.72)
    fams = list(dict.fromkeys(r.family for r in refl))
    assert fams == list(AU_HAND)
    for fam, (d, count) in AU_HAND.items():
        members = [r for r in refl if r.family == fam]
        assert len(members) == count, fam
        assert members[0].d_A == pytest.approx(d, abs=1e-4)
    assert refl[-1].d_A == pytest.approx(0.7209, abs=1e-4) and 1 / refl[-1].d_A == pytest.approx(1.387, abs=1e-3)
    assert all(np.linalg.norm(r.g) == pytest.approx(1 / r.d_A) for r in refl)
    full = expected_reflections("Au", d_min_A=0.72, friedel_pairs=False)
    assert len(full) == 2 * len(refl)


def test_extinctions():
    fcc = {r.hkl for r in expected_reflections("fcc", 4.0, d_min_A=1.0, friedel_pairs=False)}
    assert (1, 1, 1) in fcc and (2, 0, 0) in fcc and (2, 2, 0) in fcc
    assert not fcc & {(1, 0, 0), (1, 1, 0), (2, 1, 0), (2, 1, 1), (3, 1, 0)}
    bcc = {r.hkl for r in expected_reflections("bcc", 3.0, d_min_A=1.0, friedel_pairs=False)}
    assert (1, 1, 0) in bcc and (2, 0, 0) in bcc and (2, 1, 1) in bcc
    assert not bcc & {(1, 0, 0), (1, 1, 1), (2, 1, 0)}
    sc = expected_reflections("sc", 3.0, d_min_A=1.2)
    assert list(dict.fromkeys(r.family for r in sc)) == ["100", "110", "111", "200", "210", "211"]
    assert family_label("fcc", 27) == "511/333" and family_label("fcc", 2) == ""
    with pytest.raises(ValueError, match="unknown lattice"):
        expected_reflections("bct", 3.0, d_min_A=1.0)


def test_rotated_g_vectors():
    rot = orientation_matrix((30.0, 50.0, 10.0))
    refl = expected_reflections("Au", d_min_A=1.0, orientation=rot)
    r = next(x for x in refl if x.hkl == (1, 1, 1))
    assert np.allclose(r.g, (rot @ np.array([1, 1, 1]) / 4.078)[::-1])  # (kz, ky, kx)
    zone = expected_reflections("Au", d_min_A=1.0, orientation="zone:[110]")
    along_y = next(x for x in zone if x.hkl == (2, 2, 0))
    assert np.allclose(along_y.g, [0, 2 * np.sqrt(2) / 4.078, 0])


def _g(phi_deg, ky=0.0):
    """A reciprocal vector at azimuth φ from kx towards kz: (kz, ky, kx)."""
    t = np.radians(phi_deg)
    return np.array([np.sin(t), ky, np.cos(t)])


def test_wedge_classification_symmetric():
    ang = np.arange(-60, 61, 2.0)
    assert wedge_region(_g(0), ang) == "measured"  # along kx
    assert wedge_region(_g(90), ang) == "wedge"  # along kz: the centre of the wedge
    assert wedge_region([0.0, 1.0, 0.0], ang) == "measured"  # along the tilt axis ky
    assert wedge_region(_g(50, ky=3.0), ang) == "measured"
    assert wedge_region(_g(65), ang) == wedge_region(_g(-65), ang) == "wedge"
    assert wedge_region(_g(180 - 50), ang) == "measured"  # −g of a measured g
    assert wedge_region(_g(60), ang) == "measured"  # boundary included
    assert wedge_region(-_g(89), np.arange(-90, 91, 2.0)) == "measured"  # full range: nothing missing
    regions = wedge_regions(np.stack([_g(p) for p in (0, 45, 61, 90, -45)]), ang)
    assert list(regions) == ["measured", "measured", "wedge", "wedge", "measured"]


def test_wedge_classification_asymmetric():
    ang = np.arange(-30, 61, 1.0)
    assert wedge_region(_g(50), ang) == "measured"
    assert wedge_region(_g(-50), ang) == "wedge"
    assert wedge_region(_g(-25), ang) == "measured"
    assert wedge_region(_g(65), ang) == "wedge"
    # a direction and its opposite are one line: 155° ≡ −25° (measured), 130° ≡ −50° (wedge)
    assert wedge_region(_g(155), ang) == "measured" and wedge_region(-_g(-25), ang) == "measured"
    assert wedge_region(_g(130), ang) == "wedge"
    # margin: 0.5° beyond θmax at |g| = 1 is 0.0087 1/Å from the measured plane
    assert wedge_region(_g(60.5), ang, margin_inv_A=0.01) == "measured"
    assert wedge_region(_g(60.5), ang, margin_inv_A=0.005) == "wedge"


def test_wedge_sign_matches_the_projector():
    """A grating along (kx, kz) = (cos φ, sin φ) is seen by the projection at θ = φ only."""
    from napari_irdm.tomo import ParallelProjector

    n = 64
    z, x = np.meshgrid(np.arange(n) - (n - 1) / 2, np.arange(n) - (n - 1) / 2, indexing="ij")
    phi = np.radians(40.0)
    k = 6 / n
    env = np.exp(-(x**2 + z**2) / (2 * 12.0**2))
    grating = (np.cos(2 * np.pi * k * (x * np.cos(phi) + z * np.sin(phi))) * env).astype(np.float32)
    vol = np.repeat(grating[:, None, :], 2, axis=1)
    angles = np.array([40.0, -40.0])
    proj = ParallelProjector(angles, vol.shape).forward(vol)[:, 0, :]
    contrast = proj.std(axis=1)
    assert contrast[0] > 10 * contrast[1]
    g = np.array([np.sin(phi), 0.0, np.cos(phi)])  # (kz, ky, kx)
    assert wedge_region(g, [0.0, 60.0]) == "measured"
    assert wedge_region(g, [-60.0, 0.0]) == "wedge"
