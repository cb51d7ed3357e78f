"""Missing-wedge region of Bragg reflections (part of :mod:`.bragg`).

The reflections themselves (lattices, extinctions, family labels) are crystallography:
:mod:`napari_irdm.crystallography`, re-exported here. Reciprocal vectors ``g`` are
``(kz, ky, kx)`` in 1/Å; the wedge rule is :func:`napari_irdm.geometry.measured_directions`.
"""

from __future__ import annotations

import numpy as np

from napari_irdm.crystallography import Reflection, expected_reflections, family_label
from napari_irdm.geometry import measured_directions

__all__ = ["Reflection", "expected_reflections", "family_label", "wedge_region", "wedge_regions"]


# ---------------------------------------------------------------- missing wedge
def wedge_regions(g, tilt_angles_deg, *, margin_inv_A: float = 0.0) -> np.ndarray:
    """Vectorised :func:`wedge_region`: array of ``"measured"`` / ``"wedge"`` for ``g`` of shape (..., 3)."""
    g = np.asarray(g, dtype=np.float64)
    if g.shape[-1] != 3:
        raise ValueError(f"g must have 3 components (kz, ky, kx), got shape {g.shape}")
    if tilt_angles_deg is None:
        return np.full(g.shape[:-1], "measured", dtype=object)
    measured = measured_directions(g[..., 0], g[..., 2], tilt_angles_deg, margin=margin_inv_A)
    return np.where(measured, "measured", "wedge").astype(object)


def wedge_region(g, tilt_angles_deg, *, margin_inv_A: float = 0.0) -> str:
    """Whether reciprocal vector ``g`` was measured by a single-axis tilt series.

    Parameters
    ----------
    g : (kz, ky, kx)
        Reciprocal vector (1/Å, or any unit: only its direction matters unless ``margin_inv_A``).
    tilt_angles_deg : array_like
        The series' tilt angles (only the range ``[θmin, θmax]`` matters).
    margin_inv_A : float
        ``g`` closer than this (1/Å) to the measured sector counts as measured.

    Returns
    -------
    {"measured", "wedge"}

    Notes
    -----
    By the Fourier-slice theorem the projection at tilt θ (``u = x cos θ + z sin θ``) measures
    the central plane through ``ky`` and the direction ``(kx, kz) = (cos θ, sin θ)``. So ``g`` is
    measured iff its azimuth ``φ = atan2(gz, gx)`` (modulo 180°) lies in ``[θmin, θmax]``; the
    missing wedge is centred on ``kz`` and, for asymmetric ranges, is asymmetric about it.
    ``g`` along ``ky`` (the tilt axis) is always measured.
    """
    return str(wedge_regions(np.asarray(g, dtype=np.float64)[None], tilt_angles_deg, margin_inv_A=margin_inv_A)[0])
