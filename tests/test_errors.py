"""Core errors name parameters; the CLI and napari each say which of their controls that is."""

import subprocess
import sys

import numpy as np
import pytest

from napari_irdm.errors import ParameterError, in_terms_of


def test_in_terms_of_replaces_only_the_named_parameters_in_backticks():
    err = ParameterError("the device 'tpu' in field 'device' is unknown: give `device` 'cpu'", "device")
    assert in_terms_of(err, {"device": "--device"}) == "the device 'tpu' in field 'device' is unknown: give --device 'cpu'"
    assert in_terms_of(ValueError("give `device`"), {"device": "--device"}) == "give `device`"


def _stack(tmp_path):
    import mrcfile

    p = tmp_path / "ts.mrc"
    with mrcfile.new(str(p)) as m:
        m.set_data(np.zeros((3, 8, 8), np.float32))
    return p


def test_core_says_parameters_cli_says_flags(tmp_path):
    from napari_irdm._cli._common import error_line
    from napari_irdm.io import read_tilt_series

    p = _stack(tmp_path)
    with pytest.raises(ParameterError) as info:
        read_tilt_series(p)
    msg = str(info.value)
    assert "`angles_file`" in msg and "`tilt_range`" in msg and "--" not in msg
    code, line = error_line(info.value)
    assert code == 2 and "--angles FILE" in line and "--tilt-range A B" in line and "--tilt-step S" in line
    assert "angles_file" not in line


def test_cli_prints_the_flag(tmp_path):
    p = _stack(tmp_path)
    r = subprocess.run([sys.executable, "-m", "napari_irdm.cli", "reconstruct", str(p), "-o", str(tmp_path / "v.mrc")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "give --angles FILE, or --tilt-range A B with --tilt-step S" in r.stderr, r.stderr


def test_device_error_names_the_parameter():
    from napari_irdm.device import resolve_device

    with pytest.raises(ParameterError, match="give `device`") as info:
        resolve_device("tpu")
    assert info.value.params == ("device",)
