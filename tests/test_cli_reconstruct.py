"""``napari-irdm reconstruct``: every method on a tiny MRC, provenance and voxel size, every bad input."""

from __future__ import annotations

import numpy as np
import pytest

mrcfile = pytest.importorskip("mrcfile")

from napari_irdm.cli import main  # noqa: E402
from napari_irdm.tomo import ParallelProjector  # noqa: E402

ANGLES = np.arange(-60.0, 61.0, 6.0)
N = 24


def _truth():
    z, x = np.mgrid[:N, :N] - (N - 1) / 2.0
    s = (np.hypot(z, x) < 7).astype(np.float32)
    return np.repeat(s[:, None, :], 4, axis=1)


@pytest.fixture()
def series_file(tmp_path):
    vol = _truth()
    b = ParallelProjector(ANGLES, vol.shape).forward(vol)
    path = tmp_path / "tilt.mrc"
    with mrcfile.new(path) as m:
        m.set_data(b.astype(np.float32))
        m.voxel_size = 2.5
    np.savetxt(tmp_path / "tilt.rawtlt", ANGLES)
    return path


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("napari-irdm: error:"), err
    return err


@pytest.mark.parametrize("method,extra", [("wbp", ["--filter", "hann"]), ("sirt", ["--iterations", "20"]),
                                          ("sart", ["--iterations", "3", "--nonnegative"]),
                                          ("tv", ["--iterations", "30", "--tv-weight", "1e-4"]),
                                          ("tv", ["--iterations", "30", "--nonnegative"]),  # auto weight, CP
                                          ("sirt", ["--iterations", "40", "--stop", "discrepancy"])])
def test_reconstruct_methods_write_volume_with_voxel_size_and_provenance(series_file, tmp_path, method, extra, capsys):
    out = tmp_path / f"{method}.mrc"
    rc = main(["reconstruct", str(series_file), "-o", str(out), "--method", method, "--quiet", *extra])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    with mrcfile.open(out) as m:
        data = m.data.copy()
        assert float(m.voxel_size.x) == pytest.approx(2.5)
        labels = " ".join(m.header.label[i].decode() for i in range(int(m.header.nlabl)))
    assert data.shape == (N, 4, N) and data.dtype == np.float32
    assert f"method={method}" in labels and "-60" in labels and "60" in labels
    if method == "tv" and "--tv-weight" not in extra:
        w = float(labels.split("tv_weight=")[1].split()[0])  # the automatic weight, recorded
        assert 1e-7 < w < 1e-1
    truth = _truth()
    inside = truth > 0
    assert data[inside].mean() > 0.5 and abs(data[~inside].mean()) < 0.1  # 60° wedge, 21 tilts, 24 px


def test_tilt_axis_x_thickness_tiff_and_range(tmp_path, capsys):
    vol = _truth()
    b = ParallelProjector(ANGLES, vol.shape).forward(vol)
    path = tmp_path / "x.mrc"
    with mrcfile.new(path) as m:
        m.set_data(np.ascontiguousarray(b.transpose(0, 2, 1)))  # tilt axis along x in the file
    out = tmp_path / "x.tif"
    rc = main(["reconstruct", str(path), "--tilt-axis", "x", "--tilt-range", "-60", "60", "--tilt-step", "6",
               "--thickness", "16", "-o", str(out), "--quiet"])
    assert rc == 0
    import tifffile

    data = tifffile.imread(out)
    assert data.shape == (16, 4, N)
    ref = main(["reconstruct", str(path), "--tilt-axis", "x", "--tilt-range", "-60", "60", "--tilt-step", "6",
                "--thickness", "16", "-o", str(tmp_path / "x.mrc.mrc"), "--quiet"])
    assert ref == 0
    with mrcfile.open(tmp_path / "x.mrc.mrc") as m:
        np.testing.assert_allclose(m.data, data, atol=1e-5)


def _write(path, data, angles=None):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(data)
    if angles is not None:
        np.savetxt(path.with_suffix(".rawtlt"), angles)
    return path


