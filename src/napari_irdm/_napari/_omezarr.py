"""napari reader for OME-Zarr volumes: lazy (dask) and multiscale, so big results browse in place.

Like :mod:`napari_irdm._napari._reader` it never raises: foreign folders get ``None``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["napari_get_reader", "read_omezarr_layers"]

log = logging.getLogger(__name__)


def napari_get_reader(path) -> Callable | None:
    """npe2 ``get_reader`` hook for ``*.zarr`` folders holding a 3-D OME-Zarr image."""
    try:
        if isinstance(path, (list, tuple)):
            if len(path) != 1:
                return None
            path = path[0]
        p = os.fspath(path).rstrip("/")
        if not p.lower().endswith(".zarr"):
            return None
        from napari_irdm.io.omezarr import is_omezarr

        return read_omezarr_layers if is_omezarr(p) else None
    except Exception:  # noqa: BLE001 -- a reader hook must never raise
        log.debug("napari-irdm: not reading %r", path, exc_info=True)
        return None


def read_omezarr_layers(path) -> list[tuple] | None:
    """One multiscale image layer: ``data`` the pyramid (dask arrays, nothing loaded),
    ``scale`` the voxel size in Å, ``metadata`` as for MRC volumes (``kind``, ``pixel_size_A``,
    ``tilt_angles_deg``, ``provenance``, ``source``, ``lazy``)."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    p = os.fspath(path).rstrip("/")
    try:
        from napari_irdm.io.omezarr import open_omezarr

        vol = open_omezarr(p)
        px = vol.pixel_size_A or 1.0
        coarse = vol.levels[-1]
        step = max(1, int(np.ceil((coarse.size / 2e6) ** (1 / 3))))  # a few MB whatever the size
        lo, hi = (float(v) for v in np.percentile(np.asarray(coarse[::step, ::step, ::step]), [0.5, 99.8]))
        kwargs = {
            "name": Path(p).stem,
            "multiscale": len(vol.levels) > 1,
            "scale": (px, px, px),
            "axis_labels": ("z", "y", "x"),
            "colormap": "gray",
            "metadata": {
                "kind": "volume",
                "pixel_size_A": vol.pixel_size_A,
                "tilt_angles_deg": None if vol.tilt_angles_deg is None else [float(a) for a in vol.tilt_angles_deg],
                "provenance": tuple(vol.provenance),
                "source": p,
                "lazy": True,
            },
        }
        if hi > lo:
            kwargs["contrast_limits"] = (lo, hi)
        data = list(vol.levels) if len(vol.levels) > 1 else vol.levels[0]
        return [(data, kwargs, "image")]
    except Exception as err:  # noqa: BLE001 -- never raise from a reader
        from napari_irdm._napari._reader import could_not_open

        could_not_open(p, err)
        return None
