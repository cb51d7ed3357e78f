"""Random-ellipsoid 3-D phantom with exact (analytic) parallel-beam projections.

Shared by the benchmarks. The tilt series is computed from the ellipsoids' line
integrals, not with any of the compared projectors, so no method reconstructs
data made by its own discretisation.
"""

from __future__ import annotations

import numpy as np


def random_ellipsoids(n: int, count: int = 24, seed: int = 0) -> np.ndarray:
    """Rows ``(z0, y0, x0, az, ay, ax, density)`` in pixels (centred coordinates).

    Every ellipsoid lies inside the cylinder ``x² + z² < (0.45 n)²`` so it stays in
    every projection and in the reconstruction circle.
    """
    rng = np.random.default_rng(seed)
    rows = []
    while len(rows) < count:
        az, ax = rng.uniform(0.04, 0.16, 2) * n
        ay = rng.uniform(0.05, 0.3) * n
        r = rng.uniform(0, 0.42 * n - max(az, ax))
        if r < 0:
            continue
        phi = rng.uniform(0, 2 * np.pi)
        z0, x0 = r * np.sin(phi), r * np.cos(phi)
        y0 = rng.uniform(-0.3, 0.3) * n
        rows.append((z0, y0, x0, az, ay, ax, rng.uniform(0.2, 1.0)))
    return np.array(rows)


def _section(e, y):
    """Semi-axes scale of the ellipsoid's cross-section at height ``y`` (0 if missed)."""
    t = 1.0 - ((y - e[1]) / e[4]) ** 2
    return np.sqrt(np.clip(t, 0.0, None))


def phantom_volume(ell: np.ndarray, n: int, ny: int | None = None) -> np.ndarray:
    """Voxelised phantom ``(nz, ny, nx)`` = ``(n, ny, n)`` (voxel centres inside each ellipsoid)."""
    ny = ny or n
    c = (np.arange(n) - (n - 1) / 2.0)
    cy = (np.arange(ny) - (ny - 1) / 2.0)
    vol = np.zeros((n, ny, n), np.float32)
    z, x = c[:, None], c[None, :]
    for e in ell:
        for j, y in enumerate(cy):
            k = _section(e, y)
            if k <= 0:
                continue
            inside = ((z - e[0]) / (e[3] * k)) ** 2 + ((x - e[2]) / (e[5] * k)) ** 2 <= 1.0
            vol[:, j, :][inside] += e[6]
    return vol


def phantom_series(ell: np.ndarray, n: int, angles_deg, ny: int | None = None) -> np.ndarray:
    """Exact projections ``(n_tilts, ny, n)`` in the DESIGN convention ``u = x cos θ + z sin θ``.

    For an ellipse with semi-axes ``a`` (x) and ``b`` (z) centred at ``(z0, x0)``,
    ``p(u) = 2ρab/s² · sqrt(s² − (u − u0)²)`` with ``s² = a² cos²θ + b² sin²θ`` and
    ``u0 = x0 cos θ + z0 sin θ``.
    """
    ny = ny or n
    th = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    u = np.arange(n) - (n - 1) / 2.0
    cy = (np.arange(ny) - (ny - 1) / 2.0)
    out = np.zeros((th.size, ny, n), np.float64)
    cos, sin = np.cos(th)[:, None], np.sin(th)[:, None]
    for e in ell:
        for j, y in enumerate(cy):
            k = _section(e, y)
            if k <= 0:
                continue
            a, b = e[5] * k, e[3] * k
            s2 = (a * cos) ** 2 + (b * sin) ** 2
            u0 = e[2] * cos + e[0] * sin
            d2 = s2 - (u[None, :] - u0) ** 2
            out[:, j, :] += np.where(d2 > 0, 2 * e[6] * a * b / s2 * np.sqrt(np.clip(d2, 0, None)), 0.0)
    return out.astype(np.float32)