def test_bad_inputs_exit_2_with_one_line(series_file, tmp_path, capsys):
    ok = np.ones((3, 4, 8), np.float32)
    cases = []
    cases.append([str(tmp_path / "missing.mrc")])
    cases.append([str(_write(tmp_path / "count.mrc", ok, [0.0, 10.0]))])  # 2 angles, 3 images
    nan = ok.copy()
    nan[1, 2, 3] = np.nan
    cases.append([str(_write(tmp_path / "nan.mrc", nan, [-10.0, 0.0, 10.0]))])
    cases.append([str(_write(tmp_path / "range.mrc", ok, [-100.0, 0.0, 10.0]))])
    cases.append([str(_write(tmp_path / "flat.mrc", np.ones((1, 4, 8), np.float32)[0], None))])  # 2-D
    (tmp_path / "empty.mrc").write_bytes(b"")
    cases.append([str(tmp_path / "empty.mrc"), "--tilt-range", "-10", "10", "--tilt-step", "10"])
    raw = (tmp_path / "trunc.mrc")
    raw.write_bytes(series_file.read_bytes()[:2000])
    cases.append([str(raw)])
    (tmp_path / "junk.mrc").write_bytes(b"not an mrc file at all" * 100)
    cases.append([str(tmp_path / "junk.mrc"), "--tilt-range", "-10", "10", "--tilt-step", "10"])
    s = str(series_file)
    cases += [
        [s, "--tilt-range", "-60", "60"],  # no step
        [s, "--iterations", "-3", "--method", "sirt"],
        [s, "--relaxation", "3", "--method", "sirt"],
        [s, "--tv-weight", "-1", "--method", "tv"],
        [s, "--thickness", "0"],
        [s, "--device", "cuda:7"],
        [s, "--device", "banana"],
        [s, "--data-consistency"],
        [s, "--tta"],
        [s, "--method", "irdm", "--model", str(tmp_path / "no_such_model.pt")],
    ]
    for args in cases:
        out = tmp_path / "out.mrc"
        rc = main(["reconstruct", *args, "-o", str(out), "--quiet"])
        assert rc == 2, args
        _one_line_error(capsys)
        assert not out.exists(), args
    for out in (tmp_path / "no_dir" / "v.mrc", tmp_path / "v.xyz", tmp_path):
        assert main(["reconstruct", s, "-o", str(out), "--quiet"]) == 2
        _one_line_error(capsys)
    assert series_file.exists()


@pytest.mark.parametrize("args", [["--method", "fbp"], ["--filter", "gauss"], ["--iterations", "ten"]])
def test_bad_choices_are_usage_errors(series_file, tmp_path, args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reconstruct", str(series_file), "-o", str(tmp_path / "o.mrc"), *args])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_irdm_method_runs_wbp_then_the_model(series_file, tmp_path, capsys):
    """Plumbing only: an untrained tiny generator from a .pt path; output shape, voxel size, provenance."""
    dl = pytest.importorskip("napari_irdm.dl")
    gen = dl.build_generator({"preset": "cpu", "base_width": 4, "depth": 2})
    model = dl.save_model(gen, tmp_path / "tiny.pt")
    out = tmp_path / "irdm.mrc"
    mins, resid = {}, {}
    b = mrcfile.read(series_file)
    labels_of = {}
    for extra in ([], ["--data-consistency", "none"], ["--data-consistency"], ["--nonnegative"], ["--tta"],
                  ["--data-consistency", "iterative"]):
        rc = main(["reconstruct", str(series_file), "-o", str(out), "--method", "irdm", "--model", str(model),
                   "--device", "cpu", "--quiet", *extra])
        assert rc == 0, capsys.readouterr().err
        with mrcfile.open(out) as m:
            assert m.data.shape == (N, 4, N) and np.all(np.isfinite(m.data))
            mins[tuple(extra)] = float(m.data.min())
            rep = ParallelProjector(ANGLES, m.data.shape).forward(m.data.copy())
            resid[tuple(extra)] = float(np.linalg.norm(rep - b) / np.linalg.norm(b))
            assert float(m.voxel_size.x) == pytest.approx(2.5)
            labels = " ".join(m.header.label[i].decode() for i in range(int(m.header.nlabl)))
        assert "method=irdm" in labels
        from napari_irdm.io import read

        labels_of[tuple(extra)] = " ".join(read(out).provenance)
    plain = ("--data-consistency", "none")
    assert mins[plain] < 0 and mins[("--nonnegative",)] == 0.0  # WBP ringing is negative; the clip removes it
    # iterative data consistency: SIRT on the measured series from the network's output re-projects far closer
    assert resid[("--data-consistency", "iterative")] < 0.5 * resid[plain], resid
    # the default is the network-prior TV (methods.SERIES_CONSISTENCY): it too re-projects far closer
    assert "data_consistency=tv" in labels_of[()] and "data_consistency=False" in labels_of[plain]
    assert resid[()] < 0.5 * resid[plain], resid
