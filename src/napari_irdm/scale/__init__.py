"""Beyond one machine: slab-parallel reconstruction on Dask, OME-Zarr output, lazy tilt series.

Slices perpendicular to the tilt axis (``y``) are independent, so a series splits into slabs
of y-slices that are reconstructed as independent Dask tasks by the project's own methods
(WBP, SIRT, SART, TV, IRDM) and written chunk by chunk into an OME-Zarr store (or an MRC).
Schedulers: Dask's threaded one (default), a ``LocalCluster`` (``"local:N"``) or any
existing cluster (``"tcp://HOST:PORT"``, e.g. dask-jobqueue on SLURM). See docs/scale.md.

Importing this package loads NumPy only; dask / distributed / torch are imported on use.
"""

from napari_irdm.scale._schedulers import parse_scheduler
from napari_irdm.scale._slab import Cancelled
from napari_irdm.scale._source import LazySeries, as_dask, open_series


def __getattr__(name):  # the engine imports torch (via tomo): only when asked for
    if name in ("reconstruct", "reconstruct_iter", "slab_size"):
        from napari_irdm.scale import _engine

        return getattr(_engine, name)
    raise AttributeError(f"module 'napari_irdm.scale' has no attribute {name!r}")


__all__ = ["Cancelled", "LazySeries", "as_dask", "open_series", "parse_scheduler", "reconstruct",
           "reconstruct_iter", "slab_size"]
