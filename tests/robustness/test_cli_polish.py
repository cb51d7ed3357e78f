"""CLI rough edges (issue #10, point 5): what `info` says, warnings, progress, help, speed."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import SRC, assert_one_line_error, run_cli, run_sub, write_series


def test_help_is_fast_and_imports_no_torch():
    code = ("import sys, time; t = time.perf_counter(); from napari_irdm.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "for c in ['reconstruct', 'train', 'evaluate', 'demo']:\n"
            "    try:\n        main([c, '--help'])\n    except SystemExit:\n        pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', time.perf_counter() - t, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=60)
    flag, seconds = r.stderr.split()[-2:]
    assert flag == "NOTORCH"
    t0 = time.perf_counter()
    r2 = run_sub(["--help"])
    wall = time.perf_counter() - t0
    assert r2.returncode == 0 and "reconstruct" in r2.stdout
    assert wall < 2.0, wall  # measured ≈ 0.25 s here (it was 5.4 s importing torch); slack for a busy machine


def test_no_subcommand_is_one_line_on_stderr(capsys):
    code, out, err = run_cli([], capsys)
    assert_one_line_error(code, err, contains="no command given")
    assert out == ""


def test_every_option_has_help_and_model_lists_shipped_names():
    from napari_irdm._cli._common import shipped_model_names
    from napari_irdm.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    names = shipped_model_names()
    assert names
    for name, sp in sub.choices.items():
        for action in sp._actions:
            assert action.help, (name, action.option_strings)
            if "--model" in action.option_strings or "--init-from" in action.option_strings:
                assert all(n in action.help for n in names), (name, action.help)


def test_static_lists_match_the_library():
    from typing import get_args

    from napari_irdm._cli._common import shipped_model_names
    from napari_irdm.dl.registry import list_models
    from napari_irdm.methods import FILTERS
    from napari_irdm.tomo import filters

    assert filters.FILTERS is FILTERS and get_args(filters.FilterName) == FILTERS  # one list
    assert shipped_model_names() == sorted(list_models())


def test_info_says_volume_and_shows_the_full_provenance(tmp_path, capsys):
    write_series(tmp_path / "ts.mrc")
    long_line = "napari-irdm 0.1.0 reconstruct method=irdm filter=ramp nonnegative=False model=general " \
                "data_consistency=True tta=False"
    assert len(long_line) > 80
    from napari_irdm.io import write_volume

    write_volume(tmp_path / "vol.mrc", np.ones((12, 16, 16), np.float32), pixel_size_A=2.0,
                 tilt_angles_deg=np.linspace(-60, 60, 9), provenance=[long_line])
    code, out, err = run_cli(["info", tmp_path / "vol.mrc"], capsys)
    assert code == 0, err
    assert "content:      volume" in out
    assert "12 x 16 x 16 voxels (nz, ny, nx)" in out and "images" not in out.split("shape:")[1].split("\n")[0]
    assert "of the series it was reconstructed from: 9, -60° to 60°" in out
    assert "data_consistency=True" in out  # cut off in the 80-character MRC labels
    code, out, err = run_cli(["info", tmp_path / "ts.mrc"], capsys)
    assert code == 0 and "content:      tilt series" in out and "9 images x 16 x 16" in out


def test_warnings_are_one_clean_line(tmp_path, capsys):
    write_series(tmp_path / "ts.mrc")
    odd = tmp_path / "really_mrc.h5"
    odd.write_bytes((tmp_path / "ts.mrc").read_bytes())
    (tmp_path / "really_mrc.rawtlt").write_text((tmp_path / "ts.rawtlt").read_text())
    code, out, err = run_cli(["reconstruct", odd, "-o", tmp_path / "v.mrc", "--quiet"], capsys)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("napari-irdm: warning: ") and "holds MRC data" in lines[0]
    assert "UserWarning" not in err and "warnings.warn" not in err
    code, out, err = run_cli(["info", odd], capsys)  # info lists its warnings in the summary itself
    assert code == 0 and err == "" and "warning:      " in out and "holds MRC data" in out


@pytest.mark.slow
def test_progress_lines_when_not_a_terminal(tmp_path):
    write_series(tmp_path / "ts.mrc", n=31, ny=32, nx=32)
    r = run_sub(["reconstruct", tmp_path / "ts.mrc", "-o", tmp_path / "v.mrc", "--method", "sirt",
                 "--iterations", "1000"], env={"NAPARI_IRDM_PROGRESS_INTERVAL_S": "0.05"})  # > 0.05 s on a fast CPU
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines and all(ln.startswith("napari-irdm: SIRT: ") for ln in lines), lines
    assert "\r" not in r.stderr  # no bar redraws in a log
    assert any("100% (1000/1000)" in ln for ln in lines)
    r = run_sub(["reconstruct", tmp_path / "ts.mrc", "-o", tmp_path / "v.mrc", "--method", "sirt",
                 "--iterations", "5", "--quiet"], env={"NAPARI_IRDM_PROGRESS_INTERVAL_S": "0.0"})
    assert r.returncode == 0 and r.stderr == ""


def test_error_translator_maps_every_kind_to_one_line():
    import errno

    from napari_irdm._cli._common import error_line
    from napari_irdm._signals import Terminated
    from napari_irdm.resources import ResourceError

    cases = {
        "enomem": OSError(errno.ENOMEM, "Cannot allocate memory"),
        "memory": MemoryError("Unable to allocate 238. GiB for an array"),
        "ours": ResourceError("reconstructing needs about 9 GiB of memory, 6 GiB available: bin"),
        "torch-oom": RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nmore text"),
        "cpu-oom": RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
        "missing": FileNotFoundError(errno.ENOENT, "No such file or directory", "x.mrc"),
        "value": ValueError("first line\nsecond line"),
    }
    for name, err in cases.items():
        code, line = error_line(err)
        assert code == 2 and "\n" not in line and line.startswith("napari-irdm: error: "), (name, line)
    assert "--device cpu" not in error_line(cases["memory"])[1]  # CPU memory: no GPU advice
    assert "--device cpu" not in error_line(cases["cpu-oom"])[1]
    assert "GPU" in error_line(cases["torch-oom"])[1]
    assert "out of memory" in error_line(cases["enomem"])[1]
    assert "x.mrc" in error_line(cases["missing"])[1]
    assert error_line(KeyboardInterrupt()) == (130, "napari-irdm: interrupted")
    assert error_line(Terminated(15)) == (143, "napari-irdm: terminated by SIGTERM")
    assert error_line(Terminated(1)) == (129, "napari-irdm: terminated by SIGHUP")
    code, line = error_line(TypeError("a bug"))
    assert code == 1 and "internal error" in line  # bugs are not dressed up as bad input
