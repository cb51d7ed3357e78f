"""Tomography core in PyTorch (CPU and CUDA): projector, WBP, SIRT/SART, TV."""

from napari_irdm.tomo.geometry import angular_weights, missing_wedge_deg
from napari_irdm.tomo.projector import ParallelProjector
from napari_irdm.tomo.wbp import wbp, wbp_iter

__all__ = ["ParallelProjector", "angular_weights", "missing_wedge_deg", "wbp", "wbp_iter"]
