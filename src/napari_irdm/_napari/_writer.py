"""napari writer: an image layer to MRC, keeping voxel size, angles and provenance.

Volumes are written with :func:`napari_irdm.io.write_volume` (float32 MRC, voxel size in Å,
provenance in the header labels, tilt angles of the series in the extended header). A
tilt-series layer is written with :func:`napari_irdm.io.write_tilt_series` (an MRC image stack
plus an IMOD ``.rawtlt`` sidecar), so that reading either back restores what it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_irdm.data import Volume

__all__ = ["write_mrc"]


def write_mrc(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer for image layers.

    Parameters
    ----------
    path : str
        Target ``.mrc`` / ``.rec`` / ``.st`` / ``.ali`` file (written atomically).
    data : array, shape (nz, ny, nx) or (n_tilts, ny, nx)
        Layer data.
    meta : dict
        Layer attributes (``scale``, ``metadata``, ``name``...).

    Returns
    -------
    list of str
        Paths written.
    """
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series, write_volume

    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"layer {meta.get('name', '')!r} has {arr.ndim} dimensions: only 3D image layers can be saved as MRC")
    md = dict(meta.get("metadata") or {})
    px = md.get("pixel_size_A")
    if not px:
        scale = np.asarray(meta.get("scale", (1.0,) * arr.ndim), dtype=float)
        px = float(scale[-1]) if scale[-1] != 1.0 else None
    px = float(px) if px else None
    angles = md.get("tilt_angles_deg")
    angles = None if angles is None else np.asarray(angles, dtype=np.float64)
    history = tuple(str(p) for p in (md.get("provenance") or ()))
    step = f"saved layer {meta.get('name', '')!r} from napari"
    arr = arr.astype(np.float32, copy=False)
    if md.get("kind") == "tilt_series" and angles is not None:
        series = TiltSeries(data=arr, tilt_angles_deg=angles, pixel_size_A=px,
                            angle_source=str(md.get("angle_source", "layer metadata")), provenance=history)
        out = write_tilt_series(path, series.with_step(step))
        return [str(out), str(Path(out).with_suffix(".rawtlt"))]
    volume = Volume(data=arr, pixel_size_A=px, tilt_angles_deg=angles, provenance=history)
    return [str(write_volume(path, volume.with_step(step)))]
