"""Projection filters for weighted back-projection."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from napari_irdm.methods import FILTERS

__all__ = ["FILTERS", "FilterName", "filter_matrix", "filter_projections", "ramp_response"]

#: the names of :data:`napari_irdm.methods.FILTERS` as a type (tests check that the two agree)
FilterName = Literal["ramp", "shepp-logan", "cosine", "hamming", "hann", "none"]


def _padded_size(n: int) -> int:
    return max(64, int(2 ** np.ceil(np.log2(2 * n))))


def ramp_response(n_det: int, filter_name: str = "ramp") -> np.ndarray:
    """Frequency response (length ``P``, FFT order) of the discrete ramp filter times a window.

    The ramp is built from its band-limited spatial kernel
    (``h[0] = 1/4``, ``h[n] = −1/(πn)²`` for odd ``n``, 0 for even ``n``), which has
    the correct DC value and so avoids the cupping/offset of a sampled ``|f|``.

    References
    ----------
    A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging*, ch. 3.
    """
    name = str(filter_name).lower().replace("_", "-")
    if name not in FILTERS:
        raise ValueError(f"unknown filter {filter_name!r}: choose one of {', '.join(FILTERS)}")
    p = _padded_size(n_det)
    if name == "none":
        return np.ones(p)
    k = np.concatenate([np.arange(0, p // 2 + 1), np.arange(-p // 2 + 1, 0)])
    h = np.zeros(p)
    h[0] = 0.25
    odd = k % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    resp = np.real(np.fft.fft(h))  # ≈ |ν| with ν in cycles / pixel
    f = np.fft.fftfreq(p)  # cycles / pixel in [-0.5, 0.5)
    omega = np.pi * f / 0.5  # [-π, π)
    if name == "shepp-logan":
        win = np.sinc(f)  # sin(πf)/(πf) with f in cycles/pixel, = sin(ω/2)/(ω/2)
    elif name == "cosine":
        win = np.cos(omega / 2.0)
    elif name == "hamming":
        win = 0.54 + 0.46 * np.cos(omega)
    elif name == "hann":
        win = 0.5 + 0.5 * np.cos(omega)
    else:
        win = np.ones(p)
    return resp * win


def filter_matrix(n_det: int, filter_name: str = "ramp") -> np.ndarray:
    """The WBP filter as a dense ``(n_det, n_det)`` Toeplitz matrix ``H``, float64.

    ``H @ p`` equals :func:`filter_projections` of a length-``n_det`` row ``p``
    exactly (the zero padding to ``P ≥ 2·n_det`` makes the circular convolution
    linear, so only lags ``|i − j| < n_det`` of the kernel are used). For detectors
    up to a few thousand pixels a batched matrix product with ``H`` is several times
    faster than the FFT on a CPU and lands the result directly in the slice-last
    layout the projector wants.
    """
    resp = ramp_response(n_det, filter_name)
    kernel = np.real(np.fft.ifft(resp))
    i = np.arange(n_det)
    return kernel[(i[:, None] - i[None, :]) % kernel.size]


def filter_projections(proj: torch.Tensor, filter_name: str = "ramp", *, dim: int = -1) -> torch.Tensor:
    """Apply the WBP filter along detector axis ``dim`` of a float32 tensor.

    The response is in units where back-projection of the filtered data, summed with
    angular weights in radians, reproduces the object (:func:`napari_irdm.tomo.wbp`).
    """
    n = proj.shape[dim]
    if str(filter_name).lower() == "none":
        return proj
    resp = torch.as_tensor(ramp_response(n, filter_name), dtype=torch.float32, device=proj.device)
    p = resp.numel()
    x = proj.movedim(dim, -1)
    spec = torch.fft.rfft(x, n=p, dim=-1)
    spec = spec * resp[: p // 2 + 1]
    out = torch.fft.irfft(spec, n=p, dim=-1)[..., :n]
    return out.movedim(-1, dim).contiguous()
