"""Image-quality metrics for validation / evaluation (PSNR, SSIM, NRMSE) on batches of slices.

One definition each: :mod:`napari_irdm.analysis.metrics` (scikit-image underneath), the very
functions the rest of the project reports; there is no alternative implementation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batch_metrics"]


def _metrics():
    """``analysis.metrics`` once scikit-image is known to be importable (else a one-line ImportError)."""
    try:
        import skimage.metrics  # noqa: F401 - what analysis.metrics wraps
    except ImportError as err:
        raise ImportError(f"image metrics need scikit-image ({err}): pip install scikit-image") from None
    from napari_irdm.analysis import metrics

    return metrics


def batch_metrics(pred, truth, *, data_range: float = 1.0) -> dict[str, np.ndarray]:
    """PSNR (dB), SSIM and NRMSE of each slice of ``pred`` against ``truth``.

    Parameters
    ----------
    pred, truth : ndarray or Tensor, shape (B, H, W)
        Reconstructions and ground truths in the same units (truth in [0, 1]).
    data_range : float
        Dynamic range of the truth (1 for [0, 1] images).

    Returns
    -------
    dict with ``"psnr"``, ``"ssim"``, ``"nrmse"``: arrays of shape (B,)

    Notes
    -----
    :func:`~napari_irdm.analysis.metrics.psnr`, :func:`~napari_irdm.analysis.metrics.ssim`
    (Gaussian window, σ = 1.5 px, as :func:`napari_irdm.dl.ssim_index` and the paper) and
    :func:`~napari_irdm.analysis.metrics.nrmse` (``‖pred − truth‖₂ / ‖truth‖₂``), slice by slice.
    """
    m = _metrics()
    p = np.asarray(pred.detach().float().cpu().numpy() if hasattr(pred, "detach") else pred, np.float64)
    t = np.asarray(truth.detach().float().cpu().numpy() if hasattr(truth, "detach") else truth, np.float64)
    out: dict[str, list[float]] = {"psnr": [], "ssim": [], "nrmse": []}
    for a, b in zip(p, t):
        out["psnr"].append(m.psnr(b, a, data_range=data_range))
        out["ssim"].append(m.ssim(b, a, data_range=data_range))
        out["nrmse"].append(m.nrmse(b, a))
    return {k: np.asarray(v, np.float64) for k, v in out.items()}
