"""Single-axis tilt geometry: the one place that knows angles and the missing wedge.

NumPy only (no torch), so every package — ``io``, ``simulate``, ``analysis``, ``tomo``,
``dl``, ``train`` and both shells — uses it instead of re-deriving it.

Convention (docs/DESIGN.md): the image at tilt θ is
``p_θ(u, y) = ∫∫ f(z, y, x) δ(u − x cos θ − z sin θ) dx dz`` with ``u``, ``x`` and ``z``
centred on the middle pixel ``(n − 1) / 2``. By the Fourier-slice theorem that image
measures the central line ``(kx, kz) ∝ (cos θ, sin θ)`` of every y-slice's spectrum, so a
series over ``[θmin, θmax]`` measures the directions whose azimuth ``atan2(kz, kx)``
(taken modulo 180°: a line through the origin) lies in that interval; the rest is the
missing wedge — centred on ``kz`` for a symmetric range, off-centre for an asymmetric one.

Errors name the parameter (:class:`napari_irdm.errors.ParameterError`); the CLI and napari
say which of their own controls that is.
"""

from __future__ import annotations

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "MAX_ANGLES",
    "angles_from_range",
    "angles_on_grid",
    "angular_weights",
    "check_angles",
    "direction_distance_deg",
    "measured_directions",
    "missing_wedge_deg",
    "tilt_range_deg",
    "wedge_mask",
]

#: the most angles a range may expand to (a typo like step 0.0001 would otherwise allocate GBs)
MAX_ANGLES = 100_000

_TOL_DEG = 1e-6


def check_angles(tilt_angles_deg, n_images: int | None = None, *, what: str = "tilt series",
                 source: str | None = None) -> np.ndarray:
    """Validate tilt angles and return them as a flat float64 array.

    Parameters
    ----------
    tilt_angles_deg : array_like
        Angles in degrees, one per image; any order, repeats allowed.
    n_images : int, optional
        Number of images they must match (``None``: no count check).
    what : str
        What the angles belong to, said in the message (e.g. a file name).
    source : str, optional
        Where the angles came from (e.g. ``"rawtlt: a.rawtlt"``), said in the message.

    Returns
    -------
    ndarray, shape (n,), float64

    Raises
    ------
    ValueError
        No angles, a count that differs from ``n_images``, NaN/Inf, or an angle outside ±90°.
    """
    a = np.asarray(tilt_angles_deg, dtype=np.float64).ravel()
    src = f" ({source})" if source else ""
    if a.size == 0:
        raise ParameterError(f"no tilt angles{src} for {what}: give `tilt_angles_deg`, one angle per image",
                             "tilt_angles_deg")
    if n_images is not None and a.size != n_images:
        raise ValueError(f"got {a.size} tilt angles{src} for {n_images} images in {what}: "
                         "give exactly one angle per image")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"the angle of image {int(np.argmax(bad))}{src} for {what} is NaN or Inf: fix the angles")
    out = np.abs(a) > 90.0 + _TOL_DEG
    if out.any():
        i = int(np.argmax(out))
        raise ValueError(f"tilt angle {a[i]:g} (image {i}{src}) for {what} is outside ±90°: "
                         "give angles in degrees within [-90, 90]")
    return a


def _check_step(start: float, stop: float, step: float) -> float:
    if not (np.isfinite(start) and np.isfinite(stop) and np.isfinite(step)):
        raise ValueError(f"tilt range {start:g}:{stop:g} step {step:g} is not finite: give numbers in degrees")
    if step == 0:
        raise ParameterError("tilt step is 0: give a non-zero `tilt_step` in degrees (e.g. 2)", "tilt_step")
    count = np.floor(abs(stop - start) / abs(step) + _TOL_DEG) + 1
    if count > MAX_ANGLES:
        raise ParameterError(f"tilt range {start:g}:{stop:g} with step {abs(step):g} gives {count:.3g} angles "
                             f"(at most {MAX_ANGLES}): give `tilt_step` in degrees (e.g. 2)", "tilt_step")
    return float(step)


