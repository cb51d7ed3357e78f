"""Crystal orientation from detected Bragg peaks (indexing a lattice without the truth).

Every pair of strong, non-collinear peaks ``(p₁, p₂)`` whose families are known from ``|g|``
proposes orientations: ``p₁`` is one member ``±h₀`` of each symmetry class of its family (the structure's rotation group
moves any member onto one of these two, so nothing is lost), ``p₂`` any member ``h`` of its
family whose angle to ``h₀`` matches the angle between the peaks; the rotation maps the frame of
``(h₀, h)`` onto that of ``(p₁, p₂)``. Each proposal is scored by how many peaks lie within the
indexing tolerance of a rotated lattice point; the best one is refined by a least-squares
rotation (Kabsch) on its matched pairs. Orientations that differ by a symmetry of the lattice
give the same reflections, so any of them serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_irdm.crystallography import Lattice, allowed_hkl, reflection_families, symmetry_classes

__all__ = ["OrientationFit", "fit_orientation"]

#: a fit is believed when it explains at least this many peaks ...
MIN_MATCHED = 6
#: ... and at least this fraction of the peaks it was fitted to ...
MIN_MATCHED_FRACTION = 0.8
#: ... and this fraction of the peaks (at least 3) more than the same search matches on the peaks turned
#: in random directions (the best of NULL_TRIALS tries): chance matches of a dense reciprocal lattice
NULL_MARGIN = 0.2
NULL_TRIALS = 2


@dataclass(frozen=True)
class OrientationFit:
    """A fitted orientation: ``rotation`` (lab ``(x, y, z)`` from crystal), as ``orientation_matrix`` gives."""

    rotation: np.ndarray
    n_matched: int
    n_peaks: int
    rms_inv_A: float
    families: tuple[str, ...]
    #: least-squares ``|g|`` ratio peaks / lattice of the matched pairs (1: the lattice constant and
    #: pixel size agree; 1.02: the peaks sit 2 % further out, i.e. ``a`` or the pixel size is 2 % large)
    scale: float = 1.0


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal frame (columns) of ``a`` and the part of ``b`` perpendicular to it."""
    e1 = a / np.linalg.norm(a)
    e2 = b - (b @ e1) * e1
    e2 /= np.linalg.norm(e2)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=1)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Proper rotation ``R`` minimising ``Σ ‖R src_i − dst_i‖²`` (rows are vectors)."""
    u, _s, vt = np.linalg.svd(dst.T @ src)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def _representatives(members: np.ndarray, classes: np.ndarray) -> list[np.ndarray]:
    """``±`` one member of every symmetry class among ``members`` (same ``|g|``, e.g. 511 and 333)."""
    seen: dict[int, np.ndarray] = {}
    for h, c in zip(members, classes):
        seen.setdefault(int(c), h)
    return [s * h for h in seen.values() for s in (1.0, -1.0)]


def _matches(rot: np.ndarray, g_cryst: np.ndarray, peaks: np.ndarray, tol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each peak, the nearest rotated lattice point and whether it lies within the peak's tolerance."""
    pred = g_cryst @ rot.T  # (m, 3) lab
    dist = np.linalg.norm(peaks[:, None, :] - pred[None, :, :], axis=2)  # (n, m)
    j = np.argmin(dist, axis=1)
    ok = dist[np.arange(len(peaks)), j] <= tol
    return j, ok


def _search(peaks, fams, tol, members, g_cryst, top) -> tuple[int, np.ndarray] | None:
    """The best-scoring orientation proposed by pairs of the ``top`` strongest peaks: ``(score, R)``."""
    best: tuple[int, np.ndarray] | None = None
    for i in range(top):
        for k in range(i + 1, top):
            a, b = peaks[i], peaks[k]
            cos_p = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            if abs(cos_p) > np.cos(np.deg2rad(15.0)):
                continue  # nearly collinear: no frame
            (fa, ca), (fb, _cb) = members[fams[i]], members[fams[k]]
            if not len(fa) or not len(fb):
                continue
            fp = _frame(a, b)
            for h1 in _representatives(fa, ca):
                cos_h = fb @ h1 / (np.linalg.norm(fb, axis=1) * np.linalg.norm(h1))
                for h2 in fb[np.abs(np.degrees(np.arccos(np.clip(cos_h, -1, 1)))
                                    - np.degrees(np.arccos(np.clip(cos_p, -1, 1)))) <= 4.0]:
                    if abs(float(h2 @ h1) / (np.linalg.norm(h2) * np.linalg.norm(h1))) > 0.999:
                        continue
                    rot = fp @ _frame(h1, h2).T
                    _j, ok = _matches(rot, g_cryst, peaks, tol)
                    score = int(ok.sum())
                    if best is None or score > best[0]:
                        best = (score, rot)
    return best


