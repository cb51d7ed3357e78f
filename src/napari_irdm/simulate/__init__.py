"""Nanocrystal tilt-series simulator for atomic electron tomography.

- :mod:`~napari_irdm.simulate.crystal`: lattices (fcc/bcc/sc, element presets), nanocrystal shapes, orientations.
- :mod:`~napari_irdm.simulate.tiltseries`: analytic HAADF-like projections, dose noise, ground-truth volumes,
  :func:`gold_sample`, saving / loading simulations, :func:`slice_source` for the training library.
"""

from napari_irdm.simulate.crystal import (
    ELEMENTS,
    SHAPES,
    Lattice,
    Nanocrystal,
    get_lattice,
    make_nanocrystal,
    orientation_matrix,
)
from napari_irdm.simulate.tiltseries import (
    GroundTruth,
    gold_sample,
    load_truth,
    render_volume,
    save_simulation,
    simulate_iter,
    simulate_tilt_series,
    simulate_tilt_series_iter,
    slice_source,
    tilt_angles,
)

__all__ = [
    "ELEMENTS",
    "SHAPES",
    "GroundTruth",
    "Lattice",
    "Nanocrystal",
    "get_lattice",
    "gold_sample",
    "load_truth",
    "make_nanocrystal",
    "orientation_matrix",
    "render_volume",
    "save_simulation",
    "simulate_iter",
    "simulate_tilt_series",
    "simulate_tilt_series_iter",
    "slice_source",
    "tilt_angles",
]
