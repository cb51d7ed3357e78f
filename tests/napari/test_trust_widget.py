"""Plugins > Trust report: the validate report of a volume, opened and run as a user does."""

from __future__ import annotations

import numpy as np
import pytest


def test_trust_report_of_a_wbp_volume_equals_the_core_report(make_napari_viewer, plugin_widget, series_file,
                                                             tiny_series, wait_worker):
    from napari_irdm.analysis.validate import validate

    data, angles, _ = tiny_series
    viewer = make_napari_viewer()
    [series] = viewer.open(str(series_file), plugin="napari-irdm")
    rec = plugin_widget(viewer, "Reconstruct")
    assert wait_worker(rec.run()) == "done"
    wbp = viewer.layers["WBP"]

    trust = plugin_widget(viewer, "Trust report")
    assert trust.volume.value is wbp and trust.series.value is series
    assert trust._settings(wbp)["method"] == "wbp"  # read from the layer: each half is a WBP too
    assert wait_worker(trust.run(), timeout=120_000) == "done"
    got = trust.report
    want = validate(np.asarray(wbp.data), data, angles, method="wbp", pixel_size_A=0.5, device="cpu")
    for name in ("all", "x", "y", "z"):
        np.testing.assert_allclose(got.fsc[name].fsc, want.fsc[name].fsc, rtol=1e-5, atol=1e-6)
        assert got.fsc[name].resolution_A == pytest.approx(want.fsc[name].resolution_A)
    np.testing.assert_allclose(got.reprojection_residual, want.reprojection_residual, rtol=1e-5)
    assert len(got.reprojection_residual) == len(angles)
    # the ±60° series misses a 60° wedge: WBP leaves energy there but less than the wedge's share
    assert 0.0 < got.wedge_energy_fraction < got.wedge_voxel_fraction
    assert not trust.summary.native.isHidden() and "even/odd" in trust.summary.value
    assert not trust.plot_label.isHidden() and not trust.plot_label.pixmap().isNull()


def test_trust_report_refuses_a_mismatched_series_in_one_line(make_napari_viewer, plugin_widget, tiny_series,
                                                              monkeypatch):
    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data, volume_layer_data
    from napari_irdm._napari._widgets import trust as trust_mod
    from napari_irdm.data import TiltSeries, Volume

    data, angles, _ = tiny_series
    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*series_layer_data(TiltSeries(data=data[:, :16], tilt_angles_deg=angles))))
    viewer.add_layer(Layer.create(*volume_layer_data(Volume(data=np.zeros((32, 32, 32), np.float32)), name="v")))
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    trust = plugin_widget(viewer, "Trust report")
    assert isinstance(trust, trust_mod.TrustWidget)
    assert trust.run() is None
    assert len(shown) == 1 and "differ in (ny, nx)" in shown[0] and "\n" not in shown[0]
