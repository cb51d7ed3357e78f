"""Tiny phantoms for the tomography tests (deterministic, a few ms to make)."""

from __future__ import annotations

import numpy as np


def grid(n: int):
    z, x = np.mgrid[:n, :n] - (n - 1) / 2.0
    return z, x


def disc_slice(n: int, radius_frac: float = 0.3) -> np.ndarray:
    z, x = grid(n)
    return (np.hypot(z, x) < radius_frac * n).astype(np.float32)


def blocks_slice(n: int) -> np.ndarray:
    """Piecewise-constant slice: an ellipse, a brighter disc inside and a dim bar."""
    z, x = grid(n)
    f = z * 64.0 / n, x * 64.0 / n
    s = np.zeros((n, n), np.float32)
    s[(f[0] ** 2 / 22**2 + f[1] ** 2 / 26**2) < 1] = 1.0
    s[((f[0] - 5) ** 2 + (f[1] + 3) ** 2) < 6**2] = 2.0
    s[(np.abs(f[0] + 8) < 4) & (np.abs(f[1] - 8) < 6)] = 0.5
    return s


def volume_from_slice(s: np.ndarray, ny: int) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(s[:, None, :], ny, axis=1))
