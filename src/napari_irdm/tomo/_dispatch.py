"""Run a classical method from its parameters: an explicit map, method -> core function."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from napari_irdm.methods import SARTParams, SIRTParams, TVParams, WBPParams
from napari_irdm.progress import Progress
from napari_irdm.tomo.sart import sart_iter
from napari_irdm.tomo.sirt import sirt_iter
from napari_irdm.tomo.tv import tv_iter
from napari_irdm.tomo.wbp import wbp_iter

__all__ = ["reconstruct_iter"]

#: parameter class -> the core generator it parameterises (keywords: the class's fields)
_CORE: dict[type, Callable[..., Generator[Progress, None, Any]]] = {WBPParams: wbp_iter, SIRTParams: sirt_iter, SARTParams: sart_iter, TVParams: tv_iter}


def reconstruct_iter(tilt_series, tilt_angles_deg, params, *, thickness: int | None = None, device: Any = None,
                     x0=None, out=None, chunk_slices: int | None = None) -> Generator[Progress, None, Any]:
    """Reconstruct with the method ``params`` describes (progress generator; ``return``s the volume).

    Parameters
    ----------
    tilt_series : ndarray or tensor, shape (n_tilts, ny, nx)
        Projections with the tilt axis along ``y``.
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees.
    params : WBPParams, SIRTParams, SARTParams or TVParams
        The method and its parameters (:mod:`napari_irdm.methods`, e.g.
        ``method_params("sirt", iterations=20)``).
    thickness, device, out, chunk_slices
        As in :func:`napari_irdm.tomo.sirt`.
    x0 : array-like, optional
        Starting volume of the iterative methods (WBP has none: an error if given).

    Returns
    -------
    volume : ndarray or tensor, shape (nz, ny, nx), float32
    """
    fn = _CORE.get(type(params))
    if fn is None:
        raise ValueError(f"params must be WBPParams, SIRTParams, SARTParams or TVParams (napari_irdm.methods), got "
                         f"{type(params).__name__}: IRDM runs as a WBP then napari_irdm.dl.inpaint_iter")
    run: dict[str, Any] = {"thickness": thickness, "device": device, "out": out, "chunk_slices": chunk_slices}
    if x0 is not None:
        if fn is wbp_iter:
            raise ValueError("x0 (a starting volume) does nothing for WBP: leave it out or use an iterative method")
        run["x0"] = x0
    return (yield from fn(tilt_series, tilt_angles_deg, **params.core_kwargs(), **run))
