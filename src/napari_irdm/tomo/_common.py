"""Private helpers shared by the reconstruction algorithms: input checks and chunking."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from napari_irdm.device import available_memory_bytes, resolve_device
from napari_irdm.tomo.geometry import check_angles

__all__ = ["as_series", "check_series", "chunk_ranges", "slices_per_chunk"]


def check_series(tilt_series, tilt_angles_deg, *, what: str = "tilt series") -> np.ndarray:
    """Check shape / finiteness of a tilt series and its angles; return the angles."""
    shape = tuple(getattr(tilt_series, "shape", ()))
    if len(shape) != 3:
        raise ValueError(
            f"{what} must be 3-D (n_tilts, ny, nx), got shape {shape}: stack the projections into one array"
        )
    if min(shape) < 1:
        raise ValueError(f"{what} is empty (shape {shape})")
    return check_angles(tilt_angles_deg, shape[0], what=what)


def as_series(block, device: torch.device) -> torch.Tensor:
    """A chunk of a NumPy / memmap / torch series as a float32 tensor on ``device``; rejects NaN/Inf."""
    if isinstance(block, torch.Tensor):
        t = block.to(device=device, dtype=torch.float32)
    else:
        t = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)).to(device)
    if not bool(torch.isfinite(t).all()):
        raise ValueError("tilt series contains NaN or Inf values: replace them (e.g. np.nan_to_num) before reconstructing")
    return t


def slices_per_chunk(bytes_per_slice: int, n_slices: int, device: Any = None, *, fraction: float = 0.25,
                     cap_bytes: int = 1 << 30) -> int:
    """How many slices fit in a chunk given free memory on ``device`` (DESIGN rule 6)."""
    dev = resolve_device(device)
    budget = min(int(available_memory_bytes(dev) * fraction), cap_bytes if dev.type == "cpu" else 8 * cap_bytes)
    return int(max(1, min(n_slices, budget // max(1, bytes_per_slice))))


def chunk_ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, n, max(1, size))]
