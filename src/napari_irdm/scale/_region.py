"""A sub-volume of a (lazy) volume: ``"z0:z1, y0:y1, x0:x1"`` in voxels, loaded on its own."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_REGION_VOXELS", "parse_region", "take_region"]

#: the largest region loaded into memory for an analysis (1 GiB of float32)
MAX_REGION_VOXELS = 2**28


def parse_region(text: str | None, shape) -> tuple[slice, slice, slice]:
    """``"z0:z1, y0:y1, x0:x1"`` (any part empty = all of it; ``""`` = the whole volume) as slices.

    Raises
    ------
    ValueError
        Not three ranges of whole numbers, or a range empty / outside ``shape``.
    """
    shape = tuple(int(s) for s in shape)
    text = str(text or "").strip()
    if not text:
        return (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError(f"sub-volume {text!r} must be three ranges 'z0:z1, y0:y1, x0:x1' (voxels; empty = all)")
    out: list[slice] = []
    for axis, part, n in zip("zyx", parts, shape):
        lo, sep, hi = part.partition(":")
        try:
            a = int(lo) if lo.strip() else 0
            b = int(hi) if hi.strip() else n
        except ValueError:
            raise ValueError(f"sub-volume range {part!r} along {axis} must be whole numbers 'start:stop'") from None
        if not sep:
            b = a + 1
        if not 0 <= a < b <= n:
            raise ValueError(f"sub-volume range {part!r} along {axis} must lie in 0:{n} and not be empty")
        out.append(slice(a, b))
    return out[0], out[1], out[2]


def take_region(data, text: str | None = None, *, max_voxels: int = MAX_REGION_VOXELS) -> np.ndarray:
    """Load ``data[region]`` (NumPy, memmap, dask or zarr, shape (nz, ny, nx)) as float32.

    Raises
    ------
    MemoryError
        The region has more than ``max_voxels`` voxels (choose a smaller one).
    """
    region = parse_region(text, data.shape)
    n = int(np.prod([s.stop - s.start for s in region]))
    if n > max_voxels:
        raise MemoryError(f"the sub-volume has {n} voxels (more than {max_voxels}): choose a smaller one, "
                          "e.g. '0:256, 0:256, 0:256'")
    block = data[region]
    if hasattr(block, "compute"):
        block = block.compute()
    return np.asarray(block, dtype=np.float32)
