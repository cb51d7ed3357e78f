"""Tomography core in PyTorch (CPU and CUDA): projector, WBP, SIRT, SART, TV.

All reconstructions take a tilt series ``(n_tilts, ny, nx)`` with the tilt axis along
``y`` and angles in degrees, and return a volume ``(nz, ny, nx)`` (NumPy in → NumPy
out, tensor in → tensor out). TV takes ``tv_weight="auto"`` (cross-validated on held-out tilts); SIRT takes
``stop="discrepancy"``. Each has a generator form (``*_iter``) yielding
:class:`napari_irdm.progress.Progress` and an eager wrapper.
"""

from napari_irdm.geometry import angular_weights, missing_wedge_deg
from napari_irdm.tomo.projector import ParallelProjector, clear_projector_cache
from napari_irdm.tomo.sart import sart, sart_iter
from napari_irdm.tomo.sirt import sirt, sirt_iter
from napari_irdm.tomo.tv import tv, tv_iter
from napari_irdm.tomo.tv_cp import choose_tv_weight
from napari_irdm.tomo.wbp import wbp, wbp_iter

__all__ = [
    "ParallelProjector",
    "angular_weights",
    "choose_tv_weight",
    "clear_projector_cache",
    "missing_wedge_deg",
    "sart",
    "sart_iter",
    "sirt",
    "sirt_iter",
    "tv",
    "tv_iter",
    "wbp",
    "wbp_iter",
]
