"""Install paths a new user takes: the torch build chosen, a missing Qt binding, no display, licence, README links."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "install_torch.sh"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A fresh venv without torch (and without pip: the dry run installs nothing)."""
    env = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    return env / "bin" / "python"


def _choose(bare_python: Path, tmp_path: Path, gpu: bool) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if gpu:
        fake = bindir / "nvidia-smi"
        fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0000)'\n")
        fake.chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(["bash", str(SCRIPT), str(bare_python), "--dry-run"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_torch_install_takes_cuda_build_only_with_an_nvidia_gpu(bare_python, tmp_path):
    out = _choose(bare_python, tmp_path, gpu=True)
    assert "NVIDIA GPU found" in out
    [cmd] = [line for line in out.splitlines() if line.startswith("would run:")]
    assert "torch==2.13.0" in cmd and "index-url" not in cmd


def test_torch_install_takes_cpu_build_without_gpu(bare_python, tmp_path):
    out = _choose(bare_python, tmp_path, gpu=False)
    assert "no NVIDIA GPU" in out
    [cmd] = [line for line in out.splitlines() if line.startswith("would run:")]
    assert "torch==2.13.0" in cmd and "--index-url https://download.pytorch.org/whl/cpu" in cmd


def test_torch_install_leaves_an_existing_torch_alone(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), sys.executable, "--dry-run"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "already installed" in proc.stdout and "would run" not in proc.stdout


def test_demo_without_qt_binding_is_one_line(tmp_path):
    code = ("import sys\n"
            "for m in ('PyQt6', 'PySide6', 'PyQt5', 'PySide2'): sys.modules[m] = None\n"
            "from napari_irdm.cli import main\n"
            f"sys.exit(main(['demo', '--screenshot', {str(tmp_path / 'x.png')!r}]))\n")
    env = dict(os.environ, DISPLAY=":99", QT_API="")
    env.pop("QT_API")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "napari-irdm[all]" in lines[0] and "Qt" in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_viewer_tests_without_display_say_what_to_install(tmp_path):
    """No DISPLAY and no Xvfb on PATH: pytest stops at once with the Debian list, no Qt abort."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv's bin: no Xvfb there
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(REPO / "tests" / "napari" / "test_reader_writer.py")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]
    assert "Fatal Python error" not in out
    [line] = [ln for ln in out.splitlines() if "need a display" in ln]
    for pkg in ("xvfb", "xauth", "libgl1-mesa-dri", "libxcb-cursor0", "libxkbcommon-x11-0"):
        assert pkg in line
    assert "libxcb-*" not in line


def test_licence_file_matches_pyproject():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "BSD-3-Clause" and "LICENSE" in meta["license-files"]
    text = (REPO / "LICENSE").read_text()
    assert "BSD 3-Clause License" in text and "Neither the name of the copyright holder" in text
    extras = meta["optional-dependencies"]
    assert any(d.lower().startswith("pyqt6") for d in extras["qt"]) and not any("pyqt5" in d.lower()
                                                                               for v in extras.values() for d in v)


def test_readme_links_are_absolute_and_point_at_files_in_this_repo():
    """PyPI and the napari hub render the README outside the repository: links must be absolute."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    home = meta["urls"]["Source Code"].rstrip("/")
    text = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(links) >= 8
    for link in links:
        assert link.startswith(("https://", "http://", "#")), f"relative link {link!r} breaks on PyPI"
        for prefix in (f"{home}/blob/main/", f"{home}/tree/main/",
                       home.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"):
            if link.startswith(prefix):
                target = REPO / link[len(prefix):].split("#")[0]
                assert target.exists(), f"{link} points at {target}, which is not in the repository"
