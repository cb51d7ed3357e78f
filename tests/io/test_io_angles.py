"""Tilt-angle files and the precedence of angle sources."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.io import angles_from_range, read_angles, read_tilt_series, write_angles
from napari_irdm.io.angles import read_mdoc

MDOC = """PixelSpacing = 2.1
ImageFile = ts.mrc
[T = SerialEM: Digitized on ...]

[ZValue = 2]
TiltAngle = 3.01
StagePosition = 0 0
[ZValue = 0]
TiltAngle = -0.02
[FrameSet = 0]
TiltAngle = 55
[ZValue = 1]
Magnification = 5000
TiltAngle = -3.0
"""


def test_rawtlt_comments_blank_lines_and_extra_columns(tmp_path):
    p = tmp_path / "a.rawtlt"
    p.write_text("# angles\n -60.00\n\n -58.5  extra\n+2e1\n")
    np.testing.assert_array_equal(read_angles(p), [-60.0, -58.5, 20.0])


def test_csv_with_header(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("angle,dose\n-10,1\n0,1\n10,1\n")
    np.testing.assert_array_equal(read_angles(p), [-10, 0, 10])


def test_mdoc_orders_by_zvalue_and_ignores_other_sections(tmp_path):
    p = tmp_path / "ts.mrc.mdoc"
    p.write_text(MDOC)
    np.testing.assert_allclose(read_mdoc(p), [-0.02, -3.0, 3.01])
    np.testing.assert_allclose(read_angles(p), [-0.02, -3.0, 3.01])


def test_mdoc_without_tiltangle_names_file(tmp_path):
    p = tmp_path / "bad.mdoc"
    p.write_text("[ZValue = 0]\nTiltAngle = 1\n[ZValue = 1]\nMagnification = 3\n")
    with pytest.raises(ValueError, match="bad.mdoc"):
        read_angles(p)


def test_unparsable_line_names_file_and_line(tmp_path):
    p = tmp_path / "a.tlt"
    p.write_text("1\n2\nabc\n")
    with pytest.raises(ValueError, match=r"line 3 of .*a\.tlt"):
        read_angles(p)


@pytest.mark.parametrize("content", ["", "\n\n# nothing\n"])
def test_empty_angle_file(tmp_path, content):
    p = tmp_path / "e.rawtlt"
    p.write_text(content)
    with pytest.raises(ValueError, match="e.rawtlt"):
        read_angles(p)


def test_missing_angle_file_is_valueerror_and_filenotfound(tmp_path):
    with pytest.raises(ValueError, match="nope.tlt") as info:
        read_angles(tmp_path / "nope.tlt")
    assert isinstance(info.value, FileNotFoundError)


def test_write_read_round_trip_rounds_linspace_noise(tmp_path):
    a = np.linspace(-70, 70, 71)  # has values like 69.99999999999999 on some platforms
    a[5] = 12.345678
    p = write_angles(tmp_path / "x.rawtlt", a)
    back = read_angles(p)
    np.testing.assert_allclose(back, a, atol=1e-6)
    assert "69.9999" not in p.read_text()


def test_angles_from_range():
    np.testing.assert_array_equal(angles_from_range(-4, 4, 2), [-4, -2, 0, 2, 4])
    np.testing.assert_array_equal(angles_from_range(4, -4, 2), [4, 2, 0, -2, -4])  # descending
    np.testing.assert_array_equal(angles_from_range(-70, 70, 3)[-1], 68)  # stop off the grid
    with pytest.raises(ValueError, match="step"):
        angles_from_range(0, 10, 0)


# ----------------------------------------------------------------- precedence


@pytest.fixture
def stack(tmp_path, mrc_maker, series_data):
    return mrc_maker(tmp_path / "ts.mrc", series_data)


def _write(p, values):
    p.write_text("\n".join(str(v) for v in values) + "\n")
    return p


def test_sidecar_precedence_rawtlt_then_tlt_then_mdoc(tmp_path, stack):
    n = 7
    mdoc = "".join(f"[ZValue = {i}]\nTiltAngle = {30 + i}\n" for i in range(n))
    (tmp_path / "ts.mrc.mdoc").write_text(mdoc)
    ts = read_tilt_series(stack)
    assert ts.angle_source.startswith("mdoc:")
    np.testing.assert_array_equal(ts.tilt_angles_deg, 30 + np.arange(n))

    _write(tmp_path / "ts.tlt", 20 + np.arange(n))
    ts = read_tilt_series(stack)
    assert ts.angle_source == f"tlt: {tmp_path / 'ts.tlt'}"
    np.testing.assert_array_equal(ts.tilt_angles_deg, 20 + np.arange(n))

    _write(tmp_path / "ts.rawtlt", 10 + np.arange(n))
    ts = read_tilt_series(stack)
    assert ts.angle_source == f"rawtlt: {tmp_path / 'ts.rawtlt'}"
    np.testing.assert_array_equal(ts.tilt_angles_deg, 10 + np.arange(n))

    # an explicit file, a range and a list beat the sidecars, in that order
    other = _write(tmp_path / "other.txt", -np.arange(n))
    ts = read_tilt_series(stack, angles_file=other)
    np.testing.assert_array_equal(ts.tilt_angles_deg, -np.arange(n))
    assert ts.angle_source == f"txt: {other}"
    ts = read_tilt_series(stack, angles_file=other, tilt_range=(-6, 6), tilt_step=2)
    np.testing.assert_array_equal(ts.tilt_angles_deg, [-6, -4, -2, 0, 2, 4, 6])
    assert ts.angle_source == "range -6:6:2"
    ts = read_tilt_series(stack, angles_file=other, tilt_angles_deg=np.arange(n) * 1.5)
    np.testing.assert_array_equal(ts.tilt_angles_deg, np.arange(n) * 1.5)
    assert ts.angle_source == "explicit"


def test_aligned_stack_prefers_refined_tlt(tmp_path, mrc_maker, series_data):
    ali = mrc_maker(tmp_path / "ts.ali", series_data)
    _write(tmp_path / "ts.rawtlt", np.arange(7))
    _write(tmp_path / "ts.tlt", np.arange(7) + 0.5)
    ts = read_tilt_series(ali)
    assert ts.angle_source.startswith("tlt:")


def test_sidecar_beats_fei_header(tmp_path, mrc_maker, fei_header, series_data):
    p = mrc_maker(tmp_path / "f.mrc", series_data, ext_header=fei_header(np.arange(7) * 10.0, 2e-10))
    assert read_tilt_series(p).angle_source == "FEI extended header"
    _write(tmp_path / "f.rawtlt", np.arange(7) * -1.0)
    assert read_tilt_series(p).angle_source.startswith("rawtlt:")


def test_bad_angle_sources_name_the_series(tmp_path, stack):
    with pytest.raises(ValueError, match=r"ts\.mrc"):
        read_tilt_series(stack, tilt_angles_deg=np.arange(6))
    with pytest.raises(ValueError, match=r"ts\.mrc"):
        read_tilt_series(stack, tilt_angles_deg=[0, 1, 2, np.nan, 4, 5, 6])
    with pytest.raises(ValueError, match=r"ts\.mrc"):
        read_tilt_series(stack, tilt_angles_deg=[0, 1, 2, 95, 4, 5, 6])
    with pytest.raises(ValueError, match=r"ts\.mrc.*both|both.*ts\.mrc|range and the step"):
        read_tilt_series(stack, tilt_range=(-6, 6))
    _write(tmp_path / "ts.rawtlt", np.arange(8))
    with pytest.raises(ValueError, match=r"got 8 tilt angles \(rawtlt: .*\) for 7 images in .*ts\.mrc"):
        read_tilt_series(stack)


def test_no_angles_anywhere(stack):
    with pytest.raises(ValueError, match=r"no tilt angles for .*ts\.mrc.*`angles_file`"):
        read_tilt_series(stack)


def test_mdoc_axis_angle(tmp_path):
    """SerialEM's title line and the key-value spelling both give the tilt-axis angle; none gives None."""
    from napari_irdm.io.angles import find_mdoc, read_mdoc_axis_angle

    body = "[ZValue = 0]\nTiltAngle = 0\n"
    a = tmp_path / "a.mrc.mdoc"
    a.write_text("[T = SerialEM: test]\n[T =     Tilt axis angle = 85.3, binning = 1  spot = 9  camera = 0]\n" + body)
    b = tmp_path / "b.mdoc"
    b.write_text("[T =     TiltAxisAngle = -91.81  Binning = 1]\n" + body)
    c = tmp_path / "c.mdoc"
    c.write_text(body)
    assert read_mdoc_axis_angle(a) == pytest.approx(85.3)
    assert read_mdoc_axis_angle(b) == pytest.approx(-91.81)
    assert read_mdoc_axis_angle(c) is None
    assert find_mdoc(tmp_path / "a.mrc") == a and find_mdoc(tmp_path / "b.st") == b
    assert find_mdoc(tmp_path / "nothing.mrc") is None and find_mdoc(tmp_path / "x.mrc", angles_file=c) == c
