"""Nanocrystal tilt-series simulator for atomic electron tomography.

- :mod:`napari_irdm.crystallography`: lattices (fcc/bcc/sc, element presets), orientations, reflections.
- :mod:`~napari_irdm.simulate.crystal`: nanocrystal shapes cut out of a lattice.
- :mod:`~napari_irdm.simulate.tiltseries`: analytic HAADF-like projections, dose noise, ground-truth volumes,
  :func:`gold_sample`.
- :mod:`~napari_irdm.simulate.store`: saving / loading simulations; :mod:`~napari_irdm.simulate.slices`:
  :func:`slice_source` for the training library.
"""

from napari_irdm.crystallography import ELEMENTS, Lattice, get_lattice, orientation_matrix
from napari_irdm.simulate import tiltseries as _tiltseries
from napari_irdm.simulate.crystal import SHAPES, Nanocrystal, make_nanocrystal
from napari_irdm.simulate.slices import slice_source
from napari_irdm.simulate.store import load_truth, save_simulation
from napari_irdm.simulate.tiltseries import *  # noqa: F403 -- its __all__ is this package's simulation API

__all__ = [
    # crystallography (re-exported)
    "ELEMENTS",
    "Lattice",
    "get_lattice",
    "orientation_matrix",
    # nanocrystals
    "SHAPES",
    "Nanocrystal",
    "make_nanocrystal",
    # files and training slices
    "load_truth",
    "save_simulation",
    "slice_source",
]
# simulation: GroundTruth, Acquisition, gold_sample, simulate_tilt_series(_iter), simulate_iter, ...
__all__ += _tiltseries.__all__