def angles_from_range(start: float, stop: float, step: float) -> np.ndarray:
    """Acquisition order ``start, start ± step, …`` up to ``stop`` inclusive (degrees).

    The sign of the step follows ``stop − start`` (a descending range is allowed); ``stop``
    is included when it lies on the grid (within 1e-6 of a step).

    Parameters
    ----------
    start, stop : float
        First and last tilt in degrees.
    step : float
        Increment in degrees (its sign is ignored).

    Returns
    -------
    ndarray, float64
    """
    start, stop = float(start), float(stop)
    step = abs(_check_step(start, stop, float(step)))
    step = step if stop >= start else -step
    n = int(np.floor((stop - start) / step + _TOL_DEG)) + 1
    return start + step * np.arange(n, dtype=np.float64)


def angles_on_grid(lo: float, hi: float, step: float) -> np.ndarray:
    """The end angles ``lo`` and ``hi`` plus every multiple of ``step`` strictly between them.

    Unlike :func:`angles_from_range` the inner angles sit on the absolute grid
    ``k·step`` (so an asymmetric range ``−37..52`` in steps of 2 holds ``−36, −34, …``),
    which keeps the angles of many random ranges on one shared grid. Sorted, rounded to 1e-6°.

    Parameters
    ----------
    lo, hi : float
        Range ends in degrees (``lo ≤ hi``).
    step : float
        Positive grid spacing in degrees.

    Returns
    -------
    ndarray, float64
    """
    lo, hi, step = float(lo), float(hi), abs(_check_step(float(lo), float(hi), float(step)))
    if hi < lo:
        raise ValueError(f"tilt range {lo:g}..{hi:g} is reversed: give lo <= hi")
    k0 = int(np.floor(lo / step)) + 1
    k1 = int(np.ceil(hi / step)) - 1
    inner = np.arange(k0, k1 + 1) * step
    inner = inner[(inner > lo + 1e-9) & (inner < hi - 1e-9)]
    return np.unique(np.round(np.concatenate([[lo], inner, [hi]]), 6))


