"""Synthetic ground-truth slices: the paper's "phantom faces" and Shepp–Logan variants.

Every function is deterministic per ``index``: the same index always gives the
same image (the random generator is seeded from a fixed per-source key and the index).
"""

from __future__ import annotations

import numpy as np

__all__ = ["phantom_face", "shepp_logan_variant", "source_rng"]

#: fixed keys that make the random streams of different sources independent
_KEY_PHANTOM = 0x1A2D01
_KEY_SHEPP = 0x1A2D02


def source_rng(key: int, index: int) -> np.random.Generator:
    """NumPy generator seeded from ``(key, index)``: deterministic per index, independent between keys."""
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    return np.random.default_rng([int(key), int(index)])


def _normalise01(img: np.ndarray) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    if hi - lo < 1e-12:
        return np.zeros_like(img, dtype=np.float32)
    return ((img - lo) / (hi - lo)).astype(np.float32)


def phantom_face(index: int, size: int = 256) -> np.ndarray:
    """A "phantom face": random ovals and polygons of random intensities inside a head outline.

    Parameters
    ----------
    index : int
        Sample index (>= 0); the image is a pure function of it.
    size : int
        Output side in pixels.

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1]
        Rows are ``z`` (the beam direction at 0° tilt), columns ``x``.

    Notes
    -----
    Shapes are added (intensities may be negative, making holes) and the result is
    clipped at 0 and scaled to [0, 1], like the paper's "phantom faces" (Methods).
    """
    from skimage.draw import ellipse, polygon

    rng = source_rng(_KEY_PHANTOM, index)
    img = np.zeros((size, size), np.float64)
    c = (size - 1) / 2.0
    # the outline ("face"): one big oval with a random aspect and tilt, sometimes with a rim
    ry = size * rng.uniform(0.28, 0.46)
    rx = size * rng.uniform(0.22, 0.44)
    rot = rng.uniform(-np.pi, np.pi)
    base = rng.uniform(0.2, 0.6)
    rr, cc = ellipse(c + rng.normal(0, size * 0.03), c + rng.normal(0, size * 0.03), ry, rx,
                     shape=img.shape, rotation=rot)
    img[rr, cc] += base
    if rng.random() < 0.5:  # a bright rim like a skull
        rim = rng.uniform(0.85, 0.95)
        rr, cc = ellipse(c, c, ry * rim, rx * rim, shape=img.shape, rotation=rot)
        img[rr, cc] -= rng.uniform(0.1, 0.3) * base
    # inner features: ovals and polygons, additive with random sign
    n_ovals = int(rng.integers(3, 12))
    for _ in range(n_ovals):
        cy, cx = c + rng.uniform(-0.6, 0.6, 2) * np.array([ry, rx])
        a = size * rng.uniform(0.02, 0.18)
        b = size * rng.uniform(0.02, 0.18)
        rr, cc = ellipse(cy, cx, a, b, shape=img.shape, rotation=rng.uniform(-np.pi, np.pi))
        img[rr, cc] += rng.uniform(-0.4, 0.6)
    n_polys = int(rng.integers(1, 6))
    for _ in range(n_polys):
        k = int(rng.integers(3, 7))
        cy, cx = c + rng.uniform(-0.6, 0.6, 2) * np.array([ry, rx])
        rad = size * rng.uniform(0.03, 0.15)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rad * rng.uniform(0.5, 1.0, k)
        rr, cc = polygon(cy + r * np.sin(ang), cx + r * np.cos(ang), shape=img.shape)
        img[rr, cc] += rng.uniform(-0.4, 0.6)
    # a few small bright dots (sharp detail that WBP smears along z)
    for _ in range(int(rng.integers(0, 6))):
        cy, cx = c + rng.uniform(-0.7, 0.7, 2) * np.array([ry, rx])
        rad = max(1.0, size * rng.uniform(0.005, 0.02))
        rr, cc = ellipse(cy, cx, rad, rad, shape=img.shape)
        img[rr, cc] += rng.uniform(0.2, 0.6)
    img = np.clip(img, 0.0, None)
    return _normalise01(img)


# Shepp–Logan (modified, Toft) ellipses: intensity, a, b, x0, y0, angle_deg
_SHEPP = np.array([
    [1.0, 0.69, 0.92, 0.0, 0.0, 0],
    [-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0],
    [-0.2, 0.1100, 0.3100, 0.22, 0.0, -18],
    [-0.2, 0.1600, 0.4100, -0.22, 0.0, 18],
    [0.1, 0.2100, 0.2500, 0.0, 0.35, 0],
    [0.1, 0.0460, 0.0460, 0.0, 0.1, 0],
    [0.1, 0.0460, 0.0460, 0.0, -0.1, 0],
    [0.1, 0.0460, 0.0230, -0.08, -0.605, 0],
    [0.1, 0.0230, 0.0230, 0.0, -0.606, 0],
    [0.1, 0.0230, 0.0460, 0.06, -0.605, 0],
])


def shepp_logan_variant(index: int, size: int = 256) -> np.ndarray:
    """The modified Shepp–Logan head phantom with random perturbations.

    Each ellipse's intensity, semi-axes, centre and angle are jittered, and the whole
    phantom is randomly scaled and shifted; index 0 is jittered too (use
    ``skimage.data.shepp_logan_phantom`` for the exact one).

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1]
    """
    rng = source_rng(_KEY_SHEPP, index)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    # coordinates in [-1, 1], y up
    x = (xx - (size - 1) / 2.0) / ((size - 1) / 2.0)
    y = -(yy - (size - 1) / 2.0) / ((size - 1) / 2.0)
    scale = rng.uniform(0.75, 1.05)
    x = x / scale - rng.uniform(-0.05, 0.05)
    y = y / scale - rng.uniform(-0.05, 0.05)
    img = np.zeros((size, size), np.float64)
    for k, (val, a, b, x0, y0, ang) in enumerate(_SHEPP):
        if k >= 2:
            val = val * rng.uniform(0.3, 2.5) * (1 if rng.random() > 0.15 else -1)
            a = a * rng.uniform(0.7, 1.3)
            b = b * rng.uniform(0.7, 1.3)
            x0 = x0 + rng.normal(0, 0.04)
            y0 = y0 + rng.normal(0, 0.04)
            ang = ang + rng.normal(0, 15)
        else:
            a = a * rng.uniform(0.95, 1.05)
            b = b * rng.uniform(0.95, 1.05)
        t = np.deg2rad(ang)
        xr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t)
        yr = -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1.0] += val
    return _normalise01(np.clip(img, 0.0, None))
