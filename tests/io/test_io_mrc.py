"""MRC reading/writing: round trips, headers (FEI, SerialEM), atomic writes, bad files."""

from __future__ import annotations

import warnings

import mrcfile
import numpy as np
import pytest
from mrcfile.dtypes import get_ext_header_dtype

import napari_irdm.io.mrc as mrc_mod
from napari_irdm import TiltSeries, Volume
from napari_irdm.io import create_volume_mrc, read_tilt_series, read_volume, write_tilt_series, write_volume
from napari_irdm.io.mrc import open_mrc


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_volume_round_trip_keeps_voxel_size_angles_provenance(tmp_path, rng):
    data = rng.normal(size=(6, 8, 5)).astype(np.float32)
    angles = np.array([-60.0, -30, 0, 30, 60, 61.5])
    prov = [f"step {i}: something with ° and Å" for i in range(14)]
    vol = Volume(data=data, pixel_size_A=0.8125, tilt_angles_deg=angles, provenance=tuple(prov[:3]))
    out = write_volume(tmp_path / "v.mrc", vol, provenance=prov[3:])
    back = read_volume(out)
    np.testing.assert_array_equal(back.data, data)
    assert back.data.dtype == np.float32
    assert back.pixel_size_A == pytest.approx(0.8125)
    np.testing.assert_array_equal(back.tilt_angles_deg, angles)
    assert back.provenance == tuple(prov)
    with mrcfile.open(out) as m:  # strict mode: a proper MRC2014 file
        assert m.header.map == b"MAP "
        assert m.data.dtype == np.float32
        assert m.voxel_size.x == pytest.approx(0.8125)
        assert m.header.dmin == pytest.approx(data.min())
        assert m.header.dmax == pytest.approx(data.max())
        assert m.header.dmean == pytest.approx(data.mean(), abs=1e-5)
        assert m.header.rms == pytest.approx(data.std(), rel=1e-4)
        labels = [lab.decode() if isinstance(lab, bytes) else lab for lab in m.get_labels()]
    assert 3 <= len(labels) <= 10
    assert all(len(lab) <= 80 and lab.isascii() for lab in labels)
    assert labels[0].startswith("napari-irdm ")
    assert any("-60..61.5 deg, 6 images" in lab for lab in labels)
    assert "more lines" in labels[-1]


def test_plain_ndarray_write_and_unknown_pixel_size(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    out = write_volume(tmp_path / "v.rec", data)
    back = read_volume(out)
    np.testing.assert_array_equal(back.data, data.astype(np.float32))
    assert back.pixel_size_A is None  # 0 in the header = unknown, never invented


def test_placeholder_voxel_size_one_is_unknown(tmp_path, mrc_maker, series_data):
    p = mrc_maker(tmp_path / "p.mrc", series_data, voxel_size=1.0)
    assert open_mrc(p).pixel_size_A is None
    p2 = mrc_maker(tmp_path / "q.mrc", series_data, voxel_size=3.36)
    assert open_mrc(p2).pixel_size_A == pytest.approx(3.36)


def test_create_volume_mrc_chunked_and_atomic(tmp_path):
    target = tmp_path / "big.mrc"
    with create_volume_mrc(target, (4, 3, 5), pixel_size_A=2.0, provenance=["WBP ramp"]) as out:
        assert not target.exists()  # nothing at the target until the end
        for z in range(4):
            out[z] = z
    back = read_volume(target)
    np.testing.assert_array_equal(back.data[:, 0, 0], [0, 1, 2, 3])
    assert back.pixel_size_A == 2.0 and back.provenance == ("WBP ramp",)
    assert _no_temp_files(tmp_path) == []

    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with create_volume_mrc(target, (4, 3, 5)) as out:
            out[0] = 7
            raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert _no_temp_files(tmp_path) == []


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch, rng):
    target = tmp_path / "v.mrc"
    write_volume(target, rng.random((3, 4, 5)).astype(np.float32), pixel_size_A=1.5)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mrc_mod, "_update_stats", explode)  # fails after the data are written
    with pytest.raises(OSError, match="disk full"):
        write_volume(target, np.zeros((3, 4, 5), np.float32), pixel_size_A=9.0)
    assert target.read_bytes() == before
    assert _no_temp_files(tmp_path) == []


def test_tilt_series_round_trip_with_rawtlt(tmp_path, series_data):
    angles = np.array([0.0, -2, 2, -4, 4, -6, 6])  # dose-symmetric order is legal
    ts = TiltSeries(data=series_data, tilt_angles_deg=angles, pixel_size_A=4.2, provenance=("simulated",))
    out = write_tilt_series(tmp_path / "s.mrc", ts)
    assert (tmp_path / "s.rawtlt").is_file()
    back = read_tilt_series(out)
    np.testing.assert_array_equal(back.data, series_data)
    np.testing.assert_array_equal(back.tilt_angles_deg, angles)
    assert back.angle_source.startswith("rawtlt:")
    assert back.pixel_size_A == pytest.approx(4.2)
    assert back.provenance[0] == "simulated"
    with mrcfile.open(out) as m:
        assert m.is_image_stack()
    # without the sidecar the angles still come back from our own header
    (tmp_path / "s.rawtlt").unlink()
    again = read_tilt_series(out)
    assert again.angle_source == "napari-irdm header"
    np.testing.assert_array_equal(again.tilt_angles_deg, angles)


