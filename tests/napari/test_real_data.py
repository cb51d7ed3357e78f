"""The shared NIST needle (HAADF-STEM, tilt axis along x) through the reader and the Reconstruct widget.

Skipped when ../shared/data is absent (a user's clone).
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.shared_data
def test_needle_opens_and_reconstructs_with_tilt_axis_x(plugin_widget, shared_data, make_napari_viewer, qtbot, wait_worker):

    folder = shared_data / "etspy-needle-haadf"
    viewer = make_napari_viewer()
    [raw] = viewer.open(str(folder / "HAADF.mrc"), plugin="napari-irdm")
    md = raw.metadata
    assert md["kind"] == "tilt_series" and raw.data.shape == (77, 256, 256)
    assert md["pixel_size_A"] == pytest.approx(33.6, rel=0.01)  # FEI extended header
    assert tuple(raw.scale) == pytest.approx((md["pixel_size_A"],) * 3)
    assert abs(float(np.median(raw.data))) < 0.1 * float(np.ptp(raw.data))  # detector offset removed
    [ali] = viewer.open(str(folder / "HAADF_aligned.mrc"), plugin="napari-irdm")
    assert "rawtlt" in ali.metadata["angle_source"] and len(ali.metadata["tilt_angles_deg"]) == 77
    # 48 columns around the middle of the tilt axis (x in the file) keep the test fast
    crop = viewer.add_image(np.asarray(ali.data)[:, :, 104:152], name="needle crop", scale=ali.scale,
                            metadata=dict(ali.metadata))
    w = plugin_widget(viewer, "Reconstruct")
    w.layer.value = crop
    assert w.angles_from.value == "layer metadata"
    w.tilt_axis.value = "x"
    assert wait_worker(w.run(), timeout=120_000) == "done"
    vol = viewer.layers["WBP"]
    assert vol.data.shape == (256, 48, 256)  # (nz, ny = tilt axis, nx)
    assert tuple(vol.scale) == pytest.approx((33.6, 33.6, 33.6), rel=0.01)
    assert np.isfinite(vol.data).all() and float(np.std(vol.data)) > 0
