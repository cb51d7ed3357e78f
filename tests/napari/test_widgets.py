"""Reconstruct and IRDM widgets on tiny data: layers, scale, metadata, cancel, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_irdm._napari._widgets._runner import start_worker
from napari_irdm.progress import Progress


def _peak_zx(vol: np.ndarray) -> tuple[int, int]:
    zx = vol.sum(axis=1)
    z, x = np.unravel_index(np.argmax(zx), zx.shape)
    return int(z), int(x)


@pytest.mark.parametrize("method", ["WBP", "SIRT"])
def test_reconstruct_widget_makes_volume_layer(plugin_widget, series_layer, tiny_series, qtbot, wait_worker, method):

    viewer, layer = series_layer
    _, angles, phantom = tiny_series
    w = plugin_widget(viewer, "Reconstruct")
    assert w.layer.value is layer and w.angles_from.value == "layer metadata"
    w.method.value = method
    w.iterations.value = 15
    wait_worker(w.run())
    out = viewer.layers[method]
    assert out.data.shape == (32, 32, 32) and out.data.dtype == np.float32
    assert tuple(out.scale) == pytest.approx((0.5, 0.5, 0.5))
    md = out.metadata
    assert md["kind"] == "volume" and md["pixel_size_A"] == pytest.approx(0.5)
    np.testing.assert_allclose(md["tilt_angles_deg"], angles)
    assert f"method={method.lower()}" in md["provenance"][-1] and "tiny series" in md["provenance"][-1]
    # physics: the off-centre blob is reconstructed where it is (z = c + 6, x = c - 5)
    assert _peak_zx(np.asarray(out.data)) in {(z, x) for z in (21, 22) for x in (10, 11)}
    assert _peak_zx(phantom) in {(21, 10), (21, 11), (22, 10), (22, 11)}


def test_reconstruct_angles_from_range_and_tilt_axis_x(plugin_widget, series_layer, tiny_series, qtbot, wait_worker):
    viewer, layer = series_layer
    data, angles, _ = tiny_series
    # the same series with the tilt axis along x and no angles in the metadata
    layer2 = viewer.add_image(np.swapaxes(data, 1, 2).copy(), name="transposed", scale=(1, 0.5, 0.5))
    w = plugin_widget(viewer, "Reconstruct")
    w.layer.value = layer2
    assert w.angles_from.value == "range"
    w.tilt_start.value, w.tilt_stop.value, w.tilt_step.value = -60, 60, 3
    w.tilt_axis.value = "x"
    wait_worker(w.run())
    # the series follows the volume into the house frame (a view, no copy): one world
    np.testing.assert_array_equal(np.asarray(layer2.data), data)
    assert layer2.metadata["tilt_axis"] == "y" and "transposed" in layer2.metadata["provenance"][-1]
    w.layer.value = layer
    assert w.tilt_axis.value == "y"
    wait_worker(w.run())
    a, b = (np.asarray(lyr.data) for lyr in viewer.layers if lyr.name.startswith("WBP"))
    np.testing.assert_allclose(a, b, atol=1e-4 * float(np.abs(b).max()))
    assert viewer.layers[-2].metadata["pixel_size_A"] == pytest.approx(0.5)  # from the scale


def test_bad_input_shows_one_line_error_and_starts_nothing(plugin_widget, series_layer, monkeypatch):

    viewer, _ = series_layer
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)
    w = plugin_widget(viewer, "Reconstruct")
    w.angles_from.value = "range"
    w.tilt_start.value, w.tilt_stop.value, w.tilt_step.value = -60, 60, 2  # 61 angles for 41 images
    n = len(viewer.layers)
    assert w.run() is None
    assert len(viewer.layers) == n
    assert len(errors) == 1 and "61 tilt angles for 41 images" in errors[0] and "\n" not in errors[0]


def test_cancel_stops_long_sirt_within_a_second_and_leaves_no_layer(plugin_widget, series_layer, qtbot, wait_worker):

    viewer, _ = series_layer
    w = plugin_widget(viewer, "Reconstruct")
    w.method.value = "SIRT"
    w.iterations.value = 100000  # hours of work
    n = len(viewer.layers)
    worker = w.run()
    with qtbot.waitSignal(worker.yielded, timeout=30_000):
        pass
    qtbot.wait(200)
    assert worker.is_running
    t0 = time.perf_counter()
    w.panel.cancel()
    assert wait_worker(worker, timeout=5_000) == "cancelled"
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    qtbot.wait(50)
    assert len(viewer.layers) == n and "SIRT" not in [lyr.name for lyr in viewer.layers]
    assert not w.panel.busy and w.panel.message.value == "cancelled"


def test_worker_error_becomes_one_line_notification(make_napari_viewer, qtbot, wait_worker, monkeypatch):
    make_napari_viewer()
    errors, results = [], []
    monkeypatch.setattr("napari_irdm._napari._widgets._runner.show_error", errors.append)

    def failing():
        yield Progress(0, 2, "start")
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nlong torch traceback text")

    worker = start_worker(failing(), on_result=results.append, description="test run")
    assert wait_worker(worker) == "error"
    qtbot.wait(20)
    assert results == []
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("test run failed: out of memory")

    def fine():
        yield Progress(1, 1, "done")
        return 42

    worker = start_worker(fine(), on_result=results.append, description="ok run")
    assert wait_worker(worker) == "done"
    qtbot.wait(20)
    assert results == [42]


@pytest.fixture
def tiny_model():
    import torch

    from napari_irdm.dl.unetpp import UNetPlusPlus

    torch.manual_seed(0)
    return UNetPlusPlus(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True)


def test_inpaint_widget_with_module_and_saved_file(plugin_widget, series_layer, qtbot, wait_worker, tiny_model, tmp_path):
    from napari_irdm._napari._widgets.inpaint import FROM_FILE
    from napari_irdm.dl.inference import inpaint
    from napari_irdm.dl.registry import save_model

    viewer, _ = series_layer
    rec = plugin_widget(viewer, "Reconstruct")
    wait_worker(rec.run())
    wbp = viewer.layers["WBP"]
    w = plugin_widget(viewer, "IRDM inpaint")
    assert w.layer.value is wbp  # tilt series are not offered
    from napari_irdm._napari._widgets.inpaint import RECOMMENDED

    assert w.data_consistency.value == RECOMMENDED  # a series is open: the network-prior TV by default
    w.data_consistency.value = "none"
    w.add_model("tiny", tiny_model)
    w.batch_size.value = 16
    wait_worker(w.run())
    irdm = viewer.layers["IRDM"]
    assert tuple(irdm.scale) == pytest.approx(tuple(wbp.scale))
    assert irdm.metadata["model"] == "tiny" and irdm.metadata["kind"] == "volume"
    np.testing.assert_allclose(irdm.metadata["tilt_angles_deg"], wbp.metadata["tilt_angles_deg"])
    expected = inpaint(np.asarray(wbp.data), wbp.metadata["tilt_angles_deg"], model=tiny_model, device="cpu")
    np.testing.assert_allclose(irdm.data, expected, rtol=1e-4, atol=1e-5)
    assert "IRDM" in irdm.metadata["provenance"][-1]

    pt = save_model(tiny_model, tmp_path / "tiny.pt")
    w.model.value = FROM_FILE
    w.model_file.value = str(pt)
    w.data_consistency.value = "fourier"
    wait_worker(w.run())
    assert viewer.layers[-1].name.startswith("IRDM") and viewer.layers[-1].metadata["data_consistency"] is True
    w.nonnegative.value = True
    wait_worker(w.run())
    assert viewer.layers[-1].metadata["nonnegative"] is True and float(np.min(viewer.layers[-1].data)) >= 0.0

    # network-prior TV on the tilt-series layer: recorded for the trust report, re-projects to the data
    from napari_irdm.tomo import ParallelProjector

    series_lyr = series_layer[1]
    w.model.value = "tiny"
    w.data_consistency.value = "tv (network prior; real data)"
    w.series.value = series_lyr
    assert wait_worker(w.run(), timeout=120_000) == "done"
    tvl = viewer.layers[-1]
    assert tvl.metadata["data_consistency"] == "tv" and "data_consistency=tv" in tvl.metadata["provenance"][-1]
    b = np.asarray(series_lyr.data, np.float32)
    ang = series_lyr.metadata["tilt_angles_deg"]

    def res(v):
        v = np.ascontiguousarray(v, np.float32)
        return np.linalg.norm(ParallelProjector(ang, v.shape).forward(v) - b) / np.linalg.norm(b)

    assert res(tvl.data) < 0.5 * res(irdm.data)


def test_inpaint_widget_defaults_to_tv_once_a_series_opens(make_napari_viewer, tiny_series, plugin_widget):
    """Docked before any data: none; a tilt series opened: the recommended tv, unless the user chose."""
    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data
    from napari_irdm._napari._widgets.inpaint import RECOMMENDED
    from napari_irdm.data import TiltSeries

    data, angles, _ = tiny_series
    ts = TiltSeries(data=data, tilt_angles_deg=angles, pixel_size_A=0.5, angle_source="test")
    viewer = make_napari_viewer()
    w = plugin_widget(viewer, "IRDM inpaint")
    assert w.data_consistency.value == "none"
    viewer.add_image(np.zeros((4, 8, 8), np.float32), name="not a series")
    assert w.data_consistency.value == "none"
    viewer.add_layer(Layer.create(*series_layer_data(ts, name="s1")))
    assert w.data_consistency.value == RECOMMENDED and w.series.value is viewer.layers["s1"]
    w.data_consistency.value = "fourier"  # the user's choice stays
    viewer.add_layer(Layer.create(*series_layer_data(ts, name="s2")))
    assert w.data_consistency.value == "fourier"
    w2 = plugin_widget(make_napari_viewer(), "IRDM inpaint")
    w2.data_consistency.value = "fourier"
    w2.data_consistency.value = "none"  # chose none explicitly
    w2.viewer.add_layer(Layer.create(*series_layer_data(ts, name="s3")))
    assert w2.data_consistency.value == "none"


@pytest.mark.parametrize("name", ["Reconstruct", "IRDM inpaint", "Fourier inspector", "Compare"])
def test_any_failure_checking_inputs_is_one_line_notification(plugin_widget, series_layer, monkeypatch, name):
    """Not only ValueError: an OSError or a bug while checking inputs is one line, not a traceback toast."""
    viewer, _ = series_layer
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)
    w = plugin_widget(viewer, name)

    def broken_job(self):
        raise OSError("cannot read /data/angles.rawtlt: Input/output error\n  File ... traceback text")

    monkeypatch.setattr(type(w), "job", broken_job)
    n = len(viewer.layers)
    assert w.run() is None
    assert errors == ["cannot read /data/angles.rawtlt: Input/output error"]
    assert len(viewer.layers) == n and not w.panel.busy


def test_widget_defaults_are_the_cores_and_tv_weight_is_automatic(plugin_widget, series_layer, wait_worker):
    """One set of defaults: the widget, opened from the plugin menu, starts with the parameters of
    napari_irdm.methods for each method (which are the core's signature defaults and the CLI's,
    tests/test_methods.py), and TV chooses its weight on held-out tilts, recorded in the provenance."""
    import inspect

    from napari_irdm import tomo
    from napari_irdm.methods import FILTERS, PARAMS, TV_FIXED_WEIGHT

    viewer, _ = series_layer
    w = plugin_widget(viewer, "Reconstruct")
    assert tuple(w.filter_name.choices) == FILTERS
    for method, fn in (("WBP", tomo.wbp_iter), ("SIRT", tomo.sirt_iter), ("SART", tomo.sart_iter),
                       ("TV", tomo.tv_iter)):
        w.method.value = method
        defaults = PARAMS[method.lower()]()
        assert w._params() == defaults, method
        sig = inspect.signature(fn).parameters
        assert all(sig[k].default == v for k, v in defaults.core_kwargs().items()), method
    assert w.tv_auto.value and not w.tv_weight.visible and w.tv_weight.value == pytest.approx(TV_FIXED_WEIGHT)
    w.iterations.value = 20
    assert wait_worker(w.run(), timeout=120_000) == "done"
    line = viewer.layers["TV"].metadata["provenance"][-1]
    assert "auto: cross-validated on held-out tilts" in line
    weight = float(line.split("tv_weight=")[1].split()[0])
    assert 0 < weight <= 0.01