def test_legacy_fei_header_without_map_id(tmp_path, mrc_maker, fei_header):
    """Like the NIST file: int16 with a big negative offset, no MAP id, 1024x128-byte FEI records."""
    rng = np.random.default_rng(1)
    angles = np.arange(-6.0, 7.0, 2.0)
    data = (rng.normal(0, 3, size=(7, 10, 10)) - 31900).astype(np.int16)
    data[:, 4:6, 4:6] += 20000
    p = mrc_maker(tmp_path / "fei.mrc", data, ext_header=fei_header(angles, 3.36e-9), map_id=False)
    with pytest.warns(UserWarning, match="MAP"):
        ts = read_tilt_series(p)
    np.testing.assert_array_equal(ts.tilt_angles_deg, angles)
    assert ts.angle_source == "FEI extended header"
    assert ts.pixel_size_A == pytest.approx(33.6)
    assert ts.data.dtype == np.float32
    # offset removed: background near 0, object ~ +20000, recorded in provenance
    assert abs(np.median(ts.data)) < 20
    assert ts.data[:, 4:6, 4:6].mean() == pytest.approx(20000, rel=0.01)
    assert any("offset" in line for line in ts.provenance)
    # the offset can be switched off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = read_tilt_series(p, offset=None)
    np.testing.assert_array_equal(raw.data, data.astype(np.float32))


def test_fei1_extended_header(tmp_path, mrc_maker, series_data):
    dt = get_ext_header_dtype(b"FEI1", "<")
    recs = np.zeros(7, dtype=dt)
    recs["Metadata size"] = dt.itemsize
    recs["Alpha tilt"] = np.linspace(-60, 60, 7)
    recs["Pixel size X"] = 2.5e-10
    p = mrc_maker(tmp_path / "f1.mrc", series_data, ext_header=recs, exttyp=b"FEI1")
    ts = read_tilt_series(p)
    np.testing.assert_allclose(ts.tilt_angles_deg, np.linspace(-60, 60, 7))
    assert ts.angle_source == "FEI extended header"
    assert ts.pixel_size_A == pytest.approx(2.5)


def test_serialem_extended_header(tmp_path, mrc_maker, series_data):
    angles = np.array([-30.5, -20, -10, 0, 10.25, 20, 30])
    nint = 4
    ext = np.zeros((7, nint // 2), dtype="<i2")
    ext[:, 0] = np.round(angles * 100)
    p = mrc_maker(tmp_path / "se.st", series_data, ext_header=np.frombuffer(ext.tobytes(), "V1").copy(),
                  exttyp=b"SERI", nint_nreal=(nint, 1))
    ts = read_tilt_series(p)
    np.testing.assert_allclose(ts.tilt_angles_deg, angles)
    assert ts.angle_source == "SerialEM extended header"


# ----------------------------------------------------------------- bad files


def _valid(tmp_path, mrc_maker, series_data, name="bad.mrc"):
    return mrc_maker(tmp_path / name, series_data)


def test_truncated_file(tmp_path, mrc_maker, series_data):
    p = _valid(tmp_path, mrc_maker, series_data)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"bad\.mrc is truncated"):
        read_tilt_series(p, tilt_range=(-6, 6), tilt_step=2)
    p.write_bytes(p.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"bad\.mrc is truncated"):
        read_volume(p)


def test_corrupt_header_bytes(tmp_path, mrc_maker, series_data):
    p = _valid(tmp_path, mrc_maker, series_data)
    raw = bytearray(p.read_bytes())
    raw[12:16] = (77).to_bytes(4, "little")  # mode 77 does not exist
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.mrc"):
        read_volume(p)


def test_random_bytes_are_not_mrc(tmp_path, rng):
    p = tmp_path / "junk.mrc"
    p.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"junk\.mrc"):
        read_volume(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mrc"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mrc is empty"):
        read_tilt_series(p)


def test_two_d_data(tmp_path, mrc_maker):
    p = mrc_maker(tmp_path / "img.mrc", np.zeros((8, 9), np.float32))
    with pytest.raises(ValueError, match=r"img\.mrc holds 2-D data.*3-D"):
        read_tilt_series(p, tilt_angles_deg=[0])


def test_nan_in_data(tmp_path, mrc_maker, series_data):
    series_data[3, 2, 2] = np.nan
    p = mrc_maker(tmp_path / "nan.mrc", series_data)
    with pytest.raises(ValueError, match=r"nan\.mrc contains NaN or Inf .*image 3"):
        read_tilt_series(p, tilt_range=(-6, 6), tilt_step=2)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.mrc does not exist"):
        read_tilt_series(tmp_path / "nothere.mrc")


def test_provenance_passed_twice_is_not_repeated(tmp_path):
    vol = Volume(data=np.zeros((2, 3, 4), np.float32), pixel_size_A=1.5, provenance=("WBP", "ramp"))
    out = write_volume(tmp_path / "d.mrc", vol, provenance=vol.provenance + ("saved from napari",))
    assert read_volume(out).provenance == ("WBP", "ramp", "saved from napari")
