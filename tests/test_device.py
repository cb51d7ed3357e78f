"""device.py is the one place that asks which devices exist; the napari widgets offer its answer."""

from __future__ import annotations

from pathlib import Path

import torch

from napari_irdm.device import available_devices, resolve_device


def test_available_devices_are_what_this_machine_has_and_all_resolve():
    names = available_devices()
    assert names[:2] == ["auto", "cpu"]
    assert ("cuda" in names) == torch.cuda.is_available()
    assert sum(n.startswith("cuda:") for n in names) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    for name in names:
        assert resolve_device(name).type in ("cpu", "cuda", "mps")


def test_the_napari_shell_does_not_ask_torch_for_devices():
    shell = Path(__file__).resolve().parents[1] / "src" / "napari_irdm" / "_napari"
    offenders = [p.name for p in shell.rglob("*.py") if "torch.cuda" in p.read_text() or "backends.mps" in p.read_text()]
    assert offenders == []
