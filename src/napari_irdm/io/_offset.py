"""Detector-offset rule for integer HAADF data (see docs/io.md)."""

from __future__ import annotations

import numpy as np

from napari_irdm.io._filearray import FileArray
from napari_irdm.io._raw import sample

__all__ = ["detect_offset", "normalise_offset"]

_OFFSET_PERCENTILE = 1.0


def normalise_offset(data: np.ndarray, *, percentile: float = _OFFSET_PERCENTILE) -> tuple[np.ndarray, float | None]:
    """Convert to float32 and remove a large negative detector offset from integer data.

    HAADF-STEM intensities are counts on top of a detector offset. Some files (old FEI
    int16 exports) store them with a large signed offset: the vacuum sits near −31 900.
    Reconstruction needs a background near 0, so for **integer** data whose median lies
    below zero by more than 10 % of the intensity spread (``p99.9 − p1``) the
    ``percentile``-th percentile (the vacuum / darkest level) is subtracted. Float data
    and integer data without such an offset are only converted.

    Parameters
    ----------
    data : ndarray, any shape
    percentile
        Percentile taken as the background level (default 1).

    Returns
    -------
    (float32 array, offset or None)
        ``offset`` is the value subtracted (``None`` when nothing was).
    """
    data = np.asarray(data)
    offset = detect_offset(data, percentile=percentile)
    out = data.astype(np.float32)
    if offset is not None:
        out -= np.float32(offset)
    return out, offset


def detect_offset(data: np.ndarray | FileArray, *, percentile: float = _OFFSET_PERCENTILE) -> float | None:
    """The offset :func:`normalise_offset` would subtract (``None``: none), from a subsample."""
    if data.dtype.kind not in "iu":
        return None
    values = sample(data) if data.ndim == 3 else np.asarray(data).ravel()[:: max(1, data.size // 2_000_000)]
    lo, med, hi = np.percentile(values.astype(np.float64), [percentile, 50.0, 99.9])
    spread = hi - lo
    if med < 0 and spread > 0 and -med > 0.1 * spread:
        return float(lo)
    return None
