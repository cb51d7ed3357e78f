"""napari writer: an image layer to MRC, keeping voxel size, angles and provenance.

Volumes are written with :func:`napari_irdm.io.write_volume` (float32 MRC, voxel size in Å,
provenance in the header labels). A tilt-series layer is written the same way plus an IMOD
``.rawtlt`` sidecar with its tilt angles, so that reading it back restores the angles.
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
    from napari_irdm import __version__
    from napari_irdm.io import write_volume
    from napari_irdm.io.angles import write_angles

    arr = np.asarray(data)
    if arr.ndim != 3:
        raise ValueError(f"layer {meta.get('name', '')!r} has {arr.ndim} dimensions: only 3D image layers can be saved as MRC")
    md = dict(meta.get("metadata") or {})
    px = md.get("pixel_size_A")
    if not px:
        scale = np.asarray(meta.get("scale", (1.0,) * arr.ndim), dtype=float)
        px = float(scale[-1]) if scale[-1] != 1.0 else None
    angles = md.get("tilt_angles_deg")
    provenance = [str(p) for p in (md.get("provenance") or ())]
    provenance.append(f"napari-irdm {__version__}: saved layer {meta.get('name', '')!r} from napari")
    volume = Volume(
        data=arr.astype(np.float32, copy=False),
        pixel_size_A=float(px) if px else None,
        tilt_angles_deg=None if angles is None else np.asarray(angles, dtype=np.float64),
        provenance=tuple(provenance),
    )
    written = [str(write_volume(path, volume, pixel_size_A=volume.pixel_size_A, provenance=volume.provenance) or path)]
    if md.get("kind") == "tilt_series" and angles is not None:
        sidecar = Path(path).with_suffix(".rawtlt")
        write_angles(sidecar, np.asarray(angles, dtype=np.float64))
        written.append(str(sidecar))
    return written
