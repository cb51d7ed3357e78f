"""A bead phantom series spoiled with known drift, jitter, tilt-axis rotation and centre offset."""

from __future__ import annotations

import numpy as np

from napari_irdm.align import Transforms, apply_transforms
from napari_irdm.tomo import ParallelProjector


def bead_volume(n: int = 64, n_beads: int = 14, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = np.zeros((n, n, n), np.float32)
    for _ in range(n_beads):
        c = rng.uniform(-0.28 * n, 0.28 * n, 3)
        s = rng.uniform(1.2, 2.5) * n / 64
        vol += np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * s * s)).astype(np.float32)
    return vol


def blob_volume(n: int = 64, n_blobs: int = 6, seed: int = 0) -> np.ndarray:
    """A few extended, flat-topped ellipsoids of random size, orientation and density (no beads)."""
    rng = np.random.default_rng(seed + 100)
    zyx = np.stack(np.mgrid[:n, :n, :n], -1) - (n - 1) / 2
    vol = np.zeros((n, n, n), np.float32)
    for _ in range(n_blobs):
        c = rng.uniform(-0.2 * n, 0.2 * n, 3)
        axes = rng.uniform(0.05, 0.16, 3) * n
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # a random orientation
        r2 = ((((zyx - c) @ q) / axes) ** 2).sum(-1)
        vol += (rng.uniform(0.3, 1.0) / (1 + np.exp(np.clip((r2 - 1) * 8, -50, 50)))).astype(np.float32)  # soft edge
    return vol


def spoiled_series(angles, *, n=64, phi=2.0, centre=3.0, drift=4.0, jitter=0.5, seed=0, dose=None,
                   kind="beads"):
    """(volume, ideal projections, raw spoiled images, true Transforms raw -> aligned).

    ``kind``: ``"beads"`` (14 Gaussian beads) or ``"blobs"`` (6 extended ellipsoids).
    """
    rng = np.random.default_rng(seed + 1)
    vol = bead_volume(n, seed=seed) if kind == "beads" else blob_volume(n, seed=seed)
    ideal = ParallelProjector(angles, vol.shape).forward(vol)
    k = len(angles)
    walk = np.cumsum(rng.normal(0, 1, (k, 2)), 0)
    walk -= walk.mean(0)
    walk *= drift / np.sqrt((walk**2).sum(1).mean())
    d = walk + rng.normal(0, jitter, (k, 2))
    d[:, 0] += centre
    truth = Transforms.from_parameters(d, phi, angles)
    a = truth.matrices[:, :, :2]
    inv = np.linalg.inv(a)
    undo = Transforms(np.concatenate([inv, -(inv @ d[:, :, None])], 2), np.asarray(angles, float))
    raw = apply_transforms(ideal, undo)
    if dose is not None:
        raw = rng.poisson(np.clip(raw, 0, None) * dose).astype(np.float32) / dose
    return vol, ideal, raw.astype(np.float32), truth


def gauge_errors(found: np.ndarray, true: np.ndarray, angles):
    """RMS shift error (px) after removing specimen translations, and the centre-offset error (px).

    Shifts ``a cos θ + b sin θ`` in x and constants in y only translate the specimen; the
    constant of a ``c + a cos θ + b sin θ`` fit of the x error is the rotation-centre error.
    """
    r = found - true
    th = np.deg2rad(np.asarray(angles, float))
    g2 = np.stack([np.cos(th), np.sin(th)], 1)
    coef, *_ = np.linalg.lstsq(g2, r[:, 0], rcond=None)
    rx = r[:, 0] - g2 @ coef
    ry = r[:, 1] - r[:, 1].mean()
    g3 = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
    c3, *_ = np.linalg.lstsq(g3, r[:, 0], rcond=None)
    return float(np.sqrt((rx**2 + ry**2).mean())), float(c3[0]), coef
