"""Single-axis parallel-beam geometry helpers (angles, weights, missing wedge).

Convention (docs/conventions.md): the image at tilt θ is
``p_θ(u, y) = ∫∫ f(z, y, x) δ(u − x cos θ − z sin θ) dx dz`` with ``u``, ``x``
and ``z`` centred on the middle pixel ``(n − 1) / 2``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["angular_weights", "check_angles", "missing_wedge_deg", "tilt_range_deg"]


def check_angles(tilt_angles_deg, n_tilts: int | None = None, *, what: str = "tilt series") -> np.ndarray:
    """Validate tilt angles and return them as a float64 array.

    Raises ``ValueError`` for a wrong count, NaN/Inf or angles outside ±90°.
    """
    a = np.asarray(tilt_angles_deg, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"no tilt angles given for {what}: pass --angles FILE or --tilt-range A B --tilt-step S")
    if n_tilts is not None and a.size != n_tilts:
        raise ValueError(
            f"got {a.size} tilt angles for {n_tilts} images in {what}: give exactly one angle per image"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"tilt angles for {what} contain NaN or Inf: fix the angle file")
    if np.any(np.abs(a) > 90.0 + 1e-6):
        bad = a[np.abs(a) > 90.0 + 1e-6][0]
        raise ValueError(
            f"tilt angle {bad:g}° for {what} is outside ±90°: angles must be in degrees within [-90, 90]"
        )
    return a


def angular_weights(tilt_angles_deg) -> np.ndarray:
    """Angular interval (radians) each projection stands for in a weighted back-projection.

    Each distinct angle gets half the gap to its neighbours (the end angles the full
    gap to their only neighbour); repeated angles share their interval equally. The
    total never exceeds π (a full half-turn), so ±90° series are not over-weighted.

    Returns
    -------
    ndarray, shape (n_tilts,)
    """
    a = np.deg2rad(np.asarray(tilt_angles_deg, dtype=np.float64))
    n = a.size
    if n == 1:
        return np.array([np.pi])
    uniq, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    if uniq.size == 1:
        return np.full(n, np.pi / n)
    gaps = np.diff(uniq)
    w = np.empty_like(uniq)
    w[1:-1] = 0.5 * (gaps[:-1] + gaps[1:])
    w[0] = gaps[0]
    w[-1] = gaps[-1]
    total = w.sum()
    if total > np.pi:
        w *= np.pi / total
    return (w / counts)[inverse]


def tilt_range_deg(tilt_angles_deg) -> tuple[float, float]:
    a = np.asarray(tilt_angles_deg, dtype=np.float64)
    return float(a.min()), float(a.max())


def missing_wedge_deg(tilt_angles_deg) -> float:
    """Opening of the missing wedge in degrees: ``180 − (θmax − θmin)`` (0 for a full range)."""
    lo, hi = tilt_range_deg(tilt_angles_deg)
    return float(max(0.0, 180.0 - (hi - lo)))
