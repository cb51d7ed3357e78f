"""Nanoparticle ground-truth families (train.families) and the real-data library DR: determinism and physics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull
from skimage.filters import threshold_otsu
from skimage.measure import find_contours, label, regionprops

from napari_irdm.train import families as F
from napari_irdm.train.library import HOLDOUT_OFFSET, SPECS, get_spec
from napari_irdm.train.sources import SOURCES

N = 128  # image edge of the property tests
OLD = ("phantom", "mgh", "nbia", "natural", "atomic")


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _region_touches_border(r, n) -> bool:
    y0, x0, y1, x1 = r.bbox
    return y0 == 0 or x0 == 0 or y1 == n or x1 == n


def _peak_ratio(img: np.ndarray, rmin: int = 6) -> float:
    """Largest power-spectrum pixel over the median of its ring (|k| rounded), over rings rmin … n/2 - 2.

    A 1 % white-noise floor (fixed seed) stands in for the detector, so filter round-off far below
    any real signal cannot make a 'peak'.
    """
    n = img.shape[0]
    img = img + 0.01 * np.random.default_rng(0).standard_normal(img.shape)
    w = np.hanning(n)
    p = np.fft.fftshift(np.abs(np.fft.fft2((img - img.mean()) * np.outer(w, w))) ** 2)
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    ring = np.round(np.hypot(yy, xx)).astype(int)
    return float(max(p[ring == k].max() / np.median(p[ring == k]) for k in range(rmin, n // 2 - 1)))


# ------------------------------------------------------------------ all families
@pytest.mark.parametrize("name", sorted(F.FAMILIES))
def test_family_deterministic_unit_range_registered(name):
    fn = SOURCES[name]
    assert fn is F.FAMILIES[name]
    a, b, c = fn(5, 64), fn(5, 64), fn(6, 64)
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() == 0.0  # vacuum somewhere or a dark pore / gap: HAADF background is zero
    with pytest.raises(ValueError, match="size must be >= 16"):
        fn(0, 8)


def test_family_keys_distinct():
    from napari_irdm.train import sources

    keys = list(sources._KEY.values())
    assert len(set(keys)) == len(keys) and sources._KEY["atomic"] + 101 not in keys


def test_fill_samples_touch_the_border():
    """ensemble always extends past the FOV; the zoomed ~20 % of centred families do too."""
    frac = {name: np.mean([_touches_border(F.FAMILIES[name](i, 64) > 0.1) for i in range(30)])
            for name in ("ensemble", "porous", "faceted", "coreshell", "polycrystal", "supported")}
    assert frac["ensemble"] == 1.0 and frac["supported"] == 1.0
    for name in ("porous", "faceted", "coreshell", "polycrystal"):
        assert 0.05 <= frac[name] <= 0.6, (name, frac[name])


# -------------------------------------------------------------------- per family
def test_porous_has_enclosed_voids():
    enclosed = []
    for i in range(12):
        m = F.porous(i, N) > 0.15
        if _touches_border(m):
            continue  # a zoomed sample: its voids may be cut open by the FOV
        holes = label(ndi.binary_fill_holes(m) & ~m)
        n_holes = sum(r.area >= 4 for r in regionprops(holes))
        enclosed.append(n_holes)
        assert n_holes >= 1, i
    assert len(enclosed) >= 8
    assert np.median(enclosed) >= 3


def test_coreshell_two_densities_core_enclosed():
    checked = 0
    for i in range(12):
        img = F.coreshell(i, N)
        fg = img > 0.08
        outside = ~ndi.binary_fill_holes(fg)
        lab = label(fg)
        for r in regionprops(lab):
            if r.area < 300 or _region_touches_border(r, N):
                continue
            if not (ndi.binary_dilation(lab == r.label, iterations=2) & outside).any():
                continue  # the yolk of a yolk–shell particle (checked as part of its shell's particle)
            filled = ndi.binary_fill_holes(lab == r.label)
            part = filled & fg  # shell and core, without a yolk–shell vacuum gap
            inner = ndi.binary_erosion(part, iterations=2)  # away from the blurred outer edge
            v = img[inner]
            t = threshold_otsu(v)
            lo, hi = v[v <= t], v[v > t]
            assert min(len(lo), len(hi)) >= 0.03 * len(v), i
            assert hi.mean() - lo.mean() > 0.2, i  # two distinct density levels
            rim = inner & ~ndi.binary_erosion(part, iterations=4)  # just inside the blurred outer edge
            shell_is_low = np.median(img[rim]) <= t
            shell = part & ((img <= t) if shell_is_low else (img > t))
            core = ndi.binary_opening(part & ~shell, iterations=2)  # drops the 1-px blurred edges
            assert core.sum() >= 0.03 * r.area, i
            # the core sits inside the shell: in the holes of the shell, away from the outside
            assert not (core & ~ndi.binary_fill_holes(shell)).any(), i
            assert not (core & ~ndi.binary_erosion(filled, iterations=2)).any(), i
            checked += 1
    assert checked >= 8


def _contour_convexity(img, region_mask, level):
    """Area of the sub-pixel iso-contour over the area of its convex hull."""
    pad = np.pad(np.where(region_mask, img, 0.0), 2)
    c = max(find_contours(pad, level), key=len)
    area = 0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))
    return area / ConvexHull(c).volume


def test_faceted_boundaries_are_straight():
    ratios = []
    for i in range(12):
        img = F.faceted(i, N)
        lab = label(img > 0.15)
        for r in regionprops(lab):
            if r.area < 200 or _region_touches_border(r, N):
                continue  # (tips of the smallest particles are a few pixels wide)
            m = ndi.binary_dilation(lab == r.label, iterations=1)
            ratios.append(_contour_convexity(img, m, 0.5 * float(np.median(img[lab == r.label]))))
    assert len(ratios) >= 15
    assert min(ratios) > 0.97  # convex: area within 3 % of the convex-hull area
    # the measure can fail: an L-shaped particle is far from its hull
    ell = np.zeros((N, N))
    ell[30:90, 30:50] = ell[70:90, 30:100] = 1.0
    assert _contour_convexity(ndi.gaussian_filter(ell, 0.6), ell > 0, 0.5) < 0.8


def test_rods_are_elongated():
    ratios, crossing = [], 0
    for i in range(30):
        m = F.rods(i, N) > 0.3
        crossing += _touches_border(m)
        for r in regionprops(label(m)):
            if r.area < 30 or _region_touches_border(r, N) or r.solidity < 0.9:
                continue  # crossings (non-convex) and rods cut by the FOV edge are not single rods
            lam = r.inertia_tensor_eigvals
            ratios.append(lam[0] / lam[1])
    assert len(ratios) >= 8
    assert min(ratios) > 4.0  # inertia ratio (L/w)² of every single rod
    assert crossing >= 10  # some rods run past the FOV edge


def test_zoomed_rods_never_crop_to_an_empty_window():
    """Rods scattered over a zoomed canvas could all miss the centre window (1 in 125 samples
    did, which stopped a training run): the window is moved onto a rod instead."""
    from napari_irdm.train.families import rods

    for i in (109, 297, 733, 773, 775, 948):  # the indices that used to come out empty at 64²
        img = rods(i, 64)
        assert img.max() == 1.0 and (img > 0.25).mean() > 0.002


def test_supported_film_crosses_the_fov():
    for i in range(12):
        img = F.supported(i, N)
        m = img > 0.03
        lab = label(m)
        spans = [r for r in regionprops(lab) if r.bbox[1] == 0 and r.bbox[3] == N]
        assert spans, i  # one connected object runs from the left to the right edge: the film
        rows = m.sum(axis=0)
        j = int(np.argmin(rows))  # a column with the film only
        assert 2 <= rows[j] < 0.2 * N and np.median(rows) < 0.25 * N, i  # a thin band along x
        assert np.median(img[m[:, j], j]) < 0.7, i  # lighter than the particles (the brightest is 1)
        assert (m & (img > 0.55)).sum() > 20, i  # there are particles


def test_polycrystal_grains_at_their_own_orientations():
    """The power spectrum has lattice peaks where each grain's reciprocal lattice predicts them."""
    n_multi = 0
    for i in range(6):
        img, info = F.polycrystal_info(i, N)
        labels = info["labels"]
        n = img.shape[0]
        w = np.hanning(n)
        yy, xx = np.mgrid[0:n, 0:n] - n // 2
        ring = np.round(np.hypot(yy, xx)).astype(int)
        found = []
        for g, recip in enumerate(info["recip"], start=1):
            grain = ndi.gaussian_filter((labels == g) * 1.0, 1.0)
            if (labels == g).sum() < 600:
                continue
            p = np.fft.fftshift(np.abs(np.fft.fft2((img - img.mean()) * grain * np.outer(w, w))) ** 2)
            for col in range(2):
                ky, kx = recip[:, col] * n / (2 * np.pi)  # FFT pixel of the first-order reflection
                y, x = int(round(ky)) + n // 2, int(round(kx)) + n // 2
                peak = p[y - 1 : y + 2, x - 1 : x + 2].max()
                k = int(round(np.hypot(ky, kx)))
                assert peak / np.median(p[ring == k]) > 20, (i, g)
            found.append(np.rad2deg(np.arctan2(*recip[:, 0])) % info["period_deg"])
        if len(found) >= 2:
            d = np.abs(np.subtract.outer(found, found)) % info["period_deg"]
            d = np.minimum(d, info["period_deg"] - d)
            assert d[np.triu_indices(len(found), 1)].max() >= 8.0  # ≥ 2 distinct orientations
            n_multi += 1
    assert n_multi >= 4


