"""Microscope formats through RosettaSciIO: files made with its own writers, read back with angles and pixel size."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rsciio")
pytest.importorskip("h5py")

from napari_irdm.io import is_supported, read_tilt_series  # noqa: E402


def _signal(data, *, tilt_axis=None, tilts=None, alpha=None, nm=0.5):
    axes = []
    if data.ndim == 3:
        ax = {"name": "Tilt", "size": data.shape[0], "navigate": True, "scale": 1.0, "offset": 0.0, "units": ""}
        if tilt_axis is not None:
            ax.update(offset=tilt_axis[0], scale=tilt_axis[1], units="degrees")
        axes.append(ax)
    axes += [{"name": "y", "units": "nm", "scale": nm, "offset": 0.0, "size": data.shape[-2], "navigate": False},
             {"name": "x", "units": "nm", "scale": nm, "offset": 0.0, "size": data.shape[-1], "navigate": False}]
    md = {"General": {"title": "t"}, "Signal": {"signal_type": ""}}
    if tilts is not None:
        md["Tomography"] = {"tilts": np.asarray(tilts, float)}
    if alpha is not None:
        md["Acquisition_instrument"] = {"TEM": {"Stage": {"tilt_alpha": float(alpha)}}}
    return {"data": data, "axes": axes, "metadata": md, "original_metadata": {}, "tmp_parameters": {},
            "attributes": {"_lazy": False}, "package_info": {"name": "napari-irdm", "version": "0"},
            "learning_results": {}, "models": {}}


def _stack():
    rng = np.random.default_rng(0)
    return rng.random((5, 12, 16)).astype(np.float32)


def test_hspy_tilt_axis_carries_angles(tmp_path):
    from rsciio.hspy import file_writer

    data = _stack()
    file_writer(str(tmp_path / "s.hspy"), _signal(data, tilt_axis=(-40.0, 20.0)))
    assert is_supported(tmp_path / "s.hspy")
    ts = read_tilt_series(tmp_path / "s.hspy")
    assert np.allclose(ts.tilt_angles_deg, [-40, -20, 0, 20, 40]) and "tilt axis" in ts.angle_source
    assert ts.pixel_size_A == pytest.approx(5.0) and np.array_equal(ts.data, data)
    ts_x = read_tilt_series(tmp_path / "s.hspy", tilt_axis="x")
    assert np.array_equal(ts_x.data, data.transpose(0, 2, 1))


def test_emd_metadata_tilts(tmp_path):
    from rsciio.emd import file_writer

    data = _stack()
    file_writer(str(tmp_path / "s.emd"), _signal(data, tilt_axis=(-60.0, 30.0)))
    ts = read_tilt_series(tmp_path / "s.emd")
    assert np.allclose(ts.tilt_angles_deg, [-60, -30, 0, 30, 60]) and ts.pixel_size_A == pytest.approx(5.0)
    assert np.allclose(ts.data, data)


def test_folder_of_single_images_sorted_by_stage_tilt(tmp_path):
    from rsciio.hspy import file_writer

    data = _stack()
    alphas = [30.0, -30.0, 0.0, 60.0, -60.0]
    for k, a in enumerate(alphas):
        file_writer(str(tmp_path / f"img_{k}.hspy"), _signal(data[k], alpha=a))
    ts = read_tilt_series(tmp_path)
    order = np.argsort(alphas)
    assert np.allclose(ts.tilt_angles_deg, np.sort(alphas)) and np.array_equal(ts.data, data[order])


def test_damaged_or_angle_less_files_are_one_line_value_errors(tmp_path):
    (tmp_path / "bad.dm4").write_bytes(b"not a dm4 file at all")
    with pytest.raises(ValueError) as err:
        read_tilt_series(tmp_path / "bad.dm4")
    assert "bad.dm4" in str(err.value) and "\n" not in str(err.value)
    from rsciio.hspy import file_writer

    file_writer(str(tmp_path / "n.hspy"), _signal(_stack()))
    with pytest.raises(ValueError, match="no tilt angles"):
        read_tilt_series(tmp_path / "n.hspy")
    assert read_tilt_series(tmp_path / "n.hspy", tilt_range=(-40, 40), tilt_step=20).n_tilts == 5


def test_info_summarises_an_hspy_file(tmp_path, capsys):
    from rsciio.hspy import file_writer

    from napari_irdm.cli import main

    file_writer(str(tmp_path / "s.hspy"), _signal(_stack(), tilt_axis=(-40.0, 20.0)))
    assert main(["info", str(tmp_path / "s.hspy")]) == 0
    out = capsys.readouterr().out
    assert "-40" in out and "40" in out
