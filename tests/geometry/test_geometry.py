"""The one tilt-geometry module: angle checks, ranges, weights and the missing wedge (one rule)."""

import subprocess
import sys

import numpy as np
import pytest

from napari_irdm import geometry as g


def test_importing_geometry_loads_no_torch():
    code = "import sys, napari_irdm.geometry, napari_irdm.io, napari_irdm.analysis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_check_angles_names_what_is_wrong():
    np.testing.assert_array_equal(g.check_angles([3, 1, 1, 2], 4), [3, 1, 1, 2])  # unsorted, repeats ok
    with pytest.raises(ValueError, match="got 3 tilt angles.* for 4 images in ts.mrc"):
        g.check_angles([1, 2, 3], 4, what="ts.mrc")
    with pytest.raises(ValueError, match="image 1 .*NaN"):
        g.check_angles([1, np.nan], 2)
    with pytest.raises(ValueError, match=r"91 .*image 1.*outside ±90"):
        g.check_angles([1, 91], 2)
    with pytest.raises(ValueError, match="tilt_angles_deg"):
        g.check_angles([])


def test_ranges_two_meanings_two_names():
    np.testing.assert_array_equal(g.angles_from_range(-4, 4, 2), [-4, -2, 0, 2, 4])
    np.testing.assert_array_equal(g.angles_from_range(4, -4, 2), [4, 2, 0, -2, -4])  # acquisition order kept
    assert g.angles_from_range(-70, 70, 3)[-1] == 68  # stop off the grid is not added
    # on the absolute grid: the inner angles are multiples of the step, the ends kept
    np.testing.assert_array_equal(g.angles_on_grid(-37, 41, 10), [-37, -30, -20, -10, 0, 10, 20, 30, 40, 41])
    with pytest.raises(ValueError, match="step is 0"):
        g.angles_from_range(0, 10, 0)
    with pytest.raises(ValueError, match="at most"):
        g.angles_from_range(-70, 70, 1e-9)


def test_angular_weights_cover_the_range():
    a = g.angles_from_range(-60, 60, 2)
    w = g.angular_weights(a)
    assert w.sum() == pytest.approx(np.deg2rad(122))  # 120° plus half a step at either end... as gaps
    full = g.angular_weights(np.arange(-90, 90, 1.0))
    assert full.sum() <= np.pi + 1e-12


def test_missing_wedge_and_range():
    assert g.missing_wedge_deg(np.arange(-60, 61, 2.0)) == 60
    assert g.missing_wedge_deg([-30, 70]) == 80  # asymmetric
    assert g.tilt_range_deg([5, -45, 60]) == (-45, 60)


@pytest.mark.parametrize("lo,hi", [(-60, 60), (-30, 70), (-75, -10), (-90, 90)])
def test_one_wedge_rule_everywhere(lo, hi):
    """Membership, the hard mask and the Bragg regions give the same answer for every direction."""
    from napari_irdm.analysis._reflections import wedge_regions

    n = 64
    mask = g.wedge_mask((n, n), [lo, hi], soft_deg=0) > 0.5
    kz = np.fft.fftfreq(n)[:, None] * np.ones((1, n))
    kx = np.fft.fftfreq(n)[None, :] * np.ones((n, 1))
    member = g.measured_directions(kz, kx, [lo, hi])
    vec = np.stack([kz, np.zeros_like(kz), kx], axis=-1)
    regions = wedge_regions(vec, [lo, hi]) == "measured"
    # the mask adds the k -> -k mirror of the Nyquist row/column; compare away from it
    inner = np.ones((n, n), bool)
    inner[n // 2, :] = inner[:, n // 2] = False
    assert np.array_equal(mask[inner], member[inner])
    assert np.array_equal(member, regions)


def test_direction_distance_is_modulo_180():
    d = g.direction_distance_deg(np.array([0.0, 180.0, -180.0, 75.0, 75.0 + 180.0, 89.0, -89.0, 450.0]), [-60, 60])
    np.testing.assert_allclose(d, [0, 0, 0, 15, 15, 29, 29, 30])


def test_wedge_mask_matches_fourier_slice_of_a_projection():
    """A projection at θ measures the line (kx, kz) ∝ (cos θ, sin θ): that line is inside the mask."""
    n = 128
    for theta in (-50.0, 20.0, 55.0):
        t = np.deg2rad(theta)
        r = np.arange(20, n // 3)  # far enough out that rounding to the grid moves the direction < 2°
        kz = np.round(r * np.sin(t)).astype(int) % n
        kx = np.round(r * np.cos(t)).astype(int) % n
        inside = g.wedge_mask((n, n), [-60, 60], soft_deg=0)[kz, kx]
        outside = g.wedge_mask((n, n), [-20, 10], soft_deg=0)[kz, kx]
        assert inside.min() == 1.0
        assert (theta in (-50.0, 55.0) and outside.max() == 0.0) or theta == 20.0
