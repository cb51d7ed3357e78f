"""What one Dask task does: reconstruct one slab of y-slices with the project's own methods.

Slices perpendicular to the tilt axis (``y``) are independent in every method, so a slab
``series[:, y0:y1, :]`` gives ``volume[:, y0:y1, :]`` with the unchanged ``tomo`` / ``dl``
functions. Two methods use a figure of the *whole* series, which a slab cannot see; the
engine computes it once up front and each slab puts it back:

- TV scales the data by ``s = max |b|`` (``tomo.tv``); its solution depends on ``w · s``,
  so a slab with its own ``s_slab`` gets the weight ``w · s / s_slab`` (identical problem).
- IRDM passes through slices whose contrast is at most ``empty_fraction`` × the largest
  contrast of up to 64 probe slices of the *volume*; the engine reconstructs those probe
  slices first, and a slab (≤ 64 slices, so its own probe is all of it) gets the
  ``empty_fraction`` that gives the same threshold.

The projector's matrices are cached per process by ``tomo.projector`` (keyed on the 2-D
geometry, not on ``ny``), and the IRDM model per process here, so every task after a
worker's first reuses them.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["Cancelled", "SlabJob", "irdm_contrast", "run_slab", "series_abs_max"]

METHODS = ("wbp", "sirt", "sart", "tv", "irdm")
#: keyword arguments each method passes on to its core function
METHOD_KWARGS = {
    "wbp": ("filter_name",),
    "sirt": ("iterations", "relaxation", "nonnegative", "stop", "discrepancy_factor"),
    "sart": ("iterations", "relaxation", "nonnegative", "subset_size"),
    "tv": ("tv_weight", "iterations", "nonnegative", "solver", "prox_iterations"),
    "irdm": ("filter_name", "model", "data_consistency", "normalise", "soft_deg", "empty_fraction", "nonnegative",
             "tta", "consistency", "consistency_iterations", "batch_size"),
}
#: IRDM slabs at most this many slices (inpaint's contrast probe then covers the whole slab)
IRDM_MAX_SLAB = 64


class Cancelled(RuntimeError):
    """The run was cancelled (raised inside tasks that were already running)."""


@dataclass(frozen=True)
class SlabJob:
    """Everything a slab task needs (picklable, sent once per task).

    ``source`` is a :class:`~napari_irdm.scale.LazySeries` (the task reads its own slab) or
    ``None`` (the slab comes as an argument). ``target`` is an
    :class:`~napari_irdm.io.omezarr.OmeZarrTarget`, an :class:`MrcTarget` or ``None``
    (the slab is returned).
    """

    method: str
    kwargs: dict
    angles: np.ndarray = field(repr=False)
    thickness: int | None = None
    device: str | None = None
    source: Any = None
    target: Any = None
    token: str = ""
    distributed: bool = False
    torch_threads: int | None = None


@dataclass(frozen=True)
class MrcTarget:
    """A float32 MRC being filled (temp file, data at ``offset``); workers map it themselves."""

    tmp: str
    offset: int
    shape: tuple[int, int, int]

    def write_slab(self, y0: int, y1: int, block: np.ndarray) -> None:
        if not os.path.exists(self.tmp):
            raise FileNotFoundError(f"the temporary file {self.tmp} is gone (run cancelled)")
        mm = np.memmap(self.tmp, dtype="<f4", mode="r+", offset=self.offset, shape=self.shape)
        try:
            mm[:, y0:y1, :] = block
            mm.flush()
        finally:
            del mm


# --------------------------------------------------------------------------- cancellation

class LocalRun:
    """Cancel flag and write guard of a run on the threaded scheduler (same process)."""

    def __init__(self):
        self.cancel = threading.Event()
        self.cond = threading.Condition()
        self.writing = 0
        self.done: list = []

    def begin_write(self) -> None:
        with self.cond:
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            self.writing += 1

    def end_write(self) -> None:
        with self.cond:
            self.writing -= 1
            self.cond.notify_all()

    def stop(self, timeout: float = 600.0) -> None:
        """Set the flag and wait until no task is writing (then the temp output can go)."""
        with self.cond:
            self.cancel.set()
            self.cond.wait_for(lambda: self.writing == 0, timeout=timeout)


#: runs of this process (threaded scheduler), by token
LOCAL_RUNS: dict[str, LocalRun] = {}


def _check_cancel(job: SlabJob) -> None:
    run = LOCAL_RUNS.get(job.token)
    if run is not None:
        if run.cancel.is_set():
            raise Cancelled("cancelled")
        return
    if job.distributed:
        from distributed import Event

        if Event(f"napari-irdm-cancel-{job.token}").is_set():
            raise Cancelled("cancelled")


def _drive(gen, job: SlabJob):
    """Run a core generator, checking for a cancel between its progress events."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        _check_cancel(job)


