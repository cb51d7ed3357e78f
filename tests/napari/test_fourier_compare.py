"""Fourier inspector (Bragg circles on a synthetic lattice) and the Compare layout."""

from __future__ import annotations

import numpy as np
import pytest

N, PX, A = 48, 0.5, 4.0  # 48³ box of 0.5 Å voxels, fcc a = 4 Å: (200) lies 12 voxels from the centre
TILT = 60.0


def fcc_lattice_with_wedge(n=N, px=PX, a=A, sigma=0.35, tilt=TILT) -> np.ndarray:
    """fcc lattice of Gaussian atoms (identity orientation), Fourier data in the missing wedge removed."""
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    m = int(np.ceil(n * px / a)) + 1
    cells = np.stack(np.meshgrid(*[np.arange(-m, m + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = ((cells[:, None, :] + basis[None]) * a).reshape(-1, 3)  # (x, y, z) Å from the centre
    pos = pos[np.all(np.abs(pos) < n * px / 2 - 1.0, axis=1)]
    grid = (np.arange(n) - (n - 1) / 2) * px
    g = [np.exp(-((grid[None, :] - pos[:, i: i + 1]) ** 2) / (2 * sigma**2)) for i in range(3)]
    vol = np.einsum("az,ay,ax->zyx", g[2], g[1], g[0])
    f = np.fft.fftn(vol)
    kz = np.fft.fftfreq(n)[:, None, None]
    kx = np.fft.fftfreq(n)[None, None, :]
    wedge = np.abs(kz) > np.abs(kx) * np.tan(np.deg2rad(tilt)) + 1e-9  # the missing wedge around kz
    f *= ~np.broadcast_to(wedge, f.shape)
    return np.real(np.fft.ifftn(f)).astype(np.float32)


@pytest.fixture
def lattice_viewer(make_napari_viewer):
    from napari.layers import Layer

    from napari_irdm._napari._layers import volume_layer_data
    from napari_irdm.data import Volume

    viewer = make_napari_viewer()
    vol = Volume(fcc_lattice_with_wedge(), pixel_size_A=PX, tilt_angles_deg=np.arange(-TILT, TILT + 1, 3.0))
    layer = viewer.add_layer(Layer.create(*volume_layer_data(vol, name="lattice")))
    return viewer, layer


def _expected_kx_kz_positions(a=A, n=N, px=PX, g_max=1.0):
    """(row, col) = centre + (l, h) / a · n · px of the allowed fcc reflections (h, 0, l)."""
    out = set()
    for h in range(-4, 5):
        for l in range(-4, 5):  # noqa: E741
            if (h, l) == (0, 0) or (h % 2) or (l % 2) or np.hypot(h, l) / a > g_max:
                continue  # fcc with k = 0: h and l even
            out.add((n // 2 + l / a * n * px, n // 2 + h / a * n * px))
    return out


def test_bragg_circles_land_on_lattice_spots(plugin_widget, lattice_viewer, qtbot, wait_worker):
    from napari_irdm._napari._widgets.fourier import DETECTED_COLOR, MISSING_COLOR

    viewer, layer = lattice_viewer
    w = plugin_widget(viewer, "Fourier inspector")
    w.layers.value = [layer]
    assert w.reference.value == "lattice preset"
    w.a_A.value = A
    w.crystal_orientation.value = "identity"
    w.snr.value = 2.5  # the (202) peak of this small box has an SNR of 3.0 exactly
    assert wait_worker(w.run()) == "done"
    section = viewer.layers["lattice kx-kz"]
    points = viewer.layers["lattice Bragg kx-kz"]
    assert section.data.shape == (N, N) and tuple(section.scale) == pytest.approx((PX, PX))
    assert tuple(points.scale) == tuple(section.scale) and tuple(points.translate) == tuple(section.translate)
    expected = _expected_kx_kz_positions()
    pos = np.asarray(points.data)
    assert len(pos) >= 4
    for p in pos:  # every circle sits exactly on a reflection of the lattice
        assert min(np.hypot(*(p - np.array(e))) for e in expected) < 1e-3, p
    img = np.asarray(section.data)
    detected = np.asarray(points.features["detected"], bool)
    colors = np.asarray(points.border_color)
    for p, det, col in zip(pos, detected, colors):
        r, c = np.round(p).astype(int)
        angle = np.degrees(np.arctan2(abs(r - N // 2), abs(c - N // 2)))  # from kx
        assert det == (angle < TILT), (p, det)  # wedge spots were removed from the data
        np.testing.assert_allclose(col[:3], np.array(_rgb(DETECTED_COLOR if det else MISSING_COLOR)), atol=0.01)
        if det:  # and the spectrum peaks under the circle
            patch = img[r - 2: r + 3, c - 2: c + 3]
            assert np.unravel_index(np.argmax(patch), patch.shape) == (2, 2)
    assert {"200", "202"} <= set(points.features["family"]) or {"200", "220"} <= set(points.features["family"])
    # wedge boundary lines at ±60° from kx
    wedge = viewer.layers["lattice wedge"]
    slopes = sorted(np.degrees(np.arctan2(ln[1, 0] - ln[0, 0], ln[1, 1] - ln[0, 1])) for ln in wedge.data)
    np.testing.assert_allclose(slopes, [-TILT, TILT], atol=1e-6)
    # table: one row per family (detected/expected per region), then the information limit per region
    rows = w.table.data.to_list()
    assert "200" in [r[1] for r in rows]
    [lim] = [r for r in rows if r[1] == "info limit"]
    rep = w.results[0]["report"]
    assert lim[3] == f"{rep.information_limit('measured'):.2f} Å"
    assert lim[4] == "none" and rep.information_limit("wedge") is None  # wedge spots were removed
    # every column fits: no horizontal scrolling in the dock
    assert w.table.native.horizontalScrollBar().maximum() == 0 or not w.table.native.isVisible()
    # |k| and d under the cursor in the status bar, at the (200) spot (row c, col c + 12)
    world = np.array(section.data_to_world((N // 2, N // 2 + 12)))
    status = section.get_status(np.concatenate([[0.0], world]), world=True)
    assert "d = 2.000 Å" in status["coordinates"], status


def _rgb(hex_color: str):
    return [int(hex_color[i: i + 2], 16) / 255 for i in (1, 3, 5)]


def test_unknown_orientation_draws_rings_at_family_spacings(plugin_widget, lattice_viewer, qtbot, wait_worker):

    viewer, layer = lattice_viewer
    w = plugin_widget(viewer, "Fourier inspector")
    w.layers.value = [layer]
    w.a_A.value = A
    w.crystal_orientation.value = "unknown"
    assert wait_worker(w.run()) == "done"
    n_layers = len(viewer.layers)
    assert wait_worker(w.run()) == "done"  # a re-run refreshes its layers instead of piling them up
    assert len(viewer.layers) == n_layers
    rings = viewer.layers["lattice rings kx-kz"]
    fams = list(rings.features["family"])
    assert "200" in fams
    ell = rings.data[fams.index("200")]
    radius_px = (ell[:, 1].max() - ell[:, 1].min()) / 2
    assert radius_px == pytest.approx(0.5 * N * PX, abs=1e-6)  # |g| = 1/d = 0.5 1/Å → 12 voxels


def test_compare_lays_out_grid_with_spectra(plugin_widget, make_napari_viewer, tiny_series, qtbot, wait_worker):
    from napari.layers import Layer

    from napari_irdm._napari._layers import volume_layer_data
    from napari_irdm.data import Volume
    from napari_irdm.tomo import wbp

    data, angles, phantom = tiny_series
    viewer = make_napari_viewer()
    viewer.add_image(data, name="series", metadata={"kind": "tilt_series"})
    for name, vol in (("ground truth", phantom), ("WBP", wbp(data, angles)), ("IRDM", phantom * 0.9)):
        viewer.add_layer(Layer.create(*volume_layer_data(Volume(vol, 0.5, angles), name=name)))
    w = plugin_widget(viewer, "Compare")
    assert [lyr.name for lyr in w.chosen()] == ["WBP", "IRDM", "ground truth"]
    assert wait_worker(w.run()) == "done"
    grid = viewer.canvas.grid
    assert grid.enabled and grid.stride == 2 and tuple(grid.shape) == (2, 3)
    names = [lyr.name for lyr in viewer.layers][:12]
    assert names[0::2][:3] == ["WBP", "IRDM", "ground truth"]
    assert names[6::2] == ["WBP spectrum", "IRDM spectrum", "ground truth spectrum"]
    assert not viewer.layers["series"].visible
    for name in ("WBP", "IRDM", "ground truth"):  # spectra on the volume's pixel grid, beneath it
        spec = viewer.layers[f"{name} spectrum"]
        assert tuple(spec.scale) == tuple(viewer.layers[name].scale)
        assert grid.position(viewer.layers.index(spec), viewer.layers)[0] == 1
        assert grid.position(viewer.layers.index(viewer.layers[name]), viewer.layers)[0] == 0
    assert tuple(viewer.dims.order) == (1, 0, 2)  # xz: perpendicular to the tilt axis
    assert viewer.dims.point[1] == pytest.approx(16 * 0.5)
    w.plane.value = "xy"
    assert tuple(viewer.dims.order) == (0, 1, 2)
    w.ungrid()
    assert not grid.enabled


def test_fourier_inspector_fits_an_hcp_crystal_from_its_preset(plugin_widget, make_napari_viewer, tmp_path,
                                                               wait_worker):
    """File ▸ Open a simulated hcp Co particle (random orientation), Plugins ▸ Fourier inspector with the
    Co preset and the orientation unknown: the orientation is fitted and hcp families are counted;
    the CIF choice swaps the lattice-constant field for a file field and refuses to run without a file."""
    from napari_irdm.cli import main

    out = tmp_path / "co"
    assert main(["simulate", "Co", "-o", str(out), "--size-nm", "2", "--pixel-size", "0.3", "--box", "72",
                 "--orientation", "random", "--seed", "4", "--tilt-range", "-60", "60", "--tilt-step", "3",
                 "--shape", "sphere"]) == 0
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(out / "truth_volume.mrc"), plugin="napari-irdm")
    w = plugin_widget(viewer, "Fourier inspector")
    w.layers.value = [layer]
    w.preset.value = "Co (hcp, 2.507 / 4.070 Å)"
    assert w.a_A.value == pytest.approx(2.507)
    w.crystal_orientation.value = "unknown"
    assert wait_worker(w.run(), 120_000) == "done"
    rep = w.results[0]["report"]
    assert rep.orientation_fitted is not None and rep.orientation_fitted["n_matched"] >= 10
    fams = [r[1] for r in w.table.data.to_list()]
    assert {"100", "002", "101"} <= set(fams)
    shown = [w.table.native.item(i, 1).text() for i in range(w.table.native.rowCount())]
    assert "002" in shown and "004" in shown, shown  # labels stay text: not read as the numbers 2 and 4
    nat = w.table.native
    i002 = shown.index("002")
    delegate = nat.itemDelegateForColumn(1)
    assert delegate is not None and delegate.displayText(nat.item(i002, 1).data(0), nat.locale()) == "002"
    for region in ("measured", "wedge"):  # the truth has its reflections in both regions
        e, d = rep.counts(region)
        assert e > 10 and d >= 0.8 * e, (region, e, d)
    w.preset.value = "from a CIF file"
    assert not w.cif.native.isHidden() and w.a_A.native.isHidden()
    with pytest.raises(ValueError, match="no CIF file chosen"):
        w._reference_kwargs()
