"""Per-slice intensity normalisation shared by training and inference.

The network sees every slice mapped so that its robust range (percentiles 0.5 / 99.5 by
default) becomes [0, 1]. Training must normalise a pair (WBP input, ground truth) with the
parameters of the **input** (:func:`normalise_pair`), because at inference only the input is
known and the output is mapped back with the input's parameters (:func:`denormalise`).
All functions accept NumPy arrays or torch tensors of shape ``(..., H, W)`` and return the
same type; statistics are taken over the last two axes (one pair of numbers per slice).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

__all__ = ["NormMethod", "apply_norm", "denormalise", "normalise_pair", "normalise_slice", "slice_range"]

NormMethod = Literal["robust", "minmax", "none"]

ROBUST_PERCENTILES = (0.5, 99.5)


def _as_tensor(x) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, True
    return torch.as_tensor(np.asarray(x, dtype=np.float32)), False


def _back(t: torch.Tensor, was_tensor: bool):
    return t if was_tensor else t.detach().cpu().numpy()


def slice_range(x, *, method: NormMethod = "robust", percentiles: tuple[float, float] = ROBUST_PERCENTILES) -> tuple:
    """Low and high intensity of each slice.

    Parameters
    ----------
    x : ndarray or Tensor, shape (..., H, W)
    method : {"robust", "minmax", "none"}
        ``"robust"``: the given percentiles; ``"minmax"``: min and max; ``"none"``: 0 and 1.
    percentiles : (float, float)
        Percentiles (0–100) for ``"robust"``.

    Returns
    -------
    lo, hi : same type as ``x``, shape (..., 1, 1)
        ``hi > lo`` always (a flat slice gets ``hi = lo + 1``).
    """
    t, was = _as_tensor(x)
    if t.ndim < 2:
        raise ValueError(f"normalisation needs (..., H, W) slices, got shape {tuple(t.shape)}")
    flat = t.detach().reshape(*t.shape[:-2], -1).float()
    if method == "robust":
        p0, p1 = percentiles
        if not 0.0 <= p0 < p1 <= 100.0:
            raise ValueError(f"robust percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        q = torch.tensor([p0 / 100.0, p1 / 100.0], dtype=flat.dtype, device=flat.device)
        if flat.shape[-1] > 4_000_000:  # torch.quantile has a size limit; subsample huge slices
            flat = flat[..., :: int(np.ceil(flat.shape[-1] / 4_000_000))]
        qs = torch.quantile(flat, q, dim=-1)
        lo, hi = qs[0], qs[1]
    elif method == "minmax":
        lo, hi = flat.amin(dim=-1), flat.amax(dim=-1)
    elif method == "none":
        lo = torch.zeros(flat.shape[:-1], dtype=flat.dtype, device=flat.device)
        hi = torch.ones_like(lo)
    else:
        raise ValueError(f"unknown normalisation {method!r}: use 'robust', 'minmax' or 'none'")
    span = hi - lo
    hi = torch.where(span > 1e-12 * (1.0 + lo.abs()), hi, lo + 1.0)
    lo = lo[..., None, None].to(t.dtype)
    hi = hi[..., None, None].to(t.dtype)
    return _back(lo, was), _back(hi, was)


def apply_norm(x, lo, hi):
    """Map ``x`` with given ``(lo, hi)``: ``(x − lo) / (hi − lo)`` (same type as ``x``)."""
    return (x - lo) / (hi - lo)


def denormalise(y, lo, hi):
    """Inverse of :func:`apply_norm`: ``y · (hi − lo) + lo`` (same type as ``y``).

    Parameters
    ----------
    y : ndarray or Tensor, shape (..., H, W)
        Network output in normalised units.
    lo, hi : shape (..., 1, 1)
        The parameters returned by :func:`normalise_slice` for the network's input.
    """
    return y * (hi - lo) + lo


def normalise_slice(
    x, *, method: NormMethod = "robust", percentiles: tuple[float, float] = ROBUST_PERCENTILES
) -> tuple:
    """Normalise each slice so its robust range becomes [0, 1].

    Parameters
    ----------
    x : ndarray or Tensor, shape (..., H, W)
    method, percentiles
        See :func:`slice_range`.

    Returns
    -------
    normalised : same type and shape as ``x``
        ``(x − lo) / (hi − lo)``; values outside the percentiles fall outside [0, 1]
        (nothing is clipped, so the map is exactly invertible).
    lo, hi : shape (..., 1, 1)
        Parameters for :func:`denormalise`.
    """
    lo, hi = slice_range(x, method=method, percentiles=percentiles)
    return apply_norm(x, lo, hi), lo, hi


def normalise_pair(
    condition,
    target,
    *,
    method: NormMethod = "robust",
    percentiles: tuple[float, float] = ROBUST_PERCENTILES,
) -> tuple:
    """Normalise a training pair with the parameters of its input (``condition``).

    Use this in training so that the network learns exactly the map that inference inverts:
    inference normalises the WBP slice with :func:`normalise_slice`, runs the model and
    maps the result back with the same ``(lo, hi)``.

    Parameters
    ----------
    condition : ndarray or Tensor, shape (..., H, W)
        Network input (WBP of the ground truth).
    target : same shape as ``condition``
        Ground truth.

    Returns
    -------
    condition_n, target_n, lo, hi
    """
    lo, hi = slice_range(condition, method=method, percentiles=percentiles)
    return apply_norm(condition, lo, hi), apply_norm(target, lo, hi), lo, hi
