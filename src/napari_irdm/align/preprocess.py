"""Preprocessing of raw tilt series before alignment / reconstruction (NumPy in, NumPy out)."""

from __future__ import annotations

import numpy as np

__all__ = ["bin_images", "normalise_intensity", "remove_hot_pixels", "subtract_background"]


def bin_images(data: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor × factor`` blocks of each image ``(n, ny, nx)``.

    Images are first cropped to a multiple of ``factor`` (the remainder split between both
    edges), so the binned pixel centres stay on the original image centre (exactly for an even
    remainder, within half an original pixel otherwise).
    """
    b = int(factor)
    if b < 1 or b != factor:
        raise ValueError(f"binning factor must be a positive whole number, got {factor}")
    if b == 1:
        return np.asarray(data, np.float32)
    n, ny, nx = data.shape
    if ny < b or nx < b:
        raise ValueError(f"cannot bin {ny}x{nx} images by {b}: the factor is larger than the image")
    ry, rx = ny % b, nx % b
    d = np.asarray(data[:, ry // 2 : ny - (ry - ry // 2), rx // 2 : nx - (rx - rx // 2)], np.float32)
    return d.reshape(n, ny // b, b, nx // b, b).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)


def subtract_background(data: np.ndarray, *, percentile: float = 5.0) -> np.ndarray:
    """Subtract each image's ``percentile`` (detector offset / vacuum level)."""
    d = np.asarray(data, np.float32)
    return d - np.percentile(d.reshape(d.shape[0], -1), percentile, axis=1).astype(np.float32)[:, None, None]


def normalise_intensity(data: np.ndarray) -> np.ndarray:
    """Scale images to a common total intensity (beam-current drift); the mean total is kept."""
    d = np.asarray(data, np.float32)
    tot = d.reshape(d.shape[0], -1).sum(axis=1, dtype=np.float64)
    if np.any(tot <= 0):
        raise ValueError("intensity normalisation needs images with a positive total: subtract the background first")
    return (d * (tot.mean() / tot)[:, None, None]).astype(np.float32)


def remove_hot_pixels(data: np.ndarray, *, threshold: float = 8.0) -> np.ndarray:
    """Replace pixels more than ``threshold`` robust standard deviations above their 3×3 median."""
    from scipy import ndimage

    d = np.array(data, np.float32)
    for k in range(d.shape[0]):
        med = ndimage.median_filter(d[k], size=3)
        diff = d[k] - med
        mad = np.median(np.abs(diff)) * 1.4826 + 1e-12
        hot = diff > threshold * mad
        d[k][hot] = med[hot]
    return d
