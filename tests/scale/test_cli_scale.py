"""``reconstruct -o OUT.zarr`` and ``batch``: same volume as the plain CLI, skip finished, failures per file."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_irdm import tomo
from napari_irdm.cli import main
from napari_irdm.data import TiltSeries
from napari_irdm.io import read_volume, write_tilt_series
from napari_irdm.io.omezarr import open_omezarr

ANGLES = np.arange(-60.0, 61.0, 6.0)


@pytest.fixture
def files(tmp_path):
    vol = np.zeros((32, 16, 32), np.float32)
    vol[8:20, 2:14, 10:24] = 1.0
    ser = tomo.ParallelProjector(ANGLES, vol.shape).forward(vol).astype(np.float32)
    write_tilt_series(tmp_path / "a.mrc", TiltSeries(ser, ANGLES, pixel_size_A=1.5))
    write_tilt_series(tmp_path / "b.mrc", TiltSeries(ser[:, ::-1].copy(), ANGLES, pixel_size_A=1.5))
    (tmp_path / "broken.mrc").write_bytes(b"\0" * 2000)
    return tmp_path


def test_reconstruct_to_omezarr_equals_mrc_output(files, capsys):
    d = files
    assert main(["reconstruct", str(d / "a.mrc"), "-o", str(d / "a.mrc.rec"), "--method", "sirt", "--iterations",
                 "5", "--quiet"]) == 0
    assert main(["reconstruct", str(d / "a.mrc"), "-o", str(d / "a.zarr"), "--method", "sirt", "--iterations", "5",
                 "--slab", "8", "--quiet"]) == 0
    ref = read_volume(d / "a.mrc.rec")
    o = open_omezarr(d / "a.zarr")
    got = o.data.compute()
    assert np.linalg.norm(got - ref.data) <= 1e-6 * np.linalg.norm(ref.data)
    assert o.pixel_size_A == 1.5 and o.complete
    np.testing.assert_allclose(o.tilt_angles_deg, ANGLES)
    assert any("method=sirt" in p for p in o.provenance)
    # an MRC through the scheduler path too (temp file + rename)
    assert main(["reconstruct", str(d / "a.mrc"), "-o", str(d / "t.mrc"), "--scheduler", "threads:2",
                 "--method", "sirt", "--iterations", "5", "--quiet"]) == 0
    np.testing.assert_allclose(read_volume(d / "t.mrc").data, ref.data, rtol=0, atol=1e-6 * float(np.abs(ref.data).max()))


def test_batch_csv_skips_finished_and_reports_failures_per_file(files, capsys):
    d = files
    out = d / "out"
    argv = ["batch", str(d / "*.mrc"), "--out", str(out), "--method", "wbp", "--quiet"]
    assert main(argv) == 2  # broken.mrc fails, the others are done
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 of 3 series failed" in err[0] and "broken.mrc" in err[0]
    rows = list(csv.DictReader((out / "batch.csv").read_text().splitlines()))
    status = {r["input"].rsplit("/", 1)[1]: r for r in rows}
    assert status["a.mrc"]["status"] == "done" and status["b.mrc"]["status"] == "done"
    assert status["broken.mrc"]["status"] == "failed" and status["broken.mrc"]["message"]
    a = open_omezarr(out / "a_wbp.zarr").data.compute()
    b = open_omezarr(out / "b_wbp.zarr").data.compute()
    np.testing.assert_allclose(b, a[:, ::-1], atol=1e-5)  # b is a mirrored along y: so is its volume
    assert not (out / "broken_wbp.zarr").exists()
    mtime = (out / "a_wbp.zarr" / ".zattrs").stat().st_mtime_ns
    # rerun: finished ones skipped (untouched), the broken one tried again
    (d / "broken.mrc").unlink()
    assert main(["batch", str(d / "a.mrc"), str(d / "b.mrc"), "--out", str(out), "--method", "wbp", "--quiet"]) == 0
    rows = list(csv.DictReader((out / "batch.csv").read_text().splitlines()))
    assert [r["status"] for r in rows] == ["skipped", "skipped"]
    assert (out / "a_wbp.zarr" / ".zattrs").stat().st_mtime_ns == mtime
