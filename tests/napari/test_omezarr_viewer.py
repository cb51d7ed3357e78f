"""OME-Zarr volumes in napari: opened lazily and multiscale; the Fourier inspector on a sub-volume."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.io.omezarr import write_omezarr


def test_omezarr_opens_lazily_and_multiscale(make_napari_viewer, tmp_path):
    import dask.array as da

    from napari_irdm._napari._omezarr import napari_get_reader

    vol = np.random.default_rng(0).random((64, 80, 72), dtype=np.float32)
    p = write_omezarr(tmp_path / "v.zarr", vol, pixel_size_A=2.0, tilt_angles_deg=[-60.0, 0.0, 60.0], chunk_y=16)
    assert napari_get_reader(str(tmp_path / "nothing.zarr")) is None
    (tmp_path / "plain.zarr").mkdir()
    assert napari_get_reader(str(tmp_path / "plain.zarr")) is None  # not OME-Zarr: declined, no error
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(p), plugin="napari-irdm")
    assert layer.multiscale and len(layer.data) == 2
    assert all(isinstance(level, da.Array) for level in layer.data)  # nothing loaded into memory
    assert tuple(layer.scale) == pytest.approx((2.0, 2.0, 2.0))
    assert layer.metadata["pixel_size_A"] == 2.0 and layer.metadata["tilt_angles_deg"] == [-60.0, 0.0, 60.0]
    np.testing.assert_array_equal(np.asarray(layer.data[0][10:12]), vol[10:12])


def test_fourier_inspector_on_a_sub_volume_of_a_lazy_volume(plugin_widget, make_napari_viewer, tmp_path, qtbot,
                                                          wait_worker):
    from test_fourier_compare import PX, TILT, fcc_lattice_with_wedge

    vol = fcc_lattice_with_wedge(n=64)
    p = write_omezarr(tmp_path / "lat.zarr", vol, pixel_size_A=PX, tilt_angles_deg=np.arange(-TILT, TILT + 1, 3.0),
                      chunk_y=16)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(p), plugin="napari-irdm")
    assert layer.multiscale
    w = plugin_widget(viewer, "Fourier inspector")
    w.layers.value = [layer]
    w.a_A.value = 4.0
    w.crystal_orientation.value = "identity"
    w.region.value = "8:56, 8:56, 8:56"
    assert wait_worker(w.run()) == "done"
    section = viewer.layers["lat kx-kz"]
    assert section.data.shape == (48, 48)  # the spectrum of the 48³ sub-volume only
    assert any(bool(d) for d in viewer.layers["lat Bragg kx-kz"].features["detected"])
    w.region.value = "0:10, 0:10"  # a bad region: one-line notification, no worker
    assert w.run() is None
