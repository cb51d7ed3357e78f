"""Packaging: a NON-editable wheel carries napari.yaml, declares it, validates, and is discovered.

The wheel is built from a copy of the tree (so the shared working tree gets no build/ folder),
installed with ``pip --target`` into a temp folder, and a fresh interpreter started with
``-S`` (no site hooks, so the editable install's .pth does not run) and that folder first on
``sys.path`` must find the plugin there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _copy_tree(dst: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
    shutil.copytree(REPO / "src", dst / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dst / name)
    if not (dst / "README.md").exists():
        (dst / "README.md").write_text("napari-irdm\n")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    tree = work / "tree"
    tree.mkdir()
    _copy_tree(tree)
    dist = work / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(tree), "-w", str(dist)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [whl] = sorted(dist.glob("napari_irdm-*.whl"))
    return whl


def test_root_manifest_is_a_link_to_the_packaged_one():
    root = REPO / "napari.yaml"
    assert root.is_symlink()
    assert root.resolve() == (REPO / "src" / "napari_irdm" / "napari.yaml").resolve()


def test_wheel_contains_manifest_and_entry_point(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_irdm/napari.yaml" in names
        assert "napari_irdm/_napari/_widgets/reconstruct.py" in names
        [ep_name] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(ep_name).decode()
        manifest = zf.read("napari_irdm/napari.yaml")
    assert "[napari.manifest]" in entry_points
    assert "napari-irdm = napari_irdm:napari.yaml" in entry_points
    assert manifest == (REPO / "src" / "napari_irdm" / "napari.yaml").read_bytes()
    out = tmp_path / "napari.yaml"
    out.write_bytes(manifest)
    npe2 = Path(sys.executable).with_name("npe2")
    proc = subprocess.run([str(npe2), "validate", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stdout + proc.stderr


_PROBE = r"""
import importlib.util, json, sys
from importlib import metadata
from npe2 import PluginManager
pm = PluginManager()
pm.discover()
mf = pm.get_manifest("napari-irdm")
spec = importlib.util.find_spec("napari_irdm")
dist = metadata.distribution("napari-irdm")
print(json.dumps({
    "manifest_dir": spec.submodule_search_locations[0],
    "dist_path": str(dist.locate_file("")),
    "commands": [c.id for c in mf.contributions.commands],
    "widgets": [w.display_name for w in mf.contributions.widgets],
    "samples": [s.key for s in mf.contributions.sample_data],
    "readers": [p for r in mf.contributions.readers for p in r.filename_patterns],
    "version": mf.package_metadata.version if mf.package_metadata else None,
}))
"""


def test_installed_wheel_is_discovered_by_npe2(wheel, tmp_path):
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (target / "napari_irdm" / "napari.yaml").is_file()
    site_packages = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), site_packages])
    # -S: no site.py, so the editable install's .pth (which adds src/) is never processed
    proc = subprocess.run([sys.executable, "-S", "-c", _PROBE], capture_output=True, text=True, timeout=300,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(info["manifest_dir"]).resolve() == (target / "napari_irdm").resolve()
    assert Path(info["dist_path"]).resolve() == target.resolve()
    assert "napari-irdm.get_reader" in info["commands"]
    assert {"Align", "Reconstruct", "IRDM inpaint", "Fourier inspector", "Compare"} <= set(info["widgets"])
    assert {"gold_70", "gold_50"} <= set(info["samples"])
    assert "*.mrc" in info["readers"] and "*.tif" in info["readers"]
    assert info["version"]


_NAPARI_W = r"""
import json, sys
import napari
import napari.__main__ as cli

def _report(*args, **kwargs):  # instead of entering the event loop
    viewer = napari.current_viewer()
    docked = {name: type(w).__module__ + "." + type(w).__name__ for name, w in viewer.window.dock_widgets.items()}
    files = {name: sys.modules[type(w).__module__].__file__ for name, w in viewer.window.dock_widgets.items()}
    print(json.dumps({"docked": docked, "files": files}))
    viewer.close()

napari.run = _report
sys.argv = ["napari", "-w", "napari-irdm", "__all__"]
cli._run()
"""


def test_napari_dash_w_docks_every_widget_from_the_wheel(wheel, tmp_path):
    """``napari -w napari-irdm __all__`` after a non-editable install docks our four widgets, from the wheel."""
    if not os.environ.get("DISPLAY"):
        pytest.skip("needs a display (the test suite starts Xvfb)")
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])
    proc = subprocess.run([sys.executable, "-S", "-c", _NAPARI_W], capture_output=True, text=True, timeout=300,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(info["docked"]) == {f"{n} (napari-irdm)" for n in ("Align", "Reconstruct", "IRDM inpaint", "Fourier inspector",
                                                                   "Compare", "Trust report")}
    assert info["docked"]["Reconstruct (napari-irdm)"].endswith("reconstruct.ReconstructWidget")
    for f in info["files"].values():
        assert Path(f).resolve().is_relative_to(target.resolve()), f
