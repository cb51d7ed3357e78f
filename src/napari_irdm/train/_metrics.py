"""Image-quality metrics for validation / evaluation (PSNR, SSIM, NRMSE) on batches of slices."""

from __future__ import annotations

import numpy as np

__all__ = ["batch_metrics"]


def _funcs():
    try:
        from napari_irdm.analysis import metrics as m

        def nrmse_(ref, img, *, data_range=1.0):
            return m.nrmse(ref, img)

        return m.psnr, m.ssim, nrmse_
    except Exception:  # noqa: BLE001 - analysis.metrics not installed: use scikit-image directly
        from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio, structural_similarity

        def psnr(ref, img, *, data_range=1.0):
            return peak_signal_noise_ratio(ref, img, data_range=data_range)

        def ssim(ref, img, *, data_range=1.0):
            return structural_similarity(ref, img, data_range=data_range)

        def nrmse(ref, img, *, data_range=1.0):
            return normalized_root_mse(ref, img)

        return psnr, ssim, nrmse


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
    NRMSE is ``‖pred − truth‖₂ / ‖truth‖₂`` (:func:`napari_irdm.analysis.metrics.nrmse`, or
    scikit-image's ``normalized_root_mse`` with its default Euclidean normalisation).
    """
    psnr, ssim, nrmse = _funcs()
    p = np.asarray(pred.detach().float().cpu().numpy() if hasattr(pred, "detach") else pred, np.float64)
    t = np.asarray(truth.detach().float().cpu().numpy() if hasattr(truth, "detach") else truth, np.float64)
    out = {"psnr": [], "ssim": [], "nrmse": []}
    for a, b in zip(p, t):
        out["psnr"].append(float(psnr(b, a, data_range=data_range)))
        out["ssim"].append(float(ssim(b, a, data_range=data_range)))
        out["nrmse"].append(float(nrmse(b, a, data_range=data_range)))
    return {k: np.asarray(v) for k, v in out.items()}
