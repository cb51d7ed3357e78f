"""``io.read``: a TiltSeries or a Volume, decided from the header (MRC space group, TIFF axes,
our own metadata, IMOD suffixes, angles for every image), from tiny generated files."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest
import tifffile

from napari_irdm import TiltSeries, Volume
from napari_irdm.io import read, read_tilt_series, read_volume, write_angles, write_tilt_series, write_volume

ANGLES = np.linspace(-60, 60, 5)


@pytest.fixture
def stack(rng):
    return rng.random((5, 6, 8), dtype=np.float32)


def _mrc(path, data, ispg: int):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data)
        m.header.ispg = ispg
    return path


@pytest.mark.parametrize("ispg,kind", [(0, TiltSeries), (1, Volume)])
def test_mrc_space_group_decides(tmp_path, stack, ispg, kind):
    got = read(_mrc(tmp_path / "a.mrc", stack, ispg))
    assert type(got) is kind
    np.testing.assert_array_equal(got.data, stack)
    if kind is TiltSeries:  # a stack without angles anywhere: a series that still needs them
        assert got.tilt_angles_deg is None and got.angle_source == "none"
        assert "no tilt angles" in got.provenance[-1]


def test_space_group_1_with_angles_for_every_image_is_a_series(tmp_path, stack):
    """Many writers leave space group 1 on image stacks: a .rawtlt with one angle per image wins."""
    path = _mrc(tmp_path / "b.mrc", stack, 1)
    write_angles(tmp_path / "b.rawtlt", ANGLES)
    got = read(path)
    assert isinstance(got, TiltSeries)
    np.testing.assert_allclose(got.tilt_angles_deg, ANGLES)
    # the same data and angles as read_tilt_series gives
    ref = read_tilt_series(path)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.provenance == ref.provenance
    # a sidecar that does not fit the images does not make a volume a series
    write_angles(tmp_path / "b.rawtlt", ANGLES[:3])
    assert isinstance(read(path), Volume)


@pytest.mark.parametrize("suffix,kind", [(".st", TiltSeries), (".ali", TiltSeries), (".rec", Volume)])
def test_imod_suffixes_beat_a_default_space_group(tmp_path, stack, suffix, kind):
    ispg = 1 if kind is TiltSeries else 0  # the opposite of what the suffix says
    assert type(read(_mrc(tmp_path / f"c{suffix}", stack, ispg))) is kind


@pytest.mark.parametrize("axes,kind", [("ZYX", Volume), ("TYX", TiltSeries), ("IYX", TiltSeries),
                                       ("QYX", TiltSeries)])
def test_tiff_axes_decide(tmp_path, stack, axes, kind):
    path = tmp_path / "d.tif"
    if axes in ("ZYX", "TYX"):
        tifffile.imwrite(path, stack, imagej=True, metadata={"axes": axes})
    elif axes == "QYX":
        tifffile.imwrite(path, stack)  # a shaped tifffile stack: axes QYX
    else:
        with tifffile.TiffWriter(path) as tw:  # separate pages, no shape metadata: IYX
            for img in stack:
                tw.write(img, metadata=None)
    with tifffile.TiffFile(path) as tf:
        assert tf.series[0].axes == axes
    got = read(path)
    assert type(got) is kind
    np.testing.assert_array_equal(got.data, stack)


@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_our_metadata_decides_even_when_the_angle_count_fits(tmp_path, stack, suffix):
    """A volume we wrote keeps its series' angles (here as many as slices): still a volume; a
    series we wrote is a series with its angles, pixel size and provenance."""
    vol = Volume(stack, pixel_size_A=0.5, tilt_angles_deg=ANGLES, provenance=("made by a test",))
    got = read(write_volume(tmp_path / f"v{suffix}", vol))
    assert isinstance(got, Volume)
    np.testing.assert_array_equal(got.data, stack)
    np.testing.assert_allclose(got.tilt_angles_deg, ANGLES)
    assert got.pixel_size_A == pytest.approx(0.5) and got.provenance == read_volume(tmp_path / f"v{suffix}").provenance
    ts = TiltSeries(stack, ANGLES, pixel_size_A=0.25, provenance=("series by a test",))
    (tmp_path / "s").mkdir()
    got = read(write_tilt_series(tmp_path / "s" / f"s{suffix}", ts))
    assert isinstance(got, TiltSeries) and got.pixel_size_A == pytest.approx(0.25)
    np.testing.assert_allclose(got.tilt_angles_deg, ANGLES)
    assert "series by a test" in got.provenance


def test_given_angles_make_a_series_but_not_of_our_volume(tmp_path, stack):
    path = _mrc(tmp_path / "e.mrc", stack, 1)
    got = read(path, tilt_range=(-60, 60), tilt_step=30)
    assert isinstance(got, TiltSeries) and got.angle_source.startswith("range")
    ours = write_volume(tmp_path / "ours.mrc", Volume(stack, tilt_angles_deg=ANGLES))
    with pytest.raises(ValueError, match="is a volume .*`tilt_range`.*read_tilt_series"):
        read(ours, tilt_range=(-60, 60), tilt_step=30)


def test_read_opens_the_file_once(tmp_path, stack, monkeypatch):
    from napari_irdm.io import _raw

    path = _mrc(tmp_path / "f.mrc", stack, 0)
    write_angles(tmp_path / "f.rawtlt", ANGLES)
    calls = []
    real = _raw.open_mrc
    monkeypatch.setattr(_raw, "open_mrc", lambda p: calls.append(p) or real(p))
    assert isinstance(read(path), TiltSeries) and len(calls) == 1
