"""read_tilt_series behaviour: tilt axis, rotation, offset, pixel size; inspect_file; is_supported."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_irdm.io import detect_offset, inspect_file, is_supported, normalise_offset, read_tilt_series

ANGLES = np.linspace(-60, 60, 7)


def test_tilt_axis_x_transposes_each_image(tmp_path, mrc_maker, series_data):
    p = mrc_maker(tmp_path / "x.mrc", series_data)
    ts = read_tilt_series(p, tilt_angles_deg=ANGLES, tilt_axis="x")
    assert ts.data.shape == (7, 10, 12)
    assert ts.tilt_axis == "x"
    for i in range(7):
        np.testing.assert_array_equal(ts.data[i], series_data[i].T)
    # the blob at file rows 3:5, cols 6:9 is now at rows 6:9, cols 3:5
    assert ts.data[0, 6:9, 3:5].mean() > 4
    assert ts.data.flags.c_contiguous
    same = read_tilt_series(p, tilt_angles_deg=ANGLES)
    assert same.tilt_axis == "y"
    np.testing.assert_array_equal(same.data, series_data)
    with pytest.raises(ValueError, match="tilt_axis"):
        read_tilt_series(p, tilt_angles_deg=ANGLES, tilt_axis="z")


def test_rotation_is_undone(tmp_path, mrc_maker):
    ideal = np.zeros((3, 41, 41), np.float32)
    ideal[:, :, 20] = 1.0  # a line along y: the tilt axis
    ideal[:, :, 19] = ideal[:, :, 21] = 0.5
    # the axis turned 12° counter-clockwise from +y in (x, y) = (column, row), as align reports it
    rotated = np.stack([ndimage.rotate(im, -12.0, reshape=False, order=1) for im in ideal])
    p = mrc_maker(tmp_path / "rot.mrc", rotated)
    plain = read_tilt_series(p, tilt_angles_deg=[-1, 0, 1])
    fixed = read_tilt_series(p, tilt_angles_deg=[-1, 0, 1], rotation_deg=12.0)
    centre = (slice(None), slice(8, 33), slice(None))  # away from corners filled by the rotation
    err_plain = np.abs(plain.data[centre] - ideal[centre]).mean()
    err_fixed = np.abs(fixed.data[centre] - ideal[centre]).mean()
    assert err_fixed < 0.25 * err_plain
    # the column profile is back to a narrow line at x = 20
    profile = fixed.data[0, 8:33].mean(axis=0)
    assert int(np.argmax(profile)) == 20
    assert any("rotation" in line for line in fixed.provenance)


def test_rotation_follows_the_align_convention(tmp_path, mrc_maker):
    """Images whose tilt axis align measures at +φ are put right by rotation_deg=+φ (IMOD, SerialEM)."""
    from napari_irdm.align import Transforms, apply_transforms

    ideal = np.zeros((3, 41, 41), np.float32)
    ideal[:, 4:37, 20] = 1.0  # a line along y: the tilt axis
    phi = 15.0
    # aligned(A x) = raw(x) with A = R(−φ): the raw images are the ideal ones mapped back by R(φ)
    raw = apply_transforms(ideal, Transforms.from_parameters(np.zeros((3, 2)), -phi, [-1, 0, 1]), fill="zero")
    p = mrc_maker(tmp_path / "turned.mrc", raw)
    err = {r: np.abs(read_tilt_series(p, tilt_angles_deg=[-1, 0, 1], rotation_deg=r).data - ideal)[:, 8:33].mean()
           for r in (phi, -phi)}
    assert err[phi] < 0.3 * err[-phi]


def test_offset_rule():
    rng = np.random.default_rng(0)
    haadf = (rng.normal(0, 5, (4, 32, 32)) - 31900).astype(np.int16)
    haadf[:, 10:20, 10:20] += 30000
    out, off = normalise_offset(haadf)
    assert off == pytest.approx(np.percentile(haadf, 1), abs=2)
    assert out.dtype == np.float32 and abs(np.median(out)) < 20
    # integer data centred on zero (already background-subtracted): untouched
    centred = rng.normal(0, 50, (4, 32, 32)).astype(np.int16)
    assert detect_offset(centred) is None
    # unsigned and float data: untouched
    assert detect_offset((haadf.astype(np.int32) + 32768).astype(np.uint16)) is None
    assert detect_offset(haadf.astype(np.float32)) is None
    np.testing.assert_array_equal(normalise_offset(centred)[0], centred.astype(np.float32))


def test_explicit_offset_and_pixel_size(tmp_path, mrc_maker, series_data):
    p = mrc_maker(tmp_path / "o.mrc", series_data, voxel_size=2.0)
    ts = read_tilt_series(p, tilt_angles_deg=ANGLES, offset=-1.0)
    np.testing.assert_allclose(ts.data, series_data + 1.0)
    assert ts.pixel_size_A == 2.0
    assert read_tilt_series(p, tilt_angles_deg=ANGLES, pixel_size_A=5.5).pixel_size_A == 5.5
    with pytest.raises(ValueError, match=r"o\.mrc"):
        read_tilt_series(p, tilt_angles_deg=ANGLES, pixel_size_A=-1)


def test_pixel_size_from_fei_when_voxel_unset(tmp_path, mrc_maker, fei_header, series_data):
    hdr = fei_header(ANGLES, 1.5e-10)
    p = mrc_maker(tmp_path / "f.mrc", series_data, ext_header=hdr)  # voxel size left 0
    ts = read_tilt_series(p, tilt_range=(-60, 60), tilt_step=20)  # angles elsewhere, pixel from FEI
    assert ts.pixel_size_A == pytest.approx(1.5)
    q = mrc_maker(tmp_path / "g.mrc", series_data, ext_header=hdr, voxel_size=2.5)
    assert read_tilt_series(q).pixel_size_A == pytest.approx(2.5)  # the MRC voxel size wins


def test_inspect_file(tmp_path, mrc_maker, series_data):
    p = mrc_maker(tmp_path / "i.mrc", series_data, voxel_size=3.0)
    info = inspect_file(p)  # no angles: reported, not an error
    assert info["tilt_angles_deg"] is None and info["angle_source"] == "none"
    assert info["file_shape"] == (7, 12, 10) and info["dtype"] == "float32"
    info = inspect_file(p, tilt_range=(-60, 60), tilt_step=20, tilt_axis="x")
    assert info["shape"] == (7, 10, 12)
    assert info["n_angles"] == 7 and info["tilt_step_deg"] == 20
    assert info["tilt_range_deg"] == (-60, 60) and info["missing_wedge_deg"] == 60
    assert info["pixel_size_A"] == 3.0 and info["pixel_size_source"] == "MRC header voxel size"
    assert info["data_min"] == pytest.approx(series_data.min())
    assert info["data_max"] == pytest.approx(series_data.max())
    with pytest.raises(ValueError, match=r"i\.mrc"):
        inspect_file(p, tilt_range=(-60, 60), tilt_step=10)


def test_is_supported_never_raises(tmp_path, mrc_maker, series_data):
    good = mrc_maker(tmp_path / "a.mrc", series_data)
    junk = tmp_path / "j.mrc"
    junk.write_bytes(b"\xff" * 2000)
    tiny = tmp_path / "t.mrc"
    tiny.write_bytes(b"MAP ")
    txt = tmp_path / "a.txt"
    txt.write_text("x")
    assert is_supported(good) and is_supported(str(good))
    assert not is_supported(junk)
    assert not is_supported(tiny)
    assert not is_supported(txt)
    assert not is_supported(tmp_path)
    assert not is_supported(tmp_path / "missing.mrc")
    assert not is_supported(None)
    assert not is_supported(["a.mrc", "b.mrc"])
