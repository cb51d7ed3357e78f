"""napari reader and writer: tilt series and volumes keep angles, pixel size and provenance."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm._napari._reader import napari_get_reader
from napari_irdm._napari._writer import write_mrc
from napari_irdm.data import TiltSeries, Volume


def _series(n_tilts=5, ny=8, nx=10, px=0.5):
    rng = np.random.default_rng(0)
    return TiltSeries(rng.random((n_tilts, ny, nx), dtype=np.float32), np.linspace(-60, 60, n_tilts),
                      pixel_size_A=px)


@pytest.mark.parametrize("suffix", [".mrc", ".st", ".tif"])
def test_reader_opens_tilt_series_with_angles_and_scale(tmp_path, suffix):
    from napari_irdm.io import write_tilt_series

    ts = _series()
    path = tmp_path / f"series{suffix}"
    write_tilt_series(path, ts)
    reader = napari_get_reader(str(path))
    assert callable(reader)
    [(data, kwargs, ltype)] = reader(str(path))
    assert ltype == "image" and data.shape == (5, 8, 10)
    np.testing.assert_allclose(data, ts.data, rtol=1e-6)
    assert kwargs["scale"] == pytest.approx((0.5, 0.5, 0.5))
    # the tilt index is centred on a default volume's z (nz = nx = 10): tilts 0..4 at z 2.5..4.5 px
    assert kwargs["translate"] == pytest.approx((0.5 * (10 - 5) * 0.5, 0.0, 0.0))
    md = kwargs["metadata"]
    assert md["kind"] == "tilt_series"
    np.testing.assert_allclose(md["tilt_angles_deg"], ts.tilt_angles_deg)
    assert md["pixel_size_A"] == pytest.approx(0.5)
    assert md["tilt_axis"] == "y" and md["angle_source"]


@pytest.mark.parametrize("suffix", [".rec", ".mrc", ".tif"])
def test_reader_opens_volumes_with_voxel_size(tmp_path, suffix):
    from napari_irdm.io import write_volume

    vol = Volume(np.random.default_rng(1).random((6, 8, 10), dtype=np.float32), pixel_size_A=0.25,
                 tilt_angles_deg=np.linspace(-70, 70, 6), provenance=("WBP test",))
    path = tmp_path / f"vol{suffix}"
    write_volume(path, vol)
    [(data, kwargs, _)] = napari_get_reader(str(path))(str(path))
    # same count of angles as slices on purpose: must still open as a volume, not a tilt series
    assert kwargs["metadata"]["kind"] == "volume"
    assert kwargs["scale"] == pytest.approx((0.25, 0.25, 0.25))
    np.testing.assert_allclose(data, vol.data, rtol=1e-6)
    assert any("WBP test" in p for p in kwargs["metadata"]["provenance"])


def test_reader_declines_foreign_files_without_raising(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.mrc").write_bytes(b"\x00" * 10)  # too short for an MRC header
    (tmp_path / "noise.tif").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "folder.mrc").mkdir()
    for name in ("notes.txt", "fake.mrc", "noise.tif", "folder.mrc", "missing.mrc"):
        assert napari_get_reader(str(tmp_path / name)) is None, name
    assert napari_get_reader([str(tmp_path / "notes.txt"), str(tmp_path / "fake.mrc")]) is None
    assert napari_get_reader(None) is None


def test_reader_function_returns_none_on_corrupt_file(tmp_path, monkeypatch):
    from napari_irdm._napari import _reader
    from napari_irdm.io import write_tilt_series

    path = tmp_path / "cut.st"
    write_tilt_series(path, _series())
    reader = napari_get_reader(str(path))
    assert reader is not None
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # truncated after the check
    (tmp_path / "cut.rawtlt").unlink()
    shown = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    assert _reader.read_layers(str(path)) is None
    assert shown and "cut.st" in shown[0] and "\n" not in shown[0]


def test_writer_round_trip_keeps_voxel_size_angles_and_provenance(tmp_path):
    from napari_irdm.io import read_tilt_series, read_volume

    vol = np.random.default_rng(2).random((6, 8, 10), dtype=np.float32)
    meta = {"name": "WBP", "scale": (0.3, 0.3, 0.3),
            "metadata": {"kind": "volume", "pixel_size_A": 0.3, "tilt_angles_deg": [-50.0, 0.0, 50.0],
                         "provenance": ("WBP by napari-irdm (filter=ramp)",)}}
    [out] = write_mrc(str(tmp_path / "wbp.mrc"), vol, meta)
    back = read_volume(out)
    assert back.pixel_size_A == pytest.approx(0.3)
    np.testing.assert_allclose(back.data, vol, rtol=1e-6)
    np.testing.assert_allclose(back.tilt_angles_deg, [-50, 0, 50])
    assert any("filter=ramp" in p for p in back.provenance)
    # a layer without metadata: the scale gives the voxel size
    [out2] = write_mrc(str(tmp_path / "plain.mrc"), vol, {"name": "x", "scale": (0.7, 0.7, 0.7), "metadata": {}})
    assert read_volume(out2).pixel_size_A == pytest.approx(0.7)

    ts = _series()
    meta_ts = {"name": "series", "scale": (1, 0.5, 0.5),
               "metadata": {"kind": "tilt_series", "pixel_size_A": 0.5,
                            "tilt_angles_deg": list(ts.tilt_angles_deg), "provenance": ()}}
    written = write_mrc(str(tmp_path / "ts.mrc"), ts.data, meta_ts)
    assert any(w.endswith(".rawtlt") for w in written)
    back_ts = read_tilt_series(tmp_path / "ts.mrc")
    np.testing.assert_allclose(back_ts.tilt_angles_deg, ts.tilt_angles_deg)
    assert back_ts.pixel_size_A == pytest.approx(0.5)
    with pytest.raises(ValueError, match="3D"):
        write_mrc(str(tmp_path / "flat.mrc"), vol[0], {"name": "flat", "metadata": {}})


def test_viewer_opens_through_plugin(make_napari_viewer, tmp_path):
    from napari_irdm.io import write_tilt_series

    path = tmp_path / "series.st"
    write_tilt_series(path, _series())
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-irdm")
    assert layer.metadata["kind"] == "tilt_series"
    assert tuple(layer.scale) == pytest.approx((0.5, 0.5, 0.5))


def test_sample_and_writer_through_the_plugin_machinery(make_napari_viewer, tmp_path):
    """File > Open Sample > napari-irdm, then File > Save Selected Layers with our writer, then File > Open."""
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-irdm", "gold_50")
    series = next(lyr for lyr in layers if lyr.metadata.get("kind") == "tilt_series")
    truth = next(lyr for lyr in layers if lyr.metadata.get("kind") == "ground_truth")
    px = series.metadata["pixel_size_A"]
    assert tuple(series.scale) == pytest.approx((px,) * 3) and tuple(truth.scale) == pytest.approx((px,) * 3)
    # the series' y/x coincide with the truth's, and its tilt index lies inside the truth's z range
    assert tuple(series.translate)[1:] == pytest.approx((0.0, 0.0))
    z0 = series.translate[0]
    assert 0 <= z0 and z0 + (series.data.shape[0] - 1) * px <= (truth.data.shape[0] - 1) * px
    viewer.layers.selection = {truth}
    out = tmp_path / "truth.mrc"
    [written] = viewer.layers.save(str(out), selected=True, plugin="napari-irdm")
    assert written == str(out)
    [back] = viewer.open(str(out), plugin="napari-irdm")
    assert back.metadata["kind"] == "volume" and tuple(back.scale) == pytest.approx((px,) * 3)
    np.testing.assert_allclose(np.asarray(back.data), np.asarray(truth.data), rtol=1e-6)


def test_microscope_format_opens_through_the_plugin(make_napari_viewer, tmp_path):
    """File > Open of a HyperSpy/etspy ``.hspy`` stack: a tilt series with the angles of its Tilt axis."""
    pytest.importorskip("rsciio")
    from rsciio.hspy import file_writer

    data = np.random.default_rng(0).random((5, 12, 16)).astype(np.float32)
    axes = [{"name": "Tilt", "size": 5, "navigate": True, "scale": 20.0, "offset": -40.0, "units": "degrees"},
            {"name": "y", "units": "nm", "scale": 0.5, "offset": 0.0, "size": 12, "navigate": False},
            {"name": "x", "units": "nm", "scale": 0.5, "offset": 0.0, "size": 16, "navigate": False}]
    signal = {"data": data, "axes": axes, "metadata": {"General": {"title": "t"}, "Signal": {"signal_type": ""}},
              "original_metadata": {}, "tmp_parameters": {}, "attributes": {"_lazy": False},
              "package_info": {"name": "napari-irdm", "version": "0"}, "learning_results": {}, "models": {}}
    path = tmp_path / "stack.hspy"
    file_writer(str(path), signal)
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-irdm")
    assert layer.metadata["kind"] == "tilt_series"
    np.testing.assert_allclose(layer.metadata["tilt_angles_deg"], [-40, -20, 0, 20, 40])
    assert layer.metadata["pixel_size_A"] == pytest.approx(5.0)
    assert tuple(layer.scale) == pytest.approx((5.0, 5.0, 5.0))
    np.testing.assert_array_equal(np.asarray(layer.data), data)


@pytest.mark.parametrize("name,ispg,kind", [("stack.mrc", 0, "tilt_series"), ("vol.mrc", 1, "volume"),
                                            ("rec.rec", 0, "volume"), ("series.st", 1, "tilt_series")])
def test_reader_reads_each_file_once_and_the_header_decides(tmp_path, monkeypatch, name, ispg, kind):
    """No exception-driven second read: one open per file; a stack without angles is a series
    layer that still needs them (the Reconstruct widget then offers a range)."""
    import mrcfile

    from napari_irdm.io import _raw

    data = np.random.default_rng(3).random((5, 6, 8), dtype=np.float32)
    path = tmp_path / name
    with mrcfile.new(path) as m:
        m.set_data(data)
        m.header.ispg = ispg
    opened = []
    real_mrc, real_tiff = _raw.open_mrc, _raw.open_tiff
    monkeypatch.setattr(_raw, "open_mrc", lambda p: opened.append(p) or real_mrc(p))
    monkeypatch.setattr(_raw, "open_tiff", lambda p: opened.append(p) or real_tiff(p))
    [(layer_data, kwargs, _)] = napari_get_reader(str(path))(str(path))
    assert len(opened) == 1
    assert kwargs["metadata"]["kind"] == kind
    np.testing.assert_array_equal(layer_data, data)
    if kind == "tilt_series":
        assert kwargs["metadata"]["tilt_angles_deg"] is None and kwargs["metadata"]["angle_source"] == "none"
