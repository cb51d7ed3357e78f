"""Issue 11b fixes whose outcome is not an error line: runs that must succeed, refuse
without touching an earlier run, or warn (one line per ignored option)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import assert_one_line_error, run_cli, snapshot

SRC = str(Path(__file__).resolve().parents[2] / "src")
TRAIN = ["--size", "32", "--batch-size", "2", "--device", "cpu", "--val-every", "100000", "--n-val", "2",
         "--oversample", "1"]


def _cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "napari_irdm.cli", *map(str, args)], env=env, **kw)


@pytest.mark.parametrize("sub", ["info", "reconstruct"])
def test_closed_stdout_still_succeeds(sub, work):
    """stdout closed (``>&-``): sys.stdout is None; the run succeeds and writes its file."""
    out = work / "closed.mrc"
    args = ["info", work / "ts.mrc"] if sub == "info" else ["reconstruct", work / "ts.mrc", "-o", out, "--quiet"]
    p = _cli(args, stdout=None, stderr=subprocess.PIPE, text=True, close_fds=True,
             preexec_fn=lambda: os.close(1))
    assert p.returncode == 0, p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    if sub == "reconstruct":
        from napari_irdm.io import read_volume

        assert read_volume(out).data.std() > 0


def test_train_refuses_overwrite_and_resume_checks_options(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    code, out, err = run_cli(["train", "--out", run, "--steps", "2", "--dataset", "D1", *TRAIN], capsys)
    assert code == 0, err
    before = snapshot(run)
    # 1: no --resume on a folder that holds a run: refused, run untouched
    code, _, err = run_cli(["train", "--out", run, "--steps", "2", *TRAIN], capsys)
    assert_one_line_error(code, err, contains="already holds a training run: pass --resume")
    # 4: a run-defining option that differs from the checkpoint: refused, naming its value
    code, _, err = run_cli(["train", "--out", run, "--resume", "--size", "64"], capsys)
    assert_one_line_error(code, err, contains="--size 64 differs from the checkpoint's 32")
    # 4: --steps not beyond the checkpoint's step: refused
    code, _, err = run_cli(["train", "--out", run, "--resume", "--steps", "2"], capsys)
    assert_one_line_error(code, err, contains="already at step 2")
    assert snapshot(run) == before
    # 4: --steps is the new total and takes effect (the same --size is fine)
    from napari_irdm._cli import _common

    labels, real_drive = [], _common.drive

    def drive(gen, desc="", **kw):
        labels.append(desc)
        return real_drive(gen, desc=desc, **kw)

    monkeypatch.setattr(_common, "drive", drive)
    code, out, err = run_cli(["train", "--out", run, "--resume", "--steps", "3", "--size", "32", "--device", "cpu"],
                             capsys)
    assert code == 0, err
    assert "step 3/3" in out
    assert labels == ["train D1"]  # the progress names the run's dataset, not the default's
    from napari_irdm.train.trainer import load_checkpoint

    assert int(load_checkpoint(run)["step"]) == 3


def test_failed_train_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NAPARI_IRDM_DEVICE", "xpu")
    code, _, err = run_cli(["train", "--out", tmp_path / "new", "--steps", "1", "--size", "32"], capsys)
    assert_one_line_error(code, err, contains="NAPARI_IRDM_DEVICE")
    assert not (tmp_path / "new").exists()
    monkeypatch.delenv("NAPARI_IRDM_DEVICE")
    code, _, err = run_cli(["train", "--out", tmp_path / "new2", "--init-from", tmp_path / "none.pt"], capsys)
    assert code == 2 and not (tmp_path / "new2").exists(), err


def test_simulate_overwrite_replaces_an_earlier_simulation(tmp_path, capsys):
    args = ["simulate", "gold", "-o", tmp_path / "s", "--box", "16", "--tilt-step", "30", "--size-nm", "1"]
    assert run_cli(args, capsys)[0] == 0
    before = snapshot(tmp_path / "s")
    code, _, err = run_cli([*args, "--seed", "3", "--dose", "100"], capsys)
    assert_one_line_error(code, err, contains="--overwrite")
    assert snapshot(tmp_path / "s") == before
    code, _, err = run_cli([*args, "--seed", "3", "--dose", "100", "--overwrite"], capsys)
    assert code == 0, err
    assert snapshot(tmp_path / "s")["tilt_series.mrc"] != before["tilt_series.mrc"]  # noisy now: replaced


@pytest.mark.parametrize("method,extra,ignored", [
    ("wbp", ["--iterations", "3", "--nonnegative", "--tv-weight", "1e-4", "--model", "general"],
     ["--iterations", "--nonnegative", "--tv-weight", "--model"]),
    ("sirt", ["--iterations", "2", "--filter", "hann", "--tv-weight", "1e-4"], ["--filter", "--tv-weight"]),
])
def test_options_that_do_nothing_warn_once_each(method, extra, ignored, work, capsys):
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", work / "w.mrc", "--method", method, "--quiet",
                            *extra], capsys)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == len(ignored), err
    for opt in ignored:
        assert sum(ln.startswith(f"napari-irdm: warning: {opt} does nothing for --method {method}")
                   for ln in lines) == 1, (opt, err)
    # the defaults given explicitly for the method they belong to: no warning
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", work / "w.mrc", "--method", "wbp", "--filter", "ramp",
                            "--quiet"], capsys)
    assert code == 0 and err.strip() == "", err
