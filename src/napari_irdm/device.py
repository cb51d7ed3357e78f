"""The one place that asks which compute device to use (DESIGN rule 4)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from napari_irdm.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "available_devices",
    "available_memory_bytes",
    "cuda_device_count",
    "host_memory_bytes",
    "memory_limit_bytes",
    "resolve_device",
]


def available_devices() -> list[str]:
    """Device names this machine computes on.

    ``"auto"``, ``"cpu"``, plus ``"cuda"`` and ``"cuda:0"``... and ``"mps"`` where present (for device pickers; all valid for
    :func:`resolve_device`). Only ``auto`` and ``cpu`` when torch cannot be imported.
    """
    choices = ["auto", "cpu"]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; a broken install still offers the CPU
        return choices
    if torch.cuda.is_available():
        choices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append("mps")
    return choices


def resolve_device(device: Any = None) -> torch.device:
    """Turn ``None`` / ``"auto"`` / ``"cpu"`` / ``"cuda[:i]"`` / ``"mps"`` / a torch device into a device.

    ``None`` and ``"auto"`` pick CUDA when available, else Apple MPS, else the CPU.
    The environment variable ``NAPARI_IRDM_DEVICE`` overrides ``"auto"``.

    Raises
    ------
    ValueError
        If the named device does not exist here (or is not one we compute on: ``meta``,
        ``xpu``...), with a hint on what does; a bad ``NAPARI_IRDM_DEVICE`` is named as such.
    """
    import torch

    if isinstance(device, torch.device):
        return _check_device(device, device, "")
    name = "auto" if device is None else str(device).strip().lower()
    origin = ""
    if name == "auto":
        env = os.environ.get("NAPARI_IRDM_DEVICE", "auto").strip().lower() or "auto"
        if env != "auto":
            name, origin = env, " (from the environment variable NAPARI_IRDM_DEVICE)"
            device = env
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ParameterError(f"unknown device {device!r}{origin}: give `device` 'auto', 'cpu' or 'cuda'", "device") from None
    return _check_device(dev, device, origin)


_SUPPORTED_TYPES = ("cpu", "cuda", "mps")


def _check_device(dev, device, origin: str):
    import torch

    if dev.type not in _SUPPORTED_TYPES:
        raise ParameterError(f"device {str(device)!r}{origin} is not supported (napari-irdm computes on "
                             "'cpu', 'cuda' or 'mps'): give `device` 'auto', 'cpu' or 'cuda'", "device")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {str(device)!r}{origin} asked for but CUDA is not available here: "
                                 "give `device` 'cpu'", "device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}{origin} does not exist: {torch.cuda.device_count()} CUDA "
                             "device(s) here")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ParameterError(f"device {str(device)!r}{origin} asked for but MPS is not available here: "
                                 "give `device` 'cpu'", "device")
    return dev


def memory_limit_bytes() -> int | None:
    """The cap set by ``NAPARI_IRDM_MEMORY_LIMIT_MB`` in bytes, or ``None``.

    Raises
    ------
    ValueError
        When the variable is set but not a positive number (the message names it).
    """
    cap = os.environ.get("NAPARI_IRDM_MEMORY_LIMIT_MB")
    if cap is None or not cap.strip():
        return None
    try:
        mb = float(cap)
    except ValueError:
        mb = float("nan")
    if not (mb > 0 and mb < 2**40):
        raise ValueError(f"the environment variable NAPARI_IRDM_MEMORY_LIMIT_MB={cap!r} must be a positive number "
                         "of MiB (e.g. 4096): fix or unset it")
    return int(mb * 1024**2)


def _address_space_left() -> int | None:
    """Bytes the address-space limit (``ulimit -v``) still allows this process, or ``None``."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    used = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return max(0, int(soft) - used)


def host_memory_bytes() -> int:
    """RAM this process can still use, in bytes.

    ``MemAvailable``, capped by ``ulimit -v`` and ``NAPARI_IRDM_MEMORY_LIMIT_MB``. Used for
    the up-front estimates (no torch import).
    """
    free = None
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
    left = _address_space_left()
    if left is not None:
        free = min(free, left)
    cap = memory_limit_bytes()
    if cap is not None:
        free = min(free, cap)
    return int(free)


def available_memory_bytes(device: Any = None) -> int:
    """Free memory on ``device`` in bytes (GPU memory on CUDA, available RAM otherwise).

    Used to size chunks of slices (DESIGN rule 6). The environment variable
    ``NAPARI_IRDM_MEMORY_LIMIT_MB`` caps the figure (useful on shared machines).
    """
    import torch

    dev = resolve_device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        cap = memory_limit_bytes()
        return int(free if cap is None else min(free, cap))
    return host_memory_bytes()


def cuda_device_count() -> int:
    """How many CUDA devices this process sees (0 without CUDA).

    The scale-out engine gives each local worker one of them.
    """
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
