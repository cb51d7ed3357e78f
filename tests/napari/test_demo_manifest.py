"""Manifest validity, sample data, and the demo (in-process and through the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "src" / "napari_irdm" / "napari.yaml"


def test_manifest_validates_and_imports():
    from npe2 import PluginManifest

    mf = PluginManifest.from_file(MANIFEST)
    mf.validate_imports()  # every python_name resolves
    assert mf.name == "napari-irdm"
    assert {w.display_name for w in mf.contributions.widgets} == {"Align", "Reconstruct", "IRDM inpaint",
                                                                  "Fourier inspector", "Compare", "Trust report"}
    npe2 = Path(sys.executable).with_name("npe2")
    proc = subprocess.run([str(npe2), "validate", str(MANIFEST)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sample_data_small_gold_particle_with_truth():
    from napari_irdm._napari._sample_data import gold_layers

    series, truth = gold_layers(50.0, size_px=48, pixel_size_A=0.5)
    data, kw, _ = series
    assert data.shape == (51, 48, 48) and kw["scale"] == pytest.approx((0.5, 0.5, 0.5))
    angles = np.asarray(kw["metadata"]["tilt_angles_deg"])
    assert angles.min() == pytest.approx(-50) and angles.max() == pytest.approx(50)
    tdata, tkw, _ = truth
    assert tdata.shape == (48, 48, 48) and tkw["visible"] is False
    assert tkw["metadata"]["kind"] == "ground_truth" and tkw["metadata"]["ground_truth"].a_A == pytest.approx(4.078, abs=0.01)
    # the simulated series is the projection of the truth: total intensity matches at every tilt
    sums = data.reshape(len(data), -1).sum(1)
    assert np.std(sums) / np.mean(sums) < 0.05


def _cells_nonblank(img: np.ndarray, shape=(2, 3)) -> list[float]:
    h, w = img.shape[0] // shape[0], img.shape[1] // shape[1]
    gray = img[..., :3].astype(float).mean(-1)
    return [float(gray[r * h:(r + 1) * h, c * w:(c + 1) * w].std()) for r in range(shape[0]) for c in range(shape[1])]


def test_demo_screenshot_shows_grid_with_spectra_and_bragg_circles(make_napari_viewer, tmp_path):
    from skimage.io import imread

    from napari_irdm._napari import _demo
    from napari_irdm.dl.unetpp import UNetPlusPlus

    viewer = make_napari_viewer(show=True)
    tiny = UNetPlusPlus(in_channels=1, out_channels=1, base_width=4, depth=2, residual=True)  # untrained
    built = {}
    real_build = _demo.build_demo
    _demo.build_demo = lambda v, **kw: built.update(real_build(v, **kw)) or built
    try:
        png = tmp_path / "demo.png"
        assert _demo.run_demo(screenshot=png, viewer=viewer, random_model=tiny, size_px=48, pixel_size_A=0.5,
                              tilt_step_deg=3.0) == 0
    finally:
        _demo.build_demo = real_build
    assert "UNTRAINED" in built["note"] and "UNTRAINED" in viewer.canvas.overlays.text.text
    assert [p["name"] for p in built["panels"]] == ["WBP", "IRDM", "ground truth"]
    grid = viewer.canvas.grid
    assert grid.enabled and tuple(grid.shape) == (2, 3)
    overlay = viewer.layers["ground truth Bragg + wedge"]
    types = list(overlay.shape_type)
    assert types.count("line") == 2 and types.count("ellipse") >= 4  # wedge + Bragg circles
    table = built["widgets"]["Fourier inspector"].table.data.to_list()
    limits = {r[0]: (r[3], r[4]) for r in table if r[1] == "info limit"}
    assert set(limits) == {"WBP", "IRDM", "ground truth"}
    assert limits["ground truth"][1] != "none"  # the truth has wedge reflections
    stds = _cells_nonblank(viewer.screenshot(canvas_only=True, flash=False))
    assert min(stds) > 2.0, stds  # six panels, none empty
    img = imread(png)  # the whole window: canvas plus docks
    assert img.ndim == 3 and img[..., :3].std() > 10
    assert img.shape[1] > viewer.window._qt_viewer.canvas.size[0]


def test_demo_cli_without_display_says_how(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    cmd = [str(Path(sys.executable).with_name("napari-irdm")), "demo", "--screenshot", str(tmp_path / "x.png")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "xvfb-run" in proc.stderr and "Traceback" not in proc.stderr
