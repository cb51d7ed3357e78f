"""The whole napari path as a user meets it: File > Open -> Plugins > Reconstruct -> IRDM -> Fourier -> Compare.

Every step goes through napari's plugin machinery (``viewer.open(..., plugin=...)``,
``add_plugin_dock_widget``) on a ``make_napari_viewer`` viewer; deprecations are errors
(conftest) and each step must raise no warning at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest


def _no_warnings(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        out = action()
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return out


def _shows_middle_xz_slice(viewer, layer) -> None:
    """The canvas shows ``layer``'s middle slice perpendicular to the tilt axis (y)."""
    assert viewer.dims.ndisplay == 2 and tuple(viewer.dims.order) == (1, 0, 2)
    assert tuple(viewer.dims.displayed) == (0, 2)
    ny = layer.data.shape[1]
    mid = ny // 2
    assert viewer.dims.point[1] == pytest.approx(mid * layer.scale[1])
    shown = np.asarray(layer._data_view)
    np.testing.assert_array_equal(shown, np.asarray(layer.data)[:, mid, :])
    assert layer.visible
    hidden = [lyr for lyr in viewer.layers if lyr.metadata.get("kind") == "tilt_series"]
    assert hidden and not any(lyr.visible for lyr in hidden)
    # the slider over y covers exactly the volume's y (the series shares it): no collision
    lo, hi, step = viewer.dims.range[1]
    assert lo == pytest.approx(0.0) and hi == pytest.approx((ny - 1) * layer.scale[1])


def test_reader_reconstruct_irdm_fourier_compare_through_plugins(
    make_napari_viewer, plugin_widget, series_file, tiny_series, qtbot, wait_worker
):
    import torch

    from napari_irdm.dl.unetpp import UNetPlusPlus

    _, angles, phantom = tiny_series
    viewer = make_napari_viewer()
    [series] = _no_warnings(lambda: viewer.open(str(series_file), plugin="napari-irdm"))
    assert series.metadata["kind"] == "tilt_series" and series.data.shape == (41, 32, 32)
    assert tuple(series.scale) == pytest.approx((0.5, 0.5, 0.5))

    # -- Reconstruct (Plugins > napari-irdm > Reconstruct)
    rec = _no_warnings(lambda: plugin_widget(viewer, "Reconstruct"))
    assert rec.layer.value is series and rec.angles_from.value == "layer metadata"
    assert _no_warnings(lambda: wait_worker(rec.run())) == "done"
    wbp = viewer.layers["WBP"]
    assert wbp.data.shape == (32, 32, 32) and tuple(wbp.scale) == pytest.approx((0.5, 0.5, 0.5))
    assert tuple(wbp.translate) == pytest.approx((0.0, 0.0, 0.0))
    _shows_middle_xz_slice(viewer, wbp)
    # the tilt slider stays inside the volume's z range (41 tilts centred on nz = 32)
    z_lo, z_hi, _ = viewer.dims.range[0]
    assert z_lo >= -0.25 * 41 * 0.5 and z_hi <= 31 * 0.5 + 0.25 * 41 * 0.5
    # physics: the off-centre blob shows up where it is, in the slice the user sees
    zx = np.asarray(wbp._data_view)
    z, x = np.unravel_index(np.argmax(zx), zx.shape)
    assert (int(z), int(x)) in {(a, b) for a in (21, 22) for b in (10, 11)}
    assert phantom[:, 16, :][int(z), int(x)] == 1.0

    # -- IRDM inpaint with a tiny network (the shipped one is tested elsewhere)
    inp = _no_warnings(lambda: plugin_widget(viewer, "IRDM inpaint"))
    torch.manual_seed(0)
    inp.add_model("tiny", UNetPlusPlus(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True))
    assert inp.layer.value is wbp
    assert _no_warnings(lambda: wait_worker(inp.run())) == "done"
    irdm = viewer.layers["IRDM"]
    assert tuple(irdm.scale) == pytest.approx(tuple(wbp.scale))
    np.testing.assert_allclose(irdm.metadata["tilt_angles_deg"], angles)
    _shows_middle_xz_slice(viewer, irdm)

    # -- Fourier inspector
    fourier = _no_warnings(lambda: plugin_widget(viewer, "Fourier inspector"))
    fourier.layers.value = [wbp, irdm]
    assert _no_warnings(lambda: wait_worker(fourier.run())) == "done"
    sections = [lyr for lyr in viewer.layers if lyr.metadata.get("kind") == "spectrum_section"]
    assert {lyr.metadata["source_layer"] for lyr in sections} == {"WBP", "IRDM"}
    assert all(tuple(lyr.scale) == pytest.approx((0.5, 0.5)) for lyr in sections)
    assert tuple(viewer.dims.order) == (0, 1, 2)  # sections lie in the world's (y, x) plane
    assert len(fourier.table.value["data"]) > 0

    # -- Compare
    cmp_widget = _no_warnings(lambda: plugin_widget(viewer, "Compare"))
    cmp_widget.layers.value = [wbp, irdm]
    assert _no_warnings(lambda: wait_worker(cmp_widget.run())) == "done"
    assert viewer.canvas.grid.enabled and tuple(viewer.canvas.grid.shape) == (2, 2)
    assert tuple(viewer.dims.order) == (1, 0, 2)
    assert viewer.dims.point[1] == pytest.approx(16 * 0.5)


@pytest.mark.parametrize("view", ["3D attenuated MIP", "3D iso-surface"])
def test_reconstruct_can_show_a_3d_rendering(make_napari_viewer, plugin_widget, series_file, wait_worker, view):
    viewer = make_napari_viewer()
    viewer.open(str(series_file), plugin="napari-irdm")
    rec = plugin_widget(viewer, "Reconstruct")
    rec.view.value = view
    assert wait_worker(rec.run()) == "done"
    wbp = viewer.layers["WBP"]
    assert viewer.dims.ndisplay == 3
    assert wbp.rendering == {"3D attenuated MIP": "attenuated_mip", "3D iso-surface": "iso"}[view]
    if view == "3D iso-surface":  # the level separates the blob from the background
        assert float(np.median(wbp.data)) < wbp.iso_threshold < float(np.max(wbp.data))


def test_every_manifest_widget_opens_from_the_plugins_menu(make_napari_viewer):
    """Each widget in napari.yaml opens by its menu name and gets the viewer injected."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    names = [w.display_name for w in pm.get_manifest("napari-irdm").contributions.widgets]
    assert len(names) >= 4
    viewer = make_napari_viewer()
    for name in names:
        dock, widget = _no_warnings(lambda n=name: viewer.window.add_plugin_dock_widget("napari-irdm", n))
        assert widget.viewer.layers is not None and dock is not None