def angular_weights(tilt_angles_deg) -> np.ndarray:
    """Angular interval (radians) each projection stands for in a weighted back-projection.

    Each distinct angle gets half the gap to its neighbours (the end angles the full
    gap to their only neighbour); repeated angles share their interval equally. The
    total never exceeds π (a full half-turn), so ±90° series are not over-weighted.

    Parameters
    ----------
    tilt_angles_deg : array_like
        Angles in degrees.

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
    """``(θmin, θmax)`` of the angles in degrees (checked with :func:`check_angles`)."""
    a = check_angles(tilt_angles_deg, what="tilt range")
    return float(a.min()), float(a.max())


def missing_wedge_deg(tilt_angles_deg) -> float:
    """Opening of the missing wedge in degrees: ``180 − (θmax − θmin)`` (0 for a full range)."""
    lo, hi = tilt_range_deg(tilt_angles_deg)
    return float(max(0.0, 180.0 - (hi - lo)))


def direction_distance_deg(phi_deg, tilt_angles_deg) -> np.ndarray:
    """Angular distance (degrees) of Fourier directions to the measured sector.

    Parameters
    ----------
    phi_deg : array_like
        Azimuths ``atan2(kz, kx)`` in degrees (any value; a line through the origin is
        the same line every 180°).
    tilt_angles_deg : array_like
        The series' angles; only ``[θmin, θmax]`` matters (the range is taken as fully sampled).

    Returns
    -------
    ndarray
        0 inside ``[θmin, θmax]`` (modulo 180°), else the angle to the nearer end of the
        range, in ``(0, 90]``.
    """
    lo, hi = tilt_range_deg(tilt_angles_deg)
    phi = np.asarray(phi_deg, dtype=np.float64)
    if np.any(np.abs(phi) > 180.0):
        phi = np.mod(phi + 180.0, 360.0) - 180.0
    # fold the line's direction into (-90, 90]
    phi = np.where(phi > 90.0, phi - 180.0, phi)
    phi = np.where(phi <= -90.0, phi + 180.0, phi)
    dist = np.full(phi.shape, np.inf)
    for shift in (-180.0, 0.0, 180.0):
        p = phi + shift
        dist = np.minimum(dist, np.where(p < lo, lo - p, np.where(p > hi, p - hi, 0.0)))
    return dist


def measured_directions(kz, kx, tilt_angles_deg, *, margin: float = 0.0) -> np.ndarray:
    """Whether Fourier vectors ``(kz, kx)`` were measured by the series (boolean array).

    Parameters
    ----------
    kz, kx : array_like
        Components along the beam (z) and across the tilt axis (x), any unit.
    tilt_angles_deg : array_like
        The series' angles (only the range matters).
    margin : float
        A vector whose distance (same unit as ``k``) to the measured sector is at most this
        counts as measured. The origin and the tilt axis (``kz = kx = 0``) are always measured.

    Returns
    -------
    ndarray of bool
    """
    kz, kx = np.broadcast_arrays(np.asarray(kz, dtype=np.float64), np.asarray(kx, dtype=np.float64))
    r = np.hypot(kz, kx)
    dist = direction_distance_deg(np.degrees(np.arctan2(kz, kx)), tilt_angles_deg)
    inside = dist <= 1e-9
    near = r * np.sin(np.radians(np.minimum(dist, 90.0))) <= margin
    return inside | near | (r <= 1e-12)


def wedge_mask(shape: tuple[int, int], tilt_angles_deg, *, soft_deg: float = 3.0) -> np.ndarray:
    """Weight of the *measured* Fourier region of a ``(nz, nx)`` slice (1 = measured).

    Parameters
    ----------
    shape : (int, int)
        Slice shape ``(nz, nx)``; the mask is laid out like ``numpy.fft.fft2`` of the slice
        (unshifted; frequencies ``fftfreq(nz)`` along axis 0, ``fftfreq(nx)`` along axis 1).
    tilt_angles_deg : array_like
        Tilt angles in degrees; only their minimum and maximum matter. Asymmetric ranges work.
    soft_deg : float
        Width in degrees of a raised-cosine edge that falls from 1 to 0 *inside the wedge*,
        so the measured cone itself always has weight exactly 1. 0 gives a hard mask.

    Returns
    -------
    ndarray, shape (nz, nx), float32
        1 on measured directions (and at the origin), 0 deep in the missing wedge.
        Symmetric under ``k → −k``, so blending keeps real slices real.
    """
    nz, nx = (int(s) for s in shape)
    if nz < 1 or nx < 1:
        raise ValueError(f"wedge_mask needs a positive (nz, nx) shape, got {shape}")
    if soft_deg < 0:
        raise ValueError(f"soft_deg must be >= 0, got {soft_deg}")
    kz = np.fft.fftfreq(nz)[:, None]
    kx = np.fft.fftfreq(nx)[None, :]
    dist = direction_distance_deg(np.degrees(np.arctan2(kz, kx)), tilt_angles_deg)
    if soft_deg > 0:
        w = np.where(dist <= 0, 1.0, np.where(dist < soft_deg, 0.5 * (1 + np.cos(np.pi * dist / soft_deg)), 0.0))
    else:
        w = (dist <= 1e-9).astype(np.float64)
    w[0, 0] = 1.0
    # the Nyquist row/column is its own mirror with the opposite direction sign: make the
    # mask exactly symmetric under the DFT's k -> -k so blended slices stay real
    mirror = np.roll(np.flip(w, axis=(0, 1)), 1, axis=(0, 1))
    return np.maximum(w, mirror).astype(np.float32)
