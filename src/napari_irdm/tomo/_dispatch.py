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

__all__ = ["describe_step", "reconstruct_iter"]

#: parameter class -> the core generator it parameterises (keywords: the class's fields)
_CORE: dict[type, Callable[..., Generator[Progress, None, Any]]] = {WBPParams: wbp_iter, SIRTParams: sirt_iter, SARTParams: sart_iter, TVParams: tv_iter}


def reconstruct_iter(tilt_series, tilt_angles_deg, params, *, thickness: int | None = None, device: Any = None,
                     x0=None, out=None, chunk_slices: int | None = None) -> Generator[Progress, None, Any]:
    """Reconstruct with the method ``params`` describes (progress generator; ``return``s the volume).

    Parameters
    ----------
    tilt_series : TiltSeries, ndarray or tensor, shape (n_tilts, ny, nx)
        Projections with the tilt axis along ``y``. A :class:`~napari_irdm.data.TiltSeries`
        gives a :class:`~napari_irdm.data.Volume` (its provenance plus :func:`describe_step`).
    tilt_angles_deg : array_like, shape (n_tilts,), optional
        Tilt angles in degrees (a TiltSeries brings its own).
    params : WBPParams, SIRTParams, SARTParams or TVParams
        The method and its parameters (:mod:`napari_irdm.methods`, e.g.
        ``method_params("sirt", iterations=20)``).
    thickness, device, out, chunk_slices
        As in :func:`napari_irdm.tomo.sirt`.
    x0 : array-like, optional
        Starting volume of the iterative methods (WBP has none: an error if given).

    Returns
    -------
    volume : Volume, ndarray or tensor, shape (nz, ny, nx), float32
    """
    fn = _core(params)
    run: dict[str, Any] = {"thickness": thickness, "device": device, "out": out, "chunk_slices": chunk_slices}
    if x0 is not None:
        if fn is wbp_iter:
            raise ValueError("x0 (a starting volume) does nothing for WBP: leave it out or use an iterative method")
        run["x0"] = x0
    return (yield from fn(tilt_series, tilt_angles_deg, **params.core_kwargs(), **run))


def describe_step(params, *, thickness: int | None = None, auto_weight: bool = False) -> str:
    """The provenance step a TiltSeries reconstructed with ``params`` gets (without running it).

    Parameters
    ----------
    params : WBPParams, SIRTParams, SARTParams or TVParams
        The method and its parameters.
    thickness : int, optional
        Volume thickness in voxels (recorded when given).
    auto_weight : bool
        The TV weight in ``params`` was chosen by :func:`napari_irdm.tomo.resolve_tv_weight`
        (said in the step).

    Returns
    -------
    str
        ``"reconstruct method=sirt iterations=50 ..."``.
    """
    # describe is set on the core generator functions by tomo._common.accepts_series
    step = _core(params).describe(**params.core_kwargs(), thickness=thickness)  # type: ignore[attr-defined]
    return step + (" (tv_weight auto: cross-validated on held-out tilts)" if auto_weight else "")


def _core(params) -> Callable[..., Generator[Progress, None, Any]]:
    fn = _CORE.get(type(params))
    if fn is None:
        raise ValueError(f"params must be WBPParams, SIRTParams, SARTParams or TVParams (napari_irdm.methods), got "
                         f"{type(params).__name__}: IRDM runs as a WBP then napari_irdm.dl.inpaint_iter")
    return fn
