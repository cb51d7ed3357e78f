"""Align widget: a drifted tiny series comes back as an aligned tilt-series layer with its transforms."""

from __future__ import annotations

import numpy as np
import pytest


def test_align_widget_adds_aligned_layer(make_napari_viewer, plugin_widget, qtbot, wait_worker):
    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data
    from napari_irdm.align import Transforms, apply_transforms
    from napari_irdm.data import TiltSeries
    from napari_irdm.tomo import ParallelProjector

    rng = np.random.default_rng(0)
    n = 32
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = sum(np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / 3.0)
              for c in rng.uniform(-8, 8, (6, 3))).astype(np.float32)
    angles = np.arange(-60.0, 60.1, 5.0)
    ideal = ParallelProjector(angles, vol.shape).forward(vol)
    d = rng.normal(0, 2, (angles.size, 2))
    raw = apply_transforms(ideal, Transforms.from_parameters(-d, 0.0, angles))
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*series_layer_data(TiltSeries(raw, angles, pixel_size_A=2.0), name="raw")))
    w = plugin_widget(viewer, "Align")
    w.method.value = "com"
    w.levels.value = "1"
    w.refine_rotation.value = False
    worker = w.run()
    assert wait_worker(worker, timeout=300_000) == "done"
    out = viewer.layers["raw aligned"]
    assert out.metadata["kind"] == "tilt_series" and len(out.metadata["xf"]) == angles.size
    assert np.allclose(out.scale[1:], 2.0)
    # the aligned series is closer to the ideal one than the raw series (up to specimen motion)
    err_raw = np.abs(raw - ideal).mean()
    assert np.abs(np.asarray(out.data) - ideal).mean() < err_raw
    # the report is shown in the dock: shifts, residuals and before/after WBP slices
    assert w.report_label.isVisible() or not w.native.isVisible()
    assert not w.report_label.pixmap().isNull() and w.report_label.pixmap().height() > 200
    # the fitted tilt axis is drawn on the raw 0° image, and the slider is there: its two ends
    # map (through that image's fitted transform) onto the aligned frame's centre column
    [axis] = [lyr for lyr in viewer.layers if lyr.metadata.get("kind") == "tilt_axis"]
    assert axis.metadata["source_layer"] == "raw" and viewer.layers["raw"].visible and not out.visible
    k0 = int(np.argmin(np.abs(angles)))
    assert np.allclose(axis.data[0][:, 0], k0)
    m = np.asarray(out.metadata["xf"])[k0]
    a, dxy = m[:4].reshape(2, 2), m[4:]
    for row, col in axis.data[0][:, 1:]:
        xa = a @ np.array([col - (n - 1) / 2, row - (n - 1) / 2]) + dxy
        assert abs(xa[0]) < 1e-6
    assert abs(axis.data[0][0, 1] - axis.data[0][1, 1]) > 0.8 * n  # it spans the image
    assert viewer.dims.point[0] == pytest.approx(out.translate[0] + k0 * out.scale[0])
    # preprocessing section: exclude, crop and bin before aligning, recorded in the provenance
    w.layer.value = viewer.layers["raw"]
    w.exclude.value = "0,1"
    w.crop.value = "2:30,1:31"
    w.background.value = True
    worker = w.run()
    assert wait_worker(worker, timeout=300_000) == "done"
    [out2] = [lyr for lyr in viewer.layers if lyr.name.startswith("raw aligned") and lyr is not out]
    assert out2.data.shape == (angles.size - 2, 28, 30) and np.allclose(out2.scale[1:], 2.0)
    prov = " | ".join(out2.metadata["provenance"])
    assert "excluded images 0,1" in prov and "cropped rows 2:30" in prov and "5th percentile" in prov
    [axis] = [lyr for lyr in viewer.layers if lyr.metadata.get("kind") == "tilt_axis"]
    assert np.allclose(axis.data[0][:, 0], k0)  # image k0 of the raw layer (k0 - 2 of the kept ones)
    assert np.all(axis.data[0][:, 2] > 1) and np.all(axis.data[0][:, 2] < 31)  # inside the cropped columns


def test_align_widget_bad_input_is_one_line(make_napari_viewer, plugin_widget, monkeypatch):
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda m: shown.append(m))
    viewer = make_napari_viewer()
    w = plugin_widget(viewer, "Align")
    assert w.run() is None and len(shown) == 1 and "\n" not in shown[0]


def test_align_widget_finds_a_turned_axis_or_warns(make_napari_viewer, plugin_widget, wait_worker):
    """Beads with the tilt axis turned 40° in the images: a warning at the default ±3°, found at ±90°."""
    import re
    import sys
    from pathlib import Path

    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data
    from napari_irdm.data import TiltSeries

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "align"))
    from _spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="beads", seed=4, dose=200.0, phi=40.0, centre=1.0)
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*series_layer_data(TiltSeries(raw, angles), name="turned")))
    w = plugin_widget(viewer, "Align")
    w.method.value, w.levels.value = "com", "1"
    assert wait_worker(w.run(), timeout=300_000) == "done"
    found = re.search(r"fits much better ([+-]\d+)°", w.axis_warning)
    assert found is not None and abs(int(found.group(1)) - 40) <= 2, w.axis_warning
    w.layer.value = viewer.layers["turned"]
    w.axis_range.value = 90.0
    w.axis_warning = ""
    assert wait_worker(w.run(), timeout=300_000) == "done"
    [*_, out] = [lyr for lyr in viewer.layers if lyr.name.startswith("turned aligned")]
    m = np.asarray(out.metadata["xf"])
    phi = np.rad2deg(np.arctan2(m[:, 1], m[:, 0])).mean()  # A = R(-φ): A12 = sin φ
    assert abs(phi - 40.0) <= 0.3 and w.axis_warning == ""


def test_align_widget_warns_of_a_damaged_image(make_napari_viewer, plugin_widget, wait_worker):
    """A frame that jumped and turned over is named (as an index of the raw layer) after aligning."""
    import sys
    from pathlib import Path

    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data
    from napari_irdm.data import TiltSeries

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "align"))
    from _spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="blobs", seed=1, dose=200.0, phi=-1.5, centre=-2.5)
    raw[20] = np.roll(raw[20], 20, axis=1)[::-1]
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*series_layer_data(TiltSeries(raw, angles), name="damaged")))
    w = plugin_widget(viewer, "Align")
    w.method.value, w.levels.value, w.exclude.value = "com", "2,1", "3"
    assert wait_worker(w.run(), timeout=300_000) == "done"
    assert w.image_warning.startswith("image(s) 20 of damaged re-project far worse"), w.image_warning
