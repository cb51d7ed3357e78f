"""Tomography core in PyTorch (CPU and CUDA): projector, WBP, SIRT, SART, TV.

All reconstructions take a tilt series ``(n_tilts, ny, nx)`` with the tilt axis along
``y`` and angles in degrees, and return a volume ``(nz, ny, nx)`` (NumPy in → NumPy
out, tensor in → tensor out; a :class:`~napari_irdm.data.TiltSeries` in → a
:class:`~napari_irdm.data.Volume` out, with the series' pixel size, angles and provenance plus
one line naming the method and its parameters; its angles are used unless
``tilt_angles_deg`` is given). TV takes ``tv_weight="auto"`` (cross-validated on held-out tilts); SIRT takes
``stop="discrepancy"``. Each has a generator form (``*_iter``) yielding
:class:`napari_irdm.progress.Progress` and an eager wrapper. Parameters and defaults are defined
once in :mod:`napari_irdm.methods`; :func:`reconstruct_iter` runs a method from them.
"""

from napari_irdm.geometry import angular_weights, missing_wedge_deg
from napari_irdm.tomo._dispatch import describe_step, reconstruct_iter
from napari_irdm.tomo.projector import ParallelProjector, clear_projector_cache
from napari_irdm.tomo.sart import sart, sart_iter
from napari_irdm.tomo.sirt import sirt, sirt_iter
from napari_irdm.tomo.tv import resolve_tv_weight, tv, tv_iter
from napari_irdm.tomo.tv_cp import choose_tv_weight
from napari_irdm.tomo.wbp import wbp, wbp_iter

__all__ = [
    "ParallelProjector",
    "angular_weights",
    "choose_tv_weight",
    "clear_projector_cache",
    "missing_wedge_deg",
    "describe_step",
    "reconstruct_iter",
    "resolve_tv_weight",
    "sart",
    "sart_iter",
    "sirt",
    "sirt_iter",
    "tv",
    "tv_iter",
    "wbp",
    "wbp_iter",
]
