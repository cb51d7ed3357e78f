"""Shared test fixtures. Tests never need ../shared: they generate small data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("NAPARI_IRDM_DEVICE", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


#: Debian packages the viewer tests need (napari under Xvfb with Mesa OpenGL and Qt 6's xcb plugin)
VIEWER_APT = ("xvfb xauth libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 "
              "libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 "
              "libdbus-1-3 libfontconfig1 libglib2.0-0")


def display_problem() -> str | None:
    """Why the viewer tests cannot open a window here, as one line with the fix; ``None`` if they can."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    if shutil.which("Xvfb") is None:
        return ("the napari viewer tests need a display: no DISPLAY and no Xvfb here. Install "
                f"(Debian/Ubuntu) `sudo apt-get install {VIEWER_APT}` or run them on a desktop")
    return None


def pytest_collection_modifyitems(config, items):
    """Stop before a viewer test would abort Python (Qt without a display) and say what to install."""
    viewer_tests = [it for it in items if "napari" in Path(str(it.fspath)).parts]
    problem = display_problem() if viewer_tests else None
    if problem:
        pytest.exit(problem, returncode=2)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; the test is skipped when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield
