"""Data augmentation per the paper's Supplementary Table 2.

=============== ========== =============== =========== ============
source          pad/resize random rotation random flip random affine
=============== ========== =============== =========== ============
phantom faces   yes        yes
medical         yes        yes             yes         yes
natural         yes
atomic (ours)   yes        yes
=============== ========== =============== =========== ============

All functions take an explicit ``numpy.random.Generator`` so a sample stays a pure
function of its index.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AUGMENTATIONS", "augment", "pad_resize", "random_affine", "random_flip", "random_rotation"]

#: augmentations applied to each source (Supplementary Table 2; "atomic" is ours)
AUGMENTATIONS: dict[str, tuple[str, ...]] = {
    "phantom": ("pad_resize", "rotation"),
    "medical": ("pad_resize", "rotation", "flip", "affine"),
    "natural": ("pad_resize",),
    "atomic": ("pad_resize", "rotation"),
}


def pad_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Pad a 2-D image to a square (with its border minimum) and resize it to ``(size, size)``.

    The result is rescaled to [0, 1] (float32).
    """
    from skimage.transform import resize

    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    h, w = img.shape
    n = max(h, w)
    if h != w:
        fill = float(min(img[0].min(), img[-1].min(), img[:, 0].min(), img[:, -1].min()))
        out = np.full((n, n), fill, np.float64)
        y0, x0 = (n - h) // 2, (n - w) // 2
        out[y0 : y0 + h, x0 : x0 + w] = img
        img = out
    if n != size:
        img = resize(img, (size, size), order=1, anti_aliasing=n > size, preserve_range=True)
    lo, hi = float(img.min()), float(img.max())
    if hi - lo < 1e-12:
        return np.zeros((size, size), np.float32)
    return ((img - lo) / (hi - lo)).astype(np.float32)


def random_rotation(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotate by a uniform random angle in [0°, 360°) about the centre (outside filled with 0)."""
    from skimage.transform import rotate

    return rotate(img, float(rng.uniform(0.0, 360.0)), order=1, mode="constant", cval=0.0,
                  preserve_range=True).astype(np.float32)


def random_flip(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flip up-down and/or left-right, each with probability 1/2."""
    if rng.random() < 0.5:
        img = img[::-1, :]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return np.ascontiguousarray(img, dtype=np.float32)


def random_affine(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small random affine warp about the centre: scale 0.85–1.15 per axis, shear ±10°, shift ±5 %."""
    from skimage.transform import AffineTransform, warp

    n = img.shape[0]
    c = (n - 1) / 2.0
    to_centre = AffineTransform(translation=(-c, -c))
    core = AffineTransform(
        scale=(rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)),
        shear=np.deg2rad(rng.uniform(-10.0, 10.0)),
        translation=tuple(rng.uniform(-0.05, 0.05, 2) * n),
    )
    back = AffineTransform(translation=(c, c))
    tform = to_centre + core + back
    return warp(img, tform.inverse, order=1, mode="constant", cval=0.0, preserve_range=True).astype(np.float32)


def augment(img: np.ndarray, kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Apply the augmentations of source ``kind`` (see :data:`AUGMENTATIONS`); returns (size, size) in [0, 1]."""
    if kind not in AUGMENTATIONS:
        raise ValueError(f"unknown source kind {kind!r}: choose one of {', '.join(AUGMENTATIONS)}")
    ops = AUGMENTATIONS[kind]
    out = pad_resize(img, size)
    if "affine" in ops:
        out = random_affine(out, rng)
    if "rotation" in ops:
        out = random_rotation(out, rng)
    if "flip" in ops:
        out = random_flip(out, rng)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