# --------------------------------------------------------------------------- the methods

@lru_cache(maxsize=4)
def _loaded_model(model: str, angles_key: bytes):
    """The IRDM network, loaded once per process (``prepare_model`` copies it per call)."""
    from napari_irdm.dl.registry import load_model, pick_model

    if model == "auto":
        model = pick_model(np.frombuffer(angles_key, dtype=np.float64))
    return load_model(model, device="cpu")


def _model_for(job: SlabJob):
    model = job.kwargs.get("model", "general")
    if isinstance(model, (str, os.PathLike)):
        return _loaded_model(str(model), np.asarray(job.angles, np.float64).tobytes())
    return model


def _contrast(vol: np.ndarray, rows) -> float:
    """Largest ``max − min`` over the slices ``vol[:, y, :]`` (what ``dl.inpaint`` probes)."""
    c = 0.0
    for y in rows:
        sl = np.asarray(vol[:, int(y), :], dtype=np.float32)
        v = float(sl.max() - sl.min())
        if np.isfinite(v):
            c = max(c, v)
    return c


def probe_rows(ny: int) -> np.ndarray:
    """The slices ``dl.inpaint`` measures the volume's contrast on (up to 64, evenly spaced)."""
    return np.unique(np.linspace(0, ny - 1, min(ny, 64)).round().astype(int))


def irdm_contrast(job: SlabJob, ny: int, probe: np.ndarray | None = None) -> float:
    """Task: WBP of the probe slices (:func:`probe_rows`) of the whole series → the volume's
    contrast that IRDM's empty-slice threshold is a fraction of. ``probe`` holds those
    slices already; else they are read from ``job.source``."""
    from napari_irdm import tomo

    _threads(job)
    series = job.source.read_rows(probe_rows(ny)) if probe is None else np.asarray(probe, dtype=np.float32)
    vol = tomo.wbp(series, job.angles, filter_name=job.kwargs.get("filter_name", "ramp"),
                   thickness=job.thickness, device=job.device)
    return _contrast(vol, range(vol.shape[1]))


def series_abs_max(job: SlabJob, y0: int, y1: int, block: np.ndarray | None = None) -> float:
    """Task: ``max |b|`` of a slab (TV's global scale is the max over all slabs)."""
    b = job.source.read(y0, y1) if block is None else np.asarray(block, dtype=np.float32)
    return float(np.abs(b).max()) if b.size else 0.0


def _threads(job: SlabJob) -> None:
    if job.torch_threads:
        import torch

        if torch.get_num_threads() != job.torch_threads:
            torch.set_num_threads(int(job.torch_threads))


