"""Saving / loading simulations, the `simulate` CLI and the training slice source."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from napari_irdm.cli import main
from napari_irdm.simulate import gold_sample, load_truth, save_simulation, slice_source


def test_save_and_load_round_trip(tmp_path):
    from napari_irdm.io import read_angles, read_tilt_series, read_volume

    ts, truth = gold_sample(tilt_step=10.0, size_nm=1.2, size_px=48, orientation="zone:[110]")
    paths = save_simulation(tmp_path / "sim", ts, truth)
    assert {p.name for p in paths.values()} == {"tilt_series.mrc", "tilt_series.rawtlt", "truth_volume.mrc",
                                               "atoms.csv", "crystal.json"}
    back = read_tilt_series(paths["tilt_series"])
    assert back.pixel_size_A == pytest.approx(0.25)  # voxel size set in the MRC header
    assert np.allclose(back.data, ts.data) and np.allclose(read_angles(paths["angles"]), ts.tilt_angles_deg)
    assert read_volume(paths["volume"]).pixel_size_A == pytest.approx(0.25)
    meta = json.loads(paths["crystal"].read_text())
    assert meta["crystal"]["lattice"]["a_A"] == pytest.approx(4.078)
    t2 = load_truth(tmp_path / "sim")
    assert t2.crystal.n_atoms == truth.crystal.n_atoms
    assert np.allclose(t2.crystal.positions_A, truth.crystal.positions_A, atol=1e-5)
    assert np.allclose(t2.orientation, truth.orientation) and t2.lattice == truth.lattice
    assert np.allclose(t2.volume.data, truth.volume.data) and t2.pixel_size_A == pytest.approx(0.25)
    assert np.allclose(t2.volume.tilt_angles_deg, ts.tilt_angles_deg)
    with pytest.raises(ValueError, match="not a simulation folder"):
        load_truth(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_truth(tmp_path / "nope")


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / "au"
    rc = main(["simulate", "gold", "-o", str(out), "--size-nm", "1.2", "--box", "48", "--tilt-range", "-60", "50",
               "--tilt-step", "10", "--dose", "1e5", "--seed", "3", "--orientation", "zone:[111]"])
    assert rc == 0
    assert "Au atoms" in capsys.readouterr().out
    truth = load_truth(out)
    assert truth.volume.shape == (48, 48, 48) and truth.dose_e_per_A2 == 1e5
    assert np.allclose(truth.orientation @ np.array([1, 1, 1]) / np.sqrt(3), [0, 1, 0])
    assert truth.volume.tilt_angles_deg[0] == -60 and truth.volume.tilt_angles_deg[-1] == 50


@pytest.mark.parametrize(
    "argv, message",
    [
        (["simulate", "unobtainium", "-o", "X"], "unknown lattice"),
        (["simulate", "gold", "-o", "X", "--pixel-size", "-1"], "pixel size"),
        (["simulate", "gold", "-o", "X", "--orientation", "zone:[xyz]"], "zone axis"),
    ],
)
def test_cli_simulate_bad_input(tmp_path, capsys, argv, message):
    argv = [a if a != "X" else str(tmp_path / "o") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_slice_source():
    a, info = slice_source(7, 128, return_info=True)
    assert a.shape == (128, 128) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() == pytest.approx(1.0)
    assert np.array_equal(a, slice_source(7, 128))  # deterministic per index
    assert not np.array_equal(a, slice_source(8, 128))
    assert info["n_atoms_in_slice"] > 0
    elements = {slice_source(i, 64, return_info=True)[1]["element"] for i in range(12)}
    assert len(elements) > 1
    t0 = time.perf_counter()
    for i in range(10):
        slice_source(i, 256)
    assert (time.perf_counter() - t0) / 10 < 0.2
