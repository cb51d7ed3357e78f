"""What a step chose from the data goes into its provenance line ("...; chosen key=value")."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from napari_irdm import TiltSeries, Volume, tomo
from napari_irdm.data import format_choices, note_choice, recording_choices
from napari_irdm.tomo import ParallelProjector
from napari_irdm.tomo.tv_cp import choose_tv_weight

ANGLES = np.arange(-60.0, 61.0, 4.0)
N = 24


def _series(rel_noise: float = 0.03, seed: int = 0) -> np.ndarray:
    z, x = np.mgrid[:N, :N] - (N - 1) / 2.0
    s = ((z / 7.0) ** 2 + (x / 9.0) ** 2 < 1).astype(np.float32)
    vol = np.ascontiguousarray(np.repeat(s[:, None, :], 4, axis=1))
    b = ParallelProjector(ANGLES, vol.shape).forward(vol)
    rng = np.random.default_rng(seed)
    return (b + rng.normal(0.0, rel_noise * float(b.max()), b.shape)).astype(np.float32)


def _chosen(line: str) -> dict[str, str]:
    assert "; chosen " in line, line
    return dict(re.findall(r"(\w+)=([^\s;]+)", line.split("; chosen ", 1)[1].split(";")[0]))


def test_recorders_nest_and_keep_threads_apart():
    note_choice("lost", 1)  # no recorder: nothing happens
    with recording_choices() as outer:
        note_choice("a", 1)
        with recording_choices() as inner:
            note_choice("b", 2.5)
        note_choice("c", "x")
        seen = {}

        def other():
            note_choice("d", 4)  # another thread has no recorder of its own
            with recording_choices() as mine:
                note_choice("e", 5)
            seen.update(mine)

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert outer == {"a": 1, "c": "x"} and inner == {"b": 2.5} and seen == {"e": 5}
    assert format_choices("tv method=x", {"tv_weight": 0.00316, "none": None}) == "tv method=x; chosen tv_weight=0.00316"
    assert format_choices("step", {}) == "step"


def test_tv_auto_records_the_weight_it_chose():
    b = _series()
    vol = tomo.tv(TiltSeries(b, tilt_angles_deg=ANGLES), tv_weight="auto", iterations=40)
    assert isinstance(vol, Volume)
    chosen = _chosen(vol.provenance[-1])
    expect = choose_tv_weight(b, ANGLES, iterations=40)
    assert float(chosen["tv_weight"]) == pytest.approx(expect, rel=1e-5)
    # a fixed weight chooses nothing
    fixed = tomo.tv(TiltSeries(b, tilt_angles_deg=ANGLES), tv_weight=1e-4, iterations=5)
    assert "; chosen" not in fixed.provenance[-1]


def test_sirt_discrepancy_records_where_the_slices_stopped():
    b = _series(0.05)
    vol, info = tomo.sirt(TiltSeries(b, tilt_angles_deg=ANGLES), iterations=200, stop="discrepancy",
                          return_info=True)
    its = info["iterations"]
    assert its.max() < 200  # noisy data stop early
    lo, med, hi = (int(v) for v in _chosen(vol.provenance[-1])["stopped_at"].split(".."))
    assert (lo, med, hi) == (int(its.min()), int(np.median(its)), int(its.max()))