def test_amorphous_has_no_lattice_peaks():
    poly = [_peak_ratio(F.polycrystal(i, N)) for i in range(10)]
    amor = [_peak_ratio(F.amorphous(i, N)) for i in range(10)]
    assert max(amor) < min(poly)
    assert np.median(poly) > 10 * np.median(amor)


# ------------------------------------------------------------------------ spec DR
def test_spec_dr_real_data_library():
    dr = get_spec("DR")
    assert dr is SPECS["DR"] and get_spec("dr") is dr and get_spec("d2p") is SPECS["D2'"]
    assert set(dr.sources) == set(OLD) | set(F.FAMILIES)
    assert dr.wedge_range_deg == (30.0, 120.0)
    assert all(10000 <= dr.count(s) <= 25000 for s in dr.sources)
    ws = [dr.wedge_deg(i) for i in range(300)]
    assert 30 <= min(ws) and max(ws) <= 120 and max(ws) - min(ws) > 70
    small = get_spec("DR", 0.0005)
    seen = {small.locate(i) for i in range(len(small))}
    assert len(seen) == len(small) and {s for s, _ in seen} == set(dr.sources)
    for s, k in sorted(seen):
        if k == 0 and s in F.FAMILIES:
            idx = next(i for i in range(len(small)) if small.locate(i) == (s, 0))
            img = small.image(idx, 32)
            np.testing.assert_array_equal(img, F.FAMILIES[s](0, 32))
            held = small.image(0, 32, holdout=True, source=s)
            assert small.locate_holdout(0, s) == (s, HOLDOUT_OFFSET)
            for im in (img, held):
                assert im.shape == (32, 32) and im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1
            assert not np.array_equal(img, held)


def test_spec_dr_pairs_from_families():
    """Training pairs of DR: the target is the family's image, the WBP input resembles it, wedges up to 120°."""
    from napari_irdm.train.pairs import make_pair

    dr = get_spec("DR")
    starts = dict(zip((s for s, _ in dr.counts), dr._offsets))
    for src in ("porous", "coreshell"):
        i = starts[src] + 3
        x, y = make_pair(dr, i, size=32, device="cpu")
        truth = dr.image(i, 32)
        assert np.all(np.isfinite(x)) and np.corrcoef(y.ravel(), truth.ravel())[0, 1] > 0.99
        assert np.corrcoef(x.ravel(), truth.ravel())[0, 1] > 0.3
    x, y = make_pair(dr, starts["rods"], size=32, device="cpu", wedge_deg=120.0)
    assert np.all(np.isfinite(x)) and np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.2
