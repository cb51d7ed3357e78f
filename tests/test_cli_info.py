"""``napari-irdm info`` and the shared CLI helpers in napari_irdm._cli._common."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings

import mrcfile
import numpy as np
import pytest

from napari_irdm import Progress
from napari_irdm._cli._common import add_series_options, drive, series_from_args
from napari_irdm.cli import main


@pytest.fixture
def stack(tmp_path):
    data = np.random.default_rng(0).normal(size=(5, 8, 6)).astype(np.float32)
    p = tmp_path / "ts.mrc"
    with mrcfile.new(p) as m:
        m.set_data(data)
        m.voxel_size = 2.5
    (tmp_path / "ts.rawtlt").write_text("-60\n-30\n0\n30\n60\n")
    return p


def test_info_summary(stack, capsys):
    assert main(["info", str(stack), "--tilt-axis", "x"]) == 0
    out = capsys.readouterr().out
    assert "5 images x 6 x 8" in out  # transposed: (n, nx_file, ny_file)
    assert "2.5 Å" in out
    assert "5, -60° to 60°, step 30°" in out
    assert "rawtlt:" in out and "ts.rawtlt" in out
    assert "missing wedge: 60°" in out
    assert "tilt axis:    x" in out


def test_info_json_and_overrides(stack, capsys):
    assert main(["info", str(stack), "--json", "--tilt-range", "-40", "40", "--tilt-step", "20",
                 "--pixel-size", "7"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tilt_angles_deg"] == [-40, -20, 0, 20, 40]
    assert info["angle_source"] == "range -40:40:20"
    assert info["pixel_size_A"] == 7


def _bad_inputs(tmp_path, stack):
    """name -> (argv, text the one-line error must contain)."""
    truncated = tmp_path / "trunc.mrc"
    truncated.write_bytes(stack.read_bytes()[:-50])
    corrupt = tmp_path / "corrupt.mrc"
    raw = bytearray(stack.read_bytes())
    raw[0:16] = b"\xff" * 16
    raw[208:212] = b"\0\0\0\0"
    corrupt.write_bytes(bytes(raw))
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    flat = tmp_path / "flat.mrc"
    with mrcfile.new(flat) as m:
        m.set_data(np.zeros((4, 4), np.float32))
    nan = tmp_path / "nan.mrc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile warns about the Inf it is asked to write
        with mrcfile.new(nan) as m:
            d = np.zeros((5, 4, 4), np.float32)
            d[2, 1, 1] = np.inf
            m.set_data(d)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("1\n2\n3\n")
    big = tmp_path / "big.txt"
    big.write_text("0\n10\n20\n95\n30\n")
    return {
        "missing": (["info", str(tmp_path / "absent.mrc")], "absent.mrc"),
        "truncated": (["info", str(truncated)], "trunc.mrc"),
        "corrupt": (["info", str(corrupt)], "corrupt.mrc"),
        "empty": (["info", str(empty)], "empty.mrc"),
        "2d": (["info", str(flat)], "flat.mrc"),
        "nan": (["info", str(nan)], "nan.mrc"),
        "count": (["info", str(stack), "--angles", str(wrong)], "ts.mrc"),
        "over90": (["info", str(stack), "--angles", str(big)], "ts.mrc"),
        "range-no-step": (["info", str(stack), "--tilt-range", "-60", "60"], "--tilt-step"),
    }


@pytest.mark.parametrize("case", ["missing", "truncated", "corrupt", "empty", "2d", "nan", "count", "over90",
                                  "range-no-step"])
def test_bad_input_exit_code_2_one_line(tmp_path, stack, capsys, case):
    argv, needle = _bad_inputs(tmp_path, stack)[case]
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert needle in lines[0]
    assert lines[0].startswith("napari-irdm: error: ")
    assert "Traceback" not in captured.err


def test_subprocess_exit_code_and_stderr(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "napari_irdm.cli", "info", str(tmp_path / "gone.st")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "gone.st" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_series_options_and_reader(stack):
    parser = add_series_options(argparse.ArgumentParser())
    args = parser.parse_args(["--tilt-axis", "x", "--pixel-size", "3", "--rotation", "0"])
    ts = series_from_args(args, stack)
    assert ts.data.shape == (5, 6, 8) and ts.pixel_size_A == 3 and ts.tilt_axis == "x"
    np.testing.assert_array_equal(ts.tilt_angles_deg, [-60, -30, 0, 30, 60])
    args = parser.parse_args(["--tilt-step", "2"])
    with pytest.raises(ValueError, match="--tilt-range"):
        series_from_args(args, stack)


def test_drive_returns_result_and_reports_progress(capsys):
    seen = []

    def job(n):
        total = 0
        for i in range(n):
            total += i
            seen.append(i)
            yield Progress(i + 1, n, f"step {i}")
        return total

    assert drive(job(5), "sum", disable=False) == 10
    assert seen == [0, 1, 2, 3, 4]
    err = capsys.readouterr().err
    assert "sum" in err and "5/5" in err


def test_drive_closes_the_generator_on_error():
    cleaned = []

    def job():
        try:
            yield Progress(0, 2, "start")
            raise RuntimeError("broken step")
        finally:
            cleaned.append(True)

    with pytest.raises(RuntimeError, match="broken step"):
        drive(job(), "x", disable=True)
    assert cleaned == [True]
