"""The one place that asks which compute device to use (DESIGN rule 4)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["available_memory_bytes", "resolve_device"]


def resolve_device(device: Any = None) -> torch.device:
    """Turn ``None`` / ``"auto"`` / ``"cpu"`` / ``"cuda[:i]"`` / ``"mps"`` / a torch device into a device.

    ``None`` and ``"auto"`` pick CUDA when available, else Apple MPS, else the CPU.
    The environment variable ``NAPARI_IRDM_DEVICE`` overrides ``"auto"``.

    Raises
    ------
    ValueError
        If the named device does not exist here, with a hint on what does.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device).strip().lower()
    if name == "auto":
        name = os.environ.get("NAPARI_IRDM_DEVICE", "auto").strip().lower() or "auto"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but CUDA is not available here: use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r} asked for but MPS is not available here: use --device cpu")
    return dev


def available_memory_bytes(device: Any = None) -> int:
    """Free memory on ``device`` in bytes (GPU memory on CUDA, available RAM otherwise).

    Used to size chunks of slices (DESIGN rule 6). The environment variable
    ``NAPARI_IRDM_MEMORY_LIMIT_MB`` caps the figure (useful on shared machines).
    """
    import torch

    dev = resolve_device(device)
    free = None
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
    else:
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        free = int(line.split()[1]) * 1024
                        break
        except OSError:
            free = None
        if free is None:
            free = 4 * 1024**3
    cap = os.environ.get("NAPARI_IRDM_MEMORY_LIMIT_MB")
    if cap:
        free = min(free, int(float(cap) * 1024**2))
    return int(free)
