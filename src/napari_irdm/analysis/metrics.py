"""Image-quality metrics against a reference, with an explicit data range (wrapping scikit-image)."""

from __future__ import annotations

import numpy as np

__all__ = ["nrmse", "psnr", "ssim"]


def _pair(ref, img, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ref.detach().cpu() if hasattr(ref, "detach") else ref, dtype=np.float64)
    b = np.asarray(img.detach().cpu() if hasattr(img, "detach") else img, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{what}: reference shape {a.shape} differs from image shape {b.shape}: compare equal shapes")
    if a.ndim not in (2, 3):
        raise ValueError(f"{what}: images must be 2-D or 3-D, got {a.ndim}-D")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"{what}: images contain NaN or Inf")
    return a, b


def _check_range(data_range, what: str) -> float:
    try:
        r = float(data_range)
    except (TypeError, ValueError):
        r = float("nan")
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"{what}: data_range must be a positive number (e.g. ref.max() - ref.min()), got {data_range!r}")
    return r


def psnr(ref, img, *, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range² / MSE)``.

    Parameters
    ----------
    ref, img : array_like, 2-D or 3-D, same shape
        Reference (ground truth) and test image / volume (NumPy or torch).
    data_range : float
        Range the values can take (e.g. ``ref.max() − ref.min()``); explicit so that
        results do not depend on the dtype.

    Returns
    -------
    float
        ``inf`` for identical inputs.
    """
    from skimage.metrics import peak_signal_noise_ratio

    a, b = _pair(ref, img, what="psnr")
    r = _check_range(data_range, "psnr")
    if np.array_equal(a, b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=r))


def ssim(ref, img, *, data_range: float) -> float:
    """Mean structural similarity (Wang et al. 2004).

    Gaussian-weighted window (σ = 1.5 px, 11 taps, as in the paper) when every side is
    at least 11 px, else scikit-image's uniform 7-px window.

    Parameters
    ----------
    ref, img : array_like, 2-D or 3-D, same shape (each side ≥ 7 px)
        Reference and test image / volume.
    data_range : float
        Value range of the data (explicit, see :func:`psnr`).

    Returns
    -------
    float
        In ``[-1, 1]``; 1 for identical inputs.
    """
    from skimage.metrics import structural_similarity

    a, b = _pair(ref, img, what="ssim")
    r = _check_range(data_range, "ssim")
    if min(a.shape) < 7:
        raise ValueError(f"ssim: every side must be at least 7 pixels, got shape {a.shape}")
    if min(a.shape) >= 11:
        return float(structural_similarity(a, b, data_range=r, gaussian_weights=True, sigma=1.5,
                                           use_sample_covariance=False))
    return float(structural_similarity(a, b, data_range=r, win_size=7))


def nrmse(ref, img) -> float:
    """Root-mean-square error normalised by the reference's RMS: ``‖img − ref‖₂ / ‖ref‖₂``.

    Parameters
    ----------
    ref, img : array_like, 2-D or 3-D, same shape

    Returns
    -------
    float
        0 for identical inputs (scale-free, so no data range is needed).
    """
    from skimage.metrics import normalized_root_mse

    a, b = _pair(ref, img, what="nrmse")
    if not np.any(a):
        raise ValueError("nrmse: the reference is all zeros, so the error cannot be normalised: use psnr instead")
    return float(normalized_root_mse(a, b, normalization="euclidean"))