def _chance_level(peaks, fams, tol, members, g_cryst, top) -> int:
    """Best score of the same search on the peaks turned in random directions (``|g|`` and families kept).

    A large cell with many reflections per shell matches random peaks too; computed only for a
    fit that passed the other tests.
    """
    rng = np.random.default_rng(0)
    null = 0
    for _ in range(NULL_TRIALS):
        dirs = rng.normal(size=peaks.shape)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        nb = _search(dirs * np.linalg.norm(peaks, axis=1, keepdims=True), fams, tol, members, g_cryst, top)
        null = max(null, 0 if nb is None else nb[0])
    return null


def fit_orientation(peaks_xyz, families, tolerances, lat: Lattice, *, max_pairs_from: int = 8,
                    min_fraction: float | None = None) -> OrientationFit | None:
    """The orientation that puts the most detected peaks on lattice points, or ``None``.

    Parameters
    ----------
    peaks_xyz : array_like, shape (n, 3)
        Detected peaks ``g`` in 1/Å, lab ``(x, y, z)``, strongest first.
    families : sequence of str
        Family (``"111"``, ...) each peak was indexed to by ``|g|``.
    tolerances : array_like, shape (n,)
        Distance (1/Å) within which a peak matches a lattice point.
    lat : Lattice
    max_pairs_from : int
        Pairs are formed among this many strongest peaks.
    min_fraction : float, optional
        Fraction of the peaks a fit must explain (default :data:`MIN_MATCHED_FRACTION`).

    Returns
    -------
    OrientationFit or None
        ``None`` when no orientation explains :data:`MIN_MATCHED` peaks and
        :data:`MIN_MATCHED_FRACTION` of them, or when it explains hardly more than chance does
        (:data:`NULL_MARGIN`).
    """
    peaks = np.asarray(peaks_xyz, np.float64).reshape(-1, 3)
    tol = np.asarray(tolerances, np.float64).reshape(-1)
    fams = list(families)
    n = len(peaks)
    if n < MIN_MATCHED:
        return None
    # every lattice point out to the peaks' |g| (with room for the indexing tolerance), by family label
    g_max = float(np.max(np.linalg.norm(peaks, axis=1))) * 1.12 + 1.0 / lat.a_A
    hkl_int = allowed_hkl(lat, g_max=g_max)
    g_cryst = lat.g_vectors(hkl_int)
    point_family = np.array(reflection_families(lat, hkl_int))
    point_class = symmetry_classes(lat, hkl_int)
    members = {f: (g_cryst[point_family == f], point_class[point_family == f]) for f in set(fams)}
    top = min(n, int(max_pairs_from))
    best = _search(peaks, fams, tol, members, g_cryst, top)
    if best is None:
        return None
    rot = best[1]
    for _ in range(3):  # refine on the matched pairs, then match again
        j, ok = _matches(rot, g_cryst, peaks, 1.5 * tol)
        if ok.sum() < 3:
            return None
        rot = _kabsch(g_cryst[j[ok]], peaks[ok])
    j, ok = _matches(rot, g_cryst, peaks, tol)
    n_ok = int(ok.sum())
    frac = MIN_MATCHED_FRACTION if min_fraction is None else float(min_fraction)
    if n_ok < MIN_MATCHED or n_ok < frac * n or n_ok < _chance_level(peaks, fams, tol, members, g_cryst, top) + max(
            3, NULL_MARGIN * n):
        return None
    pred = g_cryst[j[ok]] @ rot.T
    res = peaks[ok] - pred
    scale = float((peaks[ok] * pred).sum() / (pred * pred).sum())
    return OrientationFit(rotation=rot, n_matched=n_ok, n_peaks=n, rms_inv_A=float(np.sqrt((res**2).sum(axis=1).mean())),
                          families=tuple(sorted({fams[i] for i in np.flatnonzero(ok)})), scale=scale)
