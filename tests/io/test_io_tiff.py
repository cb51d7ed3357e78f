"""TIFF / ImageJ reading and writing."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_irdm import TiltSeries
from napari_irdm.io import read_tilt_series, read_volume, write_tilt_series, write_volume


def test_volume_round_trip_imagej(tmp_path, rng):
    data = rng.normal(size=(5, 6, 7)).astype(np.float32)
    out = write_volume(tmp_path / "v.tif", data, pixel_size_A=3.36, provenance=["SIRT 50 it"],
                       tilt_angles_deg=[-60, 0, 60])
    back = read_volume(out)
    np.testing.assert_array_equal(back.data, data)
    assert back.pixel_size_A == pytest.approx(3.36)
    np.testing.assert_array_equal(back.tilt_angles_deg, [-60, 0, 60])
    assert back.provenance == ("SIRT 50 it",)
    # what Fiji sees: an ImageJ hyperstack in nm with 1/pixel resolution
    with tifffile.TiffFile(out) as tif:
        assert tif.is_imagej
        assert tif.imagej_metadata["unit"] == "nm"
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.336)
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.336, rel=1e-6)
        assert tif.series[0].shape == (5, 6, 7)


def test_foreign_imagej_tiff_units(tmp_path, rng):
    data = rng.integers(0, 1000, size=(4, 6, 6)).astype(np.uint16)
    p = tmp_path / "fiji.tif"
    tifffile.imwrite(p, data, imagej=True, resolution=(1 / 0.002, 1 / 0.002), metadata={"unit": "micron"})
    ts = read_tilt_series(p, tilt_angles_deg=[-3, -1, 1, 3])
    assert ts.pixel_size_A == pytest.approx(20.0)
    np.testing.assert_array_equal(ts.data, data.astype(np.float32))  # unsigned: no offset touched


def test_plain_tiff_has_no_pixel_size(tmp_path, rng):
    p = tmp_path / "plain.tiff"
    tifffile.imwrite(p, rng.random((3, 5, 5)).astype(np.float32), photometric="minisblack")  # no physical unit
    assert read_volume(p).pixel_size_A is None


def test_hyperstack_singleton_axes_squeezed(tmp_path, rng):
    data = rng.random((4, 1, 5, 6)).astype(np.float32)
    p = tmp_path / "h.tif"
    tifffile.imwrite(p, data, imagej=True, metadata={"axes": "TZYX"})
    assert read_volume(p).data.shape == (4, 5, 6)


def test_tilt_series_tiff_round_trip(tmp_path, series_data):
    ts = TiltSeries(data=series_data, tilt_angles_deg=np.arange(7) * 10.0 - 30, pixel_size_A=1.25)
    out = write_tilt_series(tmp_path / "s.tif", ts)
    (tmp_path / "s.rawtlt").unlink()
    back = read_tilt_series(out)  # angles from the file's own metadata
    np.testing.assert_array_equal(back.tilt_angles_deg, ts.tilt_angles_deg)
    assert back.angle_source == "napari-irdm TIFF metadata"
    assert back.pixel_size_A == pytest.approx(1.25)


def test_bad_tiffs(tmp_path, rng):
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match=r"rgb\.tif has colour channels"):
        read_volume(rgb)
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match=r"flat\.tif holds 2-D data"):
        read_volume(flat)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(flat.read_bytes()[:20])
    with pytest.raises(ValueError, match=r"broken\.tif"):
        read_volume(broken)
    notiff = tmp_path / "text.tif"
    notiff.write_text("hello")
    with pytest.raises(ValueError, match=r"text\.tif is not a TIFF"):
        read_volume(notiff)
