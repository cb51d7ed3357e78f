"""Geometry of power-spectrum layers (pure NumPy, no Qt): frequency <-> pixel, sections, overlays.

A spectrum layer shares the pixel grid of its volume (scale = voxel size in Å) so it lines
up with the volume in napari's grid; this module converts spatial frequencies (1/Å) to
pixel positions and back, and computes the overlays drawn on the central sections.

Sections (rows, columns) of a ``(kz, ky, kx)`` spectrum:

- ``"kx-kz"``: rows ``kz``, columns ``kx`` (the plane of the missing wedge)
- ``"kx-ky"``: rows ``ky``, columns ``kx``
- ``"ky-kz"``: rows ``kz``, columns ``ky``
"""

from __future__ import annotations

import numpy as np

from napari_irdm.geometry import tilt_range_deg

__all__ = [
    "SECTION_AXES",
    "d_spacing_at",
    "freq_to_index",
    "index_to_freq",
    "section_spots",
    "spot_indices",
    "with_friedel_mates",
    "wedge_lines",
]

#: section name -> (row axis, column axis, normal axis) in (kz, ky, kx) order
SECTION_AXES = {"kx-kz": (0, 2, 1), "kx-ky": (1, 2, 0), "ky-kz": (0, 1, 2)}


def _origin_step(freq_axis) -> tuple[float, float]:
    f = np.asarray(freq_axis, dtype=np.float64)
    if f.size < 2:
        return 0.0, 1.0
    return float(f[0]), float(f[1] - f[0])


def freq_to_index(k, freqs) -> np.ndarray:
    """Fractional array index of spatial frequencies ``k`` (..., 3) in 1/Å, ``(kz, ky, kx)`` order."""
    k = np.asarray(k, dtype=np.float64)
    out = np.empty_like(k)
    for a in range(3):
        f0, df = _origin_step(freqs[a])
        out[..., a] = (k[..., a] - f0) / df
    return out


def index_to_freq(idx, freqs) -> np.ndarray:
    """Spatial frequency (1/Å, ``(kz, ky, kx)``) of fractional array indices ``idx`` (..., 3)."""
    idx = np.asarray(idx, dtype=np.float64)
    out = np.empty_like(idx)
    for a in range(3):
        f0, df = _origin_step(freqs[a])
        out[..., a] = f0 + idx[..., a] * df
    return out


def d_spacing_at(idx, freqs) -> tuple[float, float]:
    """``(|k| in 1/Å, d in Å)`` at fractional index ``idx`` (3,) of a spectrum (d = inf at k = 0)."""
    k = index_to_freq(np.asarray(idx, dtype=np.float64)[None, :], freqs)[0]
    kn = float(np.linalg.norm(k))
    return kn, (1.0 / kn if kn > 0 else float("inf"))


def spot_indices(spots, freqs) -> np.ndarray:
    """Fractional ``(z, y, x)`` spectrum indices (n, 3) of Bragg-report spots.

    Uses a spot's ``position_vox`` (expected position, known orientation) or ``found_vox``
    (a detected peak), else converts its reciprocal vector ``g_inv_A`` / ``g`` (1/Å).
    """
    out = []
    for s in spots:
        pos = getattr(s, "position_vox", None)
        if pos is None:
            pos = getattr(s, "found_vox", None)
        if pos is None:
            g = getattr(s, "g_inv_A", None)
            if g is None:
                g = getattr(s, "g", None)
            pos = freq_to_index(np.asarray(g, dtype=np.float64)[None], freqs)[0]
        out.append(np.asarray(pos, dtype=np.float64))
    return np.array(out).reshape(-1, 3)


def with_friedel_mates(idx_zyx, spots, freqs) -> tuple[np.ndarray, list]:
    """Add the Friedel mate ``-g`` of every spot (same detection: ``|F(g)|² = |F(-g)|²`` for a
    real volume), so circles appear on both sides of the origin. Returns ``(idx, spots)``."""
    idx = np.asarray(idx_zyx, dtype=np.float64).reshape(-1, 3)
    if idx.size == 0:
        return idx, list(spots)
    centre = np.array([len(f) // 2 for f in freqs], dtype=np.float64)
    mates = 2 * centre - idx
    return np.concatenate([idx, mates]), list(spots) + list(spots)


def section_spots(idx_zyx, section: str, freqs, *, tolerance_px: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Positions (row, col) on a central section of spots at spectrum indices ``idx_zyx`` (n, 3).

    Returns ``(positions (m, 2), keep (n,) bool)``: spots within ``tolerance_px`` of the
    section plane are kept.
    """
    idx = np.asarray(idx_zyx, dtype=np.float64).reshape(-1, 3)
    if idx.size == 0:
        return np.zeros((0, 2)), np.zeros(0, bool)
    r, c, n = SECTION_AXES[section]
    centre = np.array([len(f) // 2 for f in freqs], dtype=np.float64)
    keep = np.abs(idx[:, n] - centre[n]) <= tolerance_px
    return idx[keep][:, [r, c]], keep


def wedge_lines(tilt_angles_deg, freqs, section: str = "kx-kz") -> list[np.ndarray]:
    """Boundary lines of the measured region in the ``kx-kz`` section, one per extreme tilt.

    By the Fourier-slice theorem a projection at tilt θ samples the line
    ``(kx, kz) ∝ (cos θ, sin θ)``; the measured region lies between the lines of the
    smallest and largest tilt (:func:`napari_irdm.geometry.tilt_range_deg`), the missing wedge outside. Each line is an array
    ``[[row0, col0], [row1, col1]]`` through the centre, clipped to the section.
    """
    if section != "kx-kz":
        return []
    lo, hi = tilt_range_deg(tilt_angles_deg)
    r_ax, c_ax, _ = SECTION_AXES[section]
    centre = freq_to_index(np.zeros((1, 3)), freqs)[0]
    n_r, n_c = len(freqs[r_ax]), len(freqs[c_ax])
    _, dkz = _origin_step(freqs[r_ax])
    _, dkx = _origin_step(freqs[c_ax])
    kmax = min(abs(dkz) * (n_r // 2), abs(dkx) * (n_c // 2))
    lines = []
    for theta in sorted({lo, hi}):
        t = np.deg2rad(theta)
        kz, kx = kmax * np.sin(t), kmax * np.cos(t)
        dr, dc = kz / dkz, kx / dkx
        lines.append(np.array([[centre[r_ax] - dr, centre[c_ax] - dc], [centre[r_ax] + dr, centre[c_ax] + dc]]))
    return lines