def _reconstruct(job: SlabJob, b: np.ndarray, glob: float | None) -> np.ndarray:
    from napari_irdm import tomo

    kw = dict(job.kwargs)
    common = {"thickness": job.thickness, "device": job.device}
    m = job.method
    if m == "wbp":
        return _drive(tomo.wbp_iter(b, job.angles, **kw, **common), job)
    if m == "sirt":
        return _drive(tomo.sirt_iter(b, job.angles, **kw, **common), job)
    if m == "sart":
        return _drive(tomo.sart_iter(b, job.angles, **kw, **common), job)
    if m == "tv":
        s_slab = float(np.abs(b).max()) or 1.0
        if glob:  # the whole series' scale (see the module docstring)
            kw["tv_weight"] = float(kw["tv_weight"]) * float(glob) / s_slab
        return _drive(tomo.tv_iter(b, job.angles, **kw, **common), job)
    if m == "irdm":
        return _irdm(job, b, glob)
    raise ValueError(f"unknown method {m!r}: use one of {', '.join(METHODS)}")


def _irdm(job: SlabJob, b: np.ndarray, contrast: float | None) -> np.ndarray:
    from napari_irdm import tomo
    from napari_irdm.dl import inpaint_iter

    kw = dict(job.kwargs)
    filt = kw.pop("filter_name", "ramp")
    iters = kw.pop("consistency_iterations", None)
    mode = kw.get("consistency")
    vol = _drive(tomo.wbp_iter(b, job.angles, filter_name=filt, **{"thickness": job.thickness,
                                                                     "device": job.device}), job)
    ef = float(kw.pop("empty_fraction", 1e-3))
    span = ef * float(contrast if contrast is not None else _contrast(vol, probe_rows(vol.shape[1])))
    c_slab = _contrast(vol, range(vol.shape[1]))
    iterative = mode is not None
    if c_slab <= span:
        # every slice of this slab is at most the volume's empty-space contrast: inpaint
        # passes each through unchanged, so the network step is the identity here
        if not iterative:
            return vol
        from napari_irdm.methods import CONSISTENCY_ITERATIONS

        n_it = int(iters) if iters is not None else CONSISTENCY_ITERATIONS[str(mode)]
        nonneg = bool(kw.get("nonnegative"))
        if mode == "tv":
            return _drive(tomo.tv_iter(b, job.angles, tv_weight="auto", iterations=n_it, x0=vol, nonnegative=nonneg,
                                       solver="cp", thickness=job.thickness, device=job.device), job)
        return _drive(tomo.sirt_iter(b, job.angles, iterations=n_it, x0=vol, nonnegative=nonneg,
                                     thickness=job.thickness, device=job.device), job)
    kw["model"] = _model_for(job)
    return _drive(inpaint_iter(vol, job.angles, empty_fraction=span / c_slab, device=job.device,
                               tilt_series=b if iterative else None, consistency_iterations=iters, **kw), job)


def _peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_slab(job: SlabJob, y0: int, y1: int, block: np.ndarray | None = None, glob: float | None = None) -> dict:
    """Task: reconstruct slices ``y0:y1`` and write them to the target (or return them).

    Returns a small dict: ``y0``, ``y1``, ``seconds``, ``peak_rss`` (bytes, of this worker
    process so far), ``pid``, ``data`` (the slab, only without a target).
    """
    t0 = time.perf_counter()
    _check_cancel(job)
    _threads(job)
    b = job.source.read(y0, y1) if block is None else np.asarray(block, dtype=np.float32)
    vol = np.asarray(_reconstruct(job, b, glob), dtype=np.float32)
    del b
    result: dict[str, Any] = {"y0": y0, "y1": y1, "pid": os.getpid()}
    run = LOCAL_RUNS.get(job.token)
    if job.target is None:
        result["data"] = vol
    else:
        if run is not None:
            run.begin_write()
        else:
            _check_cancel(job)
        try:
            job.target.write_slab(y0, y1, vol)
        finally:
            if run is not None:
                run.end_write()
    result["seconds"] = time.perf_counter() - t0
    result["peak_rss"] = _peak_rss_bytes()
    if run is not None:
        run.done.append(y0)
    return result
