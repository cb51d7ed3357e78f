"""One ``jsonable`` for every JSON writer (Bragg reports, model cards): strict JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_irdm._json import jsonable


def test_numpy_values_become_python_and_round_trip_as_strict_json():
    value = {1: np.float32(0.5), "a": np.arange(3, dtype=np.int16), "b": (np.bool_(True), np.int64(7)),
             "c": np.array([[1.25, np.nan]]), "d": Path("/tmp/x.mrc"), "e": None, "f": "text"}
    out = jsonable(value)
    assert out == {"1": 0.5, "a": [0, 1, 2], "b": [True, 7], "c": [[1.25, None]], "d": "/tmp/x.mrc",
                   "e": None, "f": "text"}
    assert type(out["b"][0]) is bool and type(out["b"][1]) is int and type(out["a"][0]) is int
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # no NaN / Inf left: strict JSON


def test_digits_round_floats_only_when_asked():
    x = {"v": [np.float64(1 / 3), 2.0, float("inf"), -float("inf")], "n": 3}
    assert jsonable(x) == {"v": [1 / 3, 2.0, None, None], "n": 3}
    assert jsonable(x, digits=6) == {"v": [0.333333, 2.0, None, None], "n": 3}
    assert jsonable(np.float32(0.1), digits=3) == 0.1


def test_unknown_objects_become_their_text():
    class Thing:
        def __str__(self):
            return "thing"

    assert jsonable({"t": Thing()}) == {"t": "thing"}


def test_torch_values():
    torch = pytest.importorskip("torch")
    out = jsonable({"lr": torch.tensor(0.5), "w": torch.ones(2), "dev": torch.device("cpu")})
    assert out == {"lr": 0.5, "w": [1.0, 1.0], "dev": "cpu"}


def test_bragg_report_json_has_the_old_rounding():
    from napari_irdm.analysis._spots import Spot
    from napari_irdm.analysis.bragg import BraggReport

    sp = Spot.tested("reflection", family="111", d_A=2.3544, g=(0.1, 0.2, np.float64(1 / 3)), position=(1, 2, 3),
                     found=np.array([1.0, 2.0, 3.0]), snr=np.nan, region="wedge", threshold=3.0, hkl=(1, 1, 1))
    assert sp.detected is False  # NaN SNR is never detected
    rep = BraggReport([], [sp], [], None, 0.0, 3.0, 0.25, 2.0, (-70.0, 70.0), (8, 8, 8), {}, True)
    d = json.loads(rep.to_json())
    assert d["spots"][0]["g_inv_A"] == [0.1, 0.2, 0.333333] and d["spots"][0]["snr"] is None
