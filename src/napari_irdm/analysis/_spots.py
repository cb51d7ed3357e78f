"""Measuring Bragg spots in a power spectrum: SNR against a local shell (part of :mod:`.bragg`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FamilyCount", "Spot", "measure_spots"]


# ---------------------------------------------------------------- spot measuring
@dataclass
class Spot:
    """A tested position in the power spectrum.

    ``position_vox`` is where the spot is expected (z, y, x voxel indices of the centred spectrum),
    ``found_vox`` the sub-voxel maximum near it, ``snr`` = (peak − median of the local shell) /
    (1.4826 · MAD of the shell), on the 3×3×3-max-filtered log spectrum.
    """

    kind: str
    hkl: tuple[int, int, int] | None
    family: str
    d_A: float
    g_inv_A: tuple[float, float, float]
    position_vox: tuple[float, float, float]
    found_vox: tuple[float, float, float]
    snr: float
    region: str
    detected: bool

    @classmethod
    def tested(cls, kind: str, *, family: str, d_A: float, g, position, found, snr, region: str,
               threshold: float, hkl=None) -> Spot:
        """A spot measured at ``position``: detected when its SNR is finite and ≥ ``threshold``.

        Parameters
        ----------
        kind : {"reflection", "peak", "control"}
        family, d_A, g, position, found, snr, region
            As the attributes (``g`` is ``g_inv_A``; ``position`` / ``found`` are voxel indices).
        threshold : float
            Detection threshold on ``snr``.
        hkl : (h, k, l), optional
            Miller indices (reflections of a known orientation only).
        """
        s = float(snr)
        return cls(kind=kind, hkl=hkl, family=family, d_A=d_A, g_inv_A=tuple(g), position_vox=tuple(position),
                   found_vox=tuple(found), snr=s, region=region, detected=bool(np.isfinite(s) and s >= threshold))


@dataclass
class FamilyCount:
    family: str
    d_A: float
    expected: dict = field(default_factory=dict)
    detected: dict = field(default_factory=dict)


def _shell_offsets(r_in: float, r_out: float) -> np.ndarray:
    m = int(np.ceil(r_out))
    r = np.arange(-m, m + 1)
    o = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    d = np.sqrt((o**2).sum(axis=1))
    return o[(d >= r_in) & (d <= r_out)]


def _refine(spec: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Sub-voxel maximum of ``spec`` in the 3×3×3 neighbourhood of integer position ``q``."""
    shape = np.array(spec.shape)
    o = np.stack(np.meshgrid(*(np.arange(-1, 2),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    idx = (q[None] + o) % shape
    vals = spec[idx[:, 0], idx[:, 1], idx[:, 2]]
    best = q + o[int(np.argmax(vals))]
    out = best.astype(np.float64)
    for ax in range(3):
        e = np.zeros(3, dtype=np.int64)
        e[ax] = 1
        a, b, c = (spec[tuple((best + s * e) % shape)] for s in (-1, 0, 1))
        den = a - 2 * b + c
        if den < 0:
            out[ax] += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return out


def measure_spots(spec: np.ndarray, positions_vox, *, exclude_vox=None, shell_vox=(3.0, 6.0),
                  exclude_radius_vox: float = 3.0, filtered: np.ndarray | None = None):
    """Signal-to-background of spots in a centred log power spectrum.

    Parameters
    ----------
    spec : ndarray, shape (nz, ny, nx)
        Log power spectrum from :func:`napari_irdm.analysis.spectrum.power_spectrum_3d`.
    positions_vox : ndarray, shape (M, 3)
        Expected spot positions (fractional voxel indices).
    exclude_vox : ndarray, shape (K, 3), optional
        Positions (other reflections) whose neighbourhood is left out of every background shell.
    shell_vox : (r_in, r_out)
        Background shell radii in voxels.
    exclude_radius_vox : float
        Radius left out around each excluded position and around the origin (×2).

    Returns
    -------
    snr : ndarray, shape (M,)
    found : ndarray, shape (M, 3)
        Sub-voxel maxima of ``spec`` within one voxel of the rounded positions.

    Notes
    -----
    Peak and background are both taken from the 3×3×3 maximum-filtered spectrum, so a spot
    that is pure background has the same statistics as its shell: the false-positive rate
    of ``snr ≥ 3`` is small and is measured by the off-lattice controls.
    """
    from scipy.ndimage import maximum_filter

    spec = np.asarray(spec)
    shape = np.array(spec.shape)
    m = maximum_filter(spec, size=3, mode="wrap") if filtered is None else filtered
    pos = np.atleast_2d(np.asarray(positions_vox, dtype=np.float64))
    offs = _shell_offsets(*shell_vox)
    centre = shape // 2
    excl = np.zeros((0, 3)) if exclude_vox is None else np.atleast_2d(np.asarray(exclude_vox, dtype=np.float64))
    snr = np.empty(len(pos))
    found = np.empty((len(pos), 3))
    for i, p in enumerate(pos):
        q = np.rint(p).astype(np.int64)
        pts = q[None] + offs
        keep = np.sqrt(((pts - centre) ** 2).sum(axis=1)) > 2 * exclude_radius_vox
        if len(excl):
            near = excl[np.abs(excl - p).max(axis=1) <= shell_vox[1] + exclude_radius_vox + 1]
            near = near[np.sqrt(((near - p) ** 2).sum(axis=1)) > 0.5]  # not the spot itself
            for e in near:
                keep &= np.sqrt(((pts - e) ** 2).sum(axis=1)) > exclude_radius_vox
        pts = pts[keep] % shape
        qq = q % shape
        peak = float(m[qq[0], qq[1], qq[2]])
        if len(pts) < 10:
            snr[i] = np.nan
        else:
            bg = m[pts[:, 0], pts[:, 1], pts[:, 2]].astype(np.float64)
            med = float(np.median(bg))
            sig = 1.4826 * float(np.median(np.abs(bg - med)))
            sig = max(sig, 1e-6 * max(1.0, abs(med)))
            snr[i] = (peak - med) / sig
        found[i] = _refine(spec, qq) + (q - qq)
    return snr, found
