"""Sources, dataset specs (Supplementary Table 1) and pairs: determinism and physics."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.geometry import angles_on_grid as tilt_angles
from napari_irdm.train.library import HOLDOUT_OFFSET, SPECS, get_spec
from napari_irdm.train.pairs import PairOptions, geometry, make_batch, make_pair
from napari_irdm.train.sources import SOURCES


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_sources_deterministic_and_in_unit_range(name):
    fn = SOURCES[name]
    a, b, c = fn(3, 32), fn(3, 32), fn(4, 32)
    assert a.shape == (32, 32) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() > 0.5  # uses the range
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_specs_match_supplementary_table_1():
    table = {  # dataset: (phantom, MGH, NBIA, ImageNet, sum, wedge range)
        "D1": (45000, 0, 0, 0, 45000, (40, 60)),
        "D2": (25000, 10000, 10000, 0, 45000, (40, 60)),
        "D2'": (25000, 10000, 10000, 0, 45000, (40, 80)),
        "D3": (25000, 10000, 10000, 10000, 55000, (40, 60)),
        "D4": (25000, 10000, 10000, 10000, 55000, (45, 55)),
        "D5": (25000, 10000, 10000, 10000, 55000, (47.5, 52.5)),
        "D6": (25000, 10000, 10000, 10000, 55000, (35, 65)),
    }
    for name, (ph, mgh, nbia, nat, total, wr) in table.items():
        s = SPECS[name]
        assert (s.count("phantom"), s.count("mgh"), s.count("nbia"), s.count("natural")) == (ph, mgh, nbia, nat)
        assert len(s) == total and s.wedge_range_deg == wr
    da = SPECS["DA"]
    assert da.count("atomic") > 0 and da.wedge_range_deg[0] <= 35 and da.wedge_range_deg[1] >= 80
    assert get_spec("d2p") is SPECS["D2'"]
    small = get_spec("D2", 0.001)
    assert len(small) == 45 and small.count("mgh") == 10
    with pytest.raises(ValueError, match="unknown dataset"):
        get_spec("D9")


def test_index_mapping_and_holdout_disjoint():
    s = get_spec("D3", 0.01)
    seen = [s.locate(i) for i in range(len(s))]
    assert len(set(seen)) == len(s)  # every index a distinct (source, source_index)
    assert {src for src, _ in seen} == {"phantom", "mgh", "nbia", "natural"}
    assert max(k for _, k in seen) < HOLDOUT_OFFSET
    src, k = s.locate_holdout(5)
    assert k >= HOLDOUT_OFFSET and src in s.sources
    ws = [s.wedge_deg(i) for i in range(200)]
    assert 40 <= min(ws) and max(ws) <= 60 and np.std(ws) > 3  # spread over the range


def test_geometry_and_angles():
    opts = PairOptions(size=32, asymmetric=True)
    s = get_spec("DA")
    for i in range(20):
        w, lo, hi, st = geometry(s, i, opts)
        assert hi - lo == pytest.approx(180 - w) and -90 <= lo and hi <= 90
        ang = tilt_angles(lo, hi, st)
        assert ang[0] == pytest.approx(lo) and ang[-1] == pytest.approx(hi)
        assert np.all(np.diff(ang) > 0) and np.max(np.diff(ang)) <= st + 1e-9


def test_pairs_deterministic_and_independent_of_batch():
    x1, y1 = make_pair("D2", 7, size=32, device="cpu")
    x2, y2 = make_pair("D2", 7, size=32, device="cpu")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    b = make_batch("D2", [3, 7, 11], PairOptions(size=32), device="cpu")
    np.testing.assert_allclose(b.inputs[1, 0].numpy(), x1, atol=1e-5)
    np.testing.assert_allclose(b.targets[1, 0].numpy(), y1, atol=1e-6)
    # noise is per index too
    o = PairOptions(size=32, noise=0.05)
    n1 = make_batch("D2", [7], o, device="cpu").inputs[0]
    n2 = make_batch("D2", [2, 7], o, device="cpu").inputs[1]
    np.testing.assert_allclose(n1.numpy(), n2.numpy(), atol=1e-5)
    assert not np.allclose(n1.numpy(), x1, atol=1e-3)


def test_pair_matches_wbp_of_projector():
    from napari_irdm.tomo import ParallelProjector, wbp

    spec = get_spec("D1")
    opts = PairOptions(size=32, oversample=1)
    b = make_batch(spec, [5], opts, device="cpu")
    _w, lo, hi, st = geometry(spec, 5, opts)
    ang = tilt_angles(lo, hi, st)
    truth = b.truth[0].numpy()
    sino = ParallelProjector(ang, (32, 1, 32)).forward(truth[:, None, :])
    ref = wbp(sino, ang)[:, 0, :]
    np.testing.assert_allclose(b.wbp[0].numpy(), ref, atol=1e-4)


def test_wbp_artefacts_lie_in_the_missing_wedge():
    """The error of the WBP input has its Fourier energy in the wedge around kz (rows)."""
    spec = get_spec("D1")
    b = make_batch(spec, list(range(6)), PairOptions(size=64), wedge_deg=60.0, device="cpu")
    err = (b.wbp - b.truth).numpy()
    spec2 = np.abs(np.fft.fftshift(np.fft.fft2(err), axes=(-2, -1))) ** 2
    k = np.fft.fftshift(np.fft.fftfreq(64))
    kz, kx = np.meshgrid(k, k, indexing="ij")
    ang = np.degrees(np.arctan2(np.abs(kz), np.abs(kx)))  # 0 along kx, 90 along kz
    r = np.hypot(kz, kx)
    ring = (r > 0.05) & (r < 0.45)
    wedge = ring & (ang > 90 - 30 + 3)  # directions more than 60° from kx
    measured = ring & (ang < 90 - 30 - 3)
    e_w = spec2[:, wedge].mean()
    e_m = spec2[:, measured].mean()
    assert e_w > 8 * e_m
    # and the input is the truth where measured: WBP error small relative to the truth there
    tspec = np.abs(np.fft.fftshift(np.fft.fft2(b.truth.numpy()), axes=(-2, -1))) ** 2
    assert e_m < 0.1 * tspec[:, measured].mean()


def test_oversampled_projection_conserves_mass_and_is_close():
    import torch

    from napari_irdm.train.pairs import project_batch

    img = torch.as_tensor(get_spec("D1").image(2, 32))[None]
    grid = np.array([-60.0, -17.5, 0.0, 33.0, 71.0])
    s1 = project_batch(img, grid, 1, "cpu")
    s2 = project_batch(img, grid, 2, "cpu")
    np.testing.assert_allclose(s2.sum(dim=1).numpy(), s1.sum(dim=1).numpy(), rtol=1e-4)  # same mass per angle
    rel = float((s2 - s1).norm() / s1.norm())
    assert 1e-4 < rel < 0.1  # a different (finer) discretisation of the same line integrals
