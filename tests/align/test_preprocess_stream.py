"""Preprocessing at load (``read_preprocessed``): same result as in memory, without the full-size series."""

from __future__ import annotations

import tracemalloc

import mrcfile
import numpy as np
import pytest

from napari_irdm.align.preprocess import preprocess_series, read_preprocessed
from napari_irdm.io import read_tilt_series

ANGLES = np.linspace(-60, 60, 12)


@pytest.fixture()
def series_file(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, (12, 96, 130)).astype(np.float32)
    data[:, 40:60, 50:80] += 50.0  # an object
    data[3, 10, 11] = 1e4  # a hot pixel
    path = tmp_path / "raw.mrc"
    with mrcfile.new(path) as m:
        m.set_data(data)
        m.voxel_size = 2.5
    (tmp_path / "raw.rawtlt").write_text("\n".join(f"{a:.6f}" for a in ANGLES))
    return path


@pytest.mark.parametrize("tilt_axis", ["y", "x"])
def test_streamed_equals_in_memory(series_file, tilt_axis):
    opts = dict(exclude="0,7", crop="3:93,5:125", remove_hot_pixels=True, subtract_background=True,
                normalise_intensity=True, bin=3)
    if tilt_axis == "x":
        opts["crop"] = "5:125,3:93"
    streamed, ex1 = read_preprocessed(series_file, tilt_axis=tilt_axis, **opts)
    memory, ex2 = preprocess_series(read_tilt_series(series_file, tilt_axis=tilt_axis), **opts)
    assert ex1 == ex2 == [0, 7]
    assert streamed.data.shape == memory.data.shape == ((10, 30, 40) if tilt_axis == "y" else (10, 40, 30))
    np.testing.assert_array_equal(streamed.data, memory.data)
    np.testing.assert_allclose(streamed.tilt_angles_deg, np.delete(ANGLES, [0, 7]), atol=1e-5)
    assert streamed.pixel_size_A == memory.pixel_size_A == pytest.approx(7.5)
    assert streamed.provenance == memory.provenance
    assert streamed.data.max() < 200  # the hot pixel is gone before it was averaged into a bin


def test_binning_at_load_never_holds_the_full_series(series_file, tmp_path, monkeypatch):
    """With small read chunks, the peak allocation is the binned series plus a chunk, not the file."""
    import napari_irdm.io._read as rd

    big = tmp_path / "big.mrc"
    data = np.random.default_rng(0).normal(size=(48, 256, 256)).astype(np.float32)  # 12 MiB
    with mrcfile.new(big) as m:
        m.set_data(data)
    monkeypatch.setattr(rd, "CHUNK_BYTES", 2 * 256 * 256 * 4)  # two images per chunk
    tracemalloc.start()
    ts, _ = read_preprocessed(big, tilt_angles_deg=np.linspace(-60, 60, 48), bin=4)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ts.data.shape == (48, 64, 64)
    full = data.nbytes
    assert peak < full / 4, f"peak {peak / 2**20:.1f} MiB for a {full / 2**20:.1f} MiB file"
    tracemalloc.start()  # reading first, binning after: the whole file is held
    preprocess_series(read_tilt_series(big, tilt_angles_deg=np.linspace(-60, 60, 48)), bin=4)
    assert tracemalloc.get_traced_memory()[1] > full
    tracemalloc.stop()
    want = data.reshape(48, 64, 4, 64, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(ts.data, want, rtol=1e-6, atol=1e-6)


def test_prepare_must_keep_one_shape(series_file):
    calls = []

    def uneven(chunk):
        calls.append(1)
        return chunk[:, : 10 + len(calls)]

    import napari_irdm.io._read as rd

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rd, "CHUNK_BYTES", 96 * 130 * 4)
        with pytest.raises(RuntimeError, match="one shape"):
            read_tilt_series(series_file, prepare=uneven)


def test_bin_larger_than_the_images_is_one_line(series_file):
    from napari_irdm.errors import ParameterError

    with pytest.raises(ParameterError, match="`bin` 200 is larger"):
        read_preprocessed(series_file, bin=200)
