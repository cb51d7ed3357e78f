"""Bragg reflections of cubic lattices and their missing-wedge region (part of :mod:`.bragg`).

Frames: reciprocal vectors ``g`` are ``(kz, ky, kx)`` in 1/Å; an orientation is the rotation
``R`` with ``r_lab = R @ r_crystal``, so ``g_lab = R @ (h, k, l) / a``. Spots are counted per
Friedel pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_irdm.geometry import measured_directions
from napari_irdm.simulate.crystal import Lattice, get_lattice, orientation_matrix

__all__ = ["Reflection", "expected_reflections", "family_label", "wedge_region", "wedge_regions"]


# ------------------------------------------------------------------ reflections
@dataclass(frozen=True)
class Reflection:
    """One reflection (one member of a Friedel pair).

    Attributes
    ----------
    hkl : (h, k, l)
    family : str
        Label of all reflections sharing ``h²+k²+l²`` (e.g. ``"111"``, ``"511/333"``).
    d_A : float
        Interplanar spacing (Å).
    g : (kz, ky, kx)
        Reciprocal vector in 1/Å in the volume frame.
    """

    hkl: tuple[int, int, int]
    family: str
    d_A: float
    g: tuple[float, float, float]

    @property
    def g_norm(self) -> float:
        return 1.0 / self.d_A


def _class_label(hkl) -> str:
    v = sorted((abs(int(i)) for i in hkl), reverse=True)
    return "".join(str(i) for i in v) if max(v) < 10 else " ".join(str(i) for i in v)


def family_label(lattice, n2: int) -> str:
    """Label of the reflections with ``h²+k²+l² = n2`` allowed by ``lattice`` (``"511/333"``)."""
    lat = get_lattice(lattice, 1.0) if not isinstance(lattice, Lattice) else lattice
    m = int(np.floor(np.sqrt(n2)))
    labels = []
    for h in range(m, -1, -1):
        for k in range(h, -1, -1):
            for l in range(k, -1, -1):  # noqa: E741
                if h * h + k * k + l * l == n2 and lat.allowed([h, k, l]):
                    labels.append(_class_label((h, k, l)))
    return "/".join(labels)


def _all_hkl(lat: Lattice, n2_max: float) -> np.ndarray:
    m = int(np.floor(np.sqrt(n2_max + 1e-9)))
    r = np.arange(-m, m + 1)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    n2 = (hkl**2).sum(axis=1)
    keep = (n2 > 0) & (n2 <= n2_max + 1e-9)
    hkl = hkl[keep]
    return hkl[lat.allowed(hkl)]


def expected_reflections(lattice="fcc", a_A: float | None = None, *, d_min_A: float, orientation=None,
                         friedel_pairs: bool = True) -> list[Reflection]:
    """Reflections of a cubic lattice down to ``d_min_A``, with extinctions.

    Parameters
    ----------
    lattice : str or Lattice
        ``"fcc"``, ``"bcc"``, ``"sc"`` (with ``a_A``) or an element (``"Au"``).
    a_A : float, optional
        Lattice constant (Å).
    d_min_A : float
        Smallest d-spacing to list (Å).
    orientation : None, 3×3 rotation, "zone:[hkl]" or Euler angles
        ``None`` = identity (``[100] ∥ x``, ``[010] ∥ y``, ``[001] ∥ z``).
    friedel_pairs : bool
        List one member of each ``±g`` pair (the one whose first non-zero index is positive).

    Returns
    -------
    list of Reflection
        Sorted by decreasing d, then hkl.

    Notes
    -----
    Structure-factor extinctions: fcc allows h, k, l all even or all odd; bcc h+k+l even;
    sc everything. ``d = a / √(h²+k²+l²)``.
    """
    lat = get_lattice(lattice, a_A)
    d_min = float(d_min_A)
    if not np.isfinite(d_min) or d_min <= 0:
        raise ValueError(f"d_min_A must be a positive spacing in Å, got {d_min_A}")
    rot = np.eye(3) if orientation is None else orientation_matrix(orientation)
    hkl = _all_hkl(lat, (lat.a_A / d_min) ** 2)
    if friedel_pairs and len(hkl):
        first = np.where(hkl[:, 0] != 0, hkl[:, 0], np.where(hkl[:, 1] != 0, hkl[:, 1], hkl[:, 2]))
        hkl = hkl[first > 0]
    n2 = (hkl**2).sum(axis=1)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], n2))
    labels: dict[int, str] = {}
    out = []
    for i in order:
        key = int(n2[i])
        if key not in labels:
            labels[key] = family_label(lat, key)
        g = (rot @ (hkl[i] / lat.a_A))[::-1]
        out.append(Reflection(tuple(int(v) for v in hkl[i]), labels[key], float(lat.a_A / np.sqrt(key)),
                              tuple(float(v) for v in g)))
    return out


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
