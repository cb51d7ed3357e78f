"""Slab-parallel reconstruction on any Dask scheduler, written chunk by chunk, atomically."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_irdm.errors import ParameterError
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.scale._schedulers import SchedulerSpec, open_scheduler, parse_scheduler
from napari_irdm.scale._slab import (
    IRDM_MAX_SLAB,
    LOCAL_RUNS,
    METHOD_KWARGS,
    METHODS,
    Cancelled,
    LocalRun,
    MrcTarget,
    SlabJob,
    irdm_contrast,
    probe_rows,
    run_slab,
    series_abs_max,
)
from napari_irdm.scale._source import LazySeries

if TYPE_CHECKING:
    from napari_irdm.io.omezarr import OmeZarrTarget

__all__ = ["reconstruct", "reconstruct_iter", "slab_size"]

#: output bytes per slab the default slab size aims at (a 2048² slice of nz = 2048 is 16 MiB)
SLAB_BYTES = 256 * 2**20
#: seconds between progress events while nothing finishes (keeps Cancel responsive)
HEARTBEAT_S = 0.25
_MRC_SUFFIXES = (".mrc", ".rec", ".map")


def slab_size(nz: int, ny: int, nx: int, method: str = "wbp", n_tilts: int | None = None) -> int:
    """Default slices per slab: about :data:`SLAB_BYTES` of output, a multiple of 8 when ≥ 8
    (so the OME-Zarr pyramid levels fall on whole chunks), at most 64 (IRDM: see ``_slab``).

    When the projection matrices of one slice geometry are too large to keep
    (:func:`napari_irdm.tomo.projector.matrices_kept`; e.g. 2048² at 61 tilts) every slab
    rebuilds them, which costs about as much as back-projecting 40 slices: such slabs aim at
    4 × :data:`SLAB_BYTES` (64 slices of 2048², about 3 GiB per task) to amortise the build.
    """
    target = SLAB_BYTES
    if method != "irdm" and n_tilts is not None:
        from napari_irdm.tomo.projector import matrices_kept

        if not matrices_kept(n_tilts, nz, nx):
            target = 4 * SLAB_BYTES
    s = max(1, min(IRDM_MAX_SLAB, target // max(1, 4 * nz * nx), ny))
    return s - s % 8 if s >= 8 else s


def _unpack(series, tilt_angles_deg, pixel_size_A):
    """``(data, angles, pixel size, provenance)`` of a TiltSeries / LazySeries / array."""
    from napari_irdm.data import TiltSeries

    prov: tuple[str, ...] = ()
    if isinstance(series, (TiltSeries, LazySeries)):
        if tilt_angles_deg is None:
            tilt_angles_deg = series.tilt_angles_deg
        if pixel_size_A is None:
            pixel_size_A = series.pixel_size_A
        prov = tuple(series.provenance)
        data = series if isinstance(series, LazySeries) else series.data
    else:
        data = series
    if tilt_angles_deg is None:
        raise ParameterError("no tilt angles: give `tilt_angles_deg` (or a TiltSeries / LazySeries carrying them)",
                             "tilt_angles_deg")
    return data, tilt_angles_deg, pixel_size_A, prov


def _check_kwargs(method: str, kwargs: dict) -> dict:
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}: give `method` as one of {', '.join(METHODS)}", "method")
    bad = sorted(set(kwargs) - set(METHOD_KWARGS[method]))
    if bad:
        raise ParameterError(f"{', '.join(bad)}: not a parameter of method {method!r}, which takes "
                             f"{', '.join(METHOD_KWARGS[method])}", *bad)
    return dict(kwargs)


def _resolve_tv(data, angles, kw: dict, thickness, device) -> dict:
    """``tv_weight="auto"`` chosen once on the whole series (as the plain call does), solver CP."""
    kw.setdefault("tv_weight", 1e-4)
    if isinstance(kw["tv_weight"], str):
        from napari_irdm.tomo.tv_cp import choose_tv_weight

        if kw["tv_weight"].strip().lower() != "auto":
            raise ValueError(f"tv_weight must be a number >= 0 or 'auto', got {kw['tv_weight']!r}")
        kw["tv_weight"] = float(choose_tv_weight(data, angles, iterations=max(1, int(kw.get("iterations", 100))),
                                                 thickness=thickness, nonnegative=True, device=device))
        kw.setdefault("solver", "cp")
    return kw


class _Output:
    """Where slabs go: an OME-Zarr store, an MRC, or memory; created up front, committed at the end."""

    def __init__(self, output, shape, *, pixel_size_A, angles, provenance, chunk_y: int, attrs: dict):
        self.path = None if output is None else Path(output)
        self.shape = shape
        self.array = None
        self._stack = contextlib.ExitStack()
        self._mrc = None
        self.target: OmeZarrTarget | MrcTarget | None = None
        if self.path is None:
            self.array = np.empty(shape, np.float32)
            self.target = None
        elif self.path.suffix.lower() == ".zarr":
            from napari_irdm.io.omezarr import create_omezarr

            self.target = create_omezarr(self.path, shape, pixel_size_A=pixel_size_A, tilt_angles_deg=angles,
                                         provenance=provenance, chunk_y=chunk_y, extra_attrs=attrs)
        elif self.path.suffix.lower() in _MRC_SUFFIXES:
            from napari_irdm.io import create_volume_mrc

            cm = create_volume_mrc(self.path, shape, pixel_size_A=pixel_size_A, provenance=provenance,
                                   tilt_angles_deg=angles)
            self._mrc = cm
            mm = cm.__enter__()
            self.target = MrcTarget(str(mm.filename), int(mm.offset), tuple(shape))
            del mm
        else:
            raise ValueError(f"output {self.path} must end in .zarr (OME-Zarr) or {'/'.join(_MRC_SUFFIXES)} (MRC)")

    def put(self, res: dict) -> None:
        if self.array is not None:
            self.array[:, res["y0"]:res["y1"], :] = res["data"]

    def commit(self, **meta):
        if self.path is None:
            return self.array
        if self._mrc is not None:
            self._mrc.__exit__(None, None, None)
            return self.path
        from napari_irdm.io.omezarr import mark_complete

        mark_complete(self.target, **meta)
        return self.target.commit()

    def abort(self, err: BaseException) -> None:
        if self._mrc is not None:
            with contextlib.suppress(Exception):
                self._mrc.__exit__(type(err), err, err.__traceback__)
        elif self.target is not None and not isinstance(self.target, MrcTarget):  # an MRC is closed above
            self.target.abort()


def reconstruct_iter(
    series,
    tilt_angles_deg=None,
    *,
    method: str = "wbp",
    output: str | os.PathLike | None = None,
    scheduler: Any = None,
    slab: int | None = None,
    thickness: int | None = None,
    device: Any = None,
    pixel_size_A: float | None = None,
    provenance=(),
    **method_kwargs,
) -> Generator[Progress, None, Any]:
    """Reconstruct a tilt series slab by slab of y-slices as Dask tasks (generator).

    Parameters
    ----------
    series : LazySeries, TiltSeries, ndarray or dask array, shape (n_tilts, ny, nx)
        Tilt axis along ``y``. A :class:`~napari_irdm.scale.LazySeries` (from
        :func:`~napari_irdm.scale.open_series`) is read slab by slab by the workers
        themselves, so a series larger than memory (or than one machine's) works.
    tilt_angles_deg : array_like, optional
        Degrees, one per image (default: the series' own).
    method : {"wbp", "sirt", "sart", "tv", "irdm"}
        The reconstruction; ``method_kwargs`` go to its core function (``filter_name``,
        ``iterations``, ``relaxation``, ``nonnegative``, ``tv_weight``, ``model``, ...).
    output : path, optional
        ``*.zarr`` (OME-Zarr, multiscale) or ``.mrc/.rec/.map``; written slab by slab into a
        temporary store and renamed into place at the end (a cancelled or failed run leaves
        nothing). ``None``: the volume is returned in memory.
    scheduler : str or distributed.Client, optional
        ``None`` / ``"threads[:N]"`` (Dask's threaded scheduler), ``"local:N"`` (a
        ``LocalCluster`` of N worker processes for this run), ``"tcp://HOST:PORT"`` (an
        existing cluster, e.g. from dask-jobqueue) or a ``Client``.
    slab : int, optional
        Slices per task (default :func:`slab_size`; IRDM at most 64).
    thickness : int, optional
        ``nz`` (default ``nx``).
    device : str, optional
        Compute device in each worker (:func:`napari_irdm.device.resolve_device`); on
        ``local:N`` with CUDA, worker ``i`` is given GPU ``i mod n_gpus`` alone.
    pixel_size_A : float, optional
        Voxel size written to the output (default the series').
    provenance : sequence of str
        History lines for the output (the series' own are kept before them).

    Yields
    ------
    Progress
        ``step`` = slabs done of ``total`` (plus heartbeats while a slab runs).

    Returns
    -------
    ndarray (nz, ny, nx) float32 when ``output`` is None, else the output's Path.

    Notes
    -----
    Slices perpendicular to the tilt axis are independent, so the result equals the plain
    call (``tomo.wbp`` ...) to float32 rounding; TV's data scale and IRDM's empty-slice
    threshold, which depend on the whole series, are computed once first (see
    :mod:`napari_irdm.scale._slab`). A worker lost mid-run (killed, out of memory) is
    replaced by Dask and its slab recomputed; slab writes are idempotent. Closing the
    generator (Cancel) cancels the futures, waits for running tasks to stop writing and
    deletes the temporary output.
    """
    from napari_irdm.tomo._common import check_series

    data, angles, px, prov0 = _unpack(series, tilt_angles_deg, pixel_size_A)
    angles = check_series(data, angles)
    kw = _check_kwargs(method, method_kwargs)
    spec = parse_scheduler(scheduler)
    n_tilts, ny, nx = (int(s) for s in data.shape)
    if thickness is not None and (isinstance(thickness, bool) or int(thickness) != thickness or int(thickness) < 1):
        raise ParameterError(f"`thickness` must be a positive whole number of voxels, got {thickness!r}", "thickness")
    nz = int(thickness) if thickness is not None else nx
    size = slab_size(nz, ny, nx, method, n_tilts) if slab is None else int(slab)
    if size < 1 or (method == "irdm" and size > IRDM_MAX_SLAB):
        raise ParameterError(f"`slab` must be 1..{IRDM_MAX_SLAB if method == 'irdm' else ny} slices for {method}, "
                             f"got {slab}", "slab")
    if method == "tv":
        kw = _resolve_tv(data, angles, kw, thickness, device)
    if method in ("wbp", "irdm"):
        from napari_irdm.tomo.filters import ramp_response

        ramp_response(4, kw.get("filter_name", "ramp"))  # a bad filter name fails here, not in a worker
    gpus = 0
    dev_name = None if device is None else str(device)
    if spec.kind == "local":
        from napari_irdm.device import cuda_device_count, resolve_device

        if resolve_device(device).type == "cuda":
            gpus = cuda_device_count()
            dev_name = "cuda"  # each worker sees its one GPU as cuda:0
    provenance = [*prov0, *[str(p) for p in provenance]]
    ranges = [(y0, min(ny, y0 + size)) for y0 in range(0, ny, size)]
    token = uuid.uuid4().hex[:12]
    attrs = {"method": method, "parameters": {k: (v if isinstance(v, (int, float, str, bool)) or v is None
                                                  else str(v)) for k, v in kw.items()}}
    with open_scheduler(spec, gpus=gpus) as client:  # an unreachable cluster fails before any output exists
        out = _Output(output, (nz, ny, nx), pixel_size_A=px, angles=angles, provenance=provenance, chunk_y=size,
                      attrs=attrs)
        try:
            yield Progress(0, len(ranges), f"{method.upper()}: {len(ranges)} slabs of {size} slices")
            threads = None
            if spec.kind == "local":
                threads = max(1, (os.cpu_count() or 1) // spec.n)
            job = SlabJob(method=method, kwargs=kw, angles=angles, thickness=thickness, device=dev_name,
                          source=data if isinstance(data, LazySeries) else None, target=out.target, token=token,
                          distributed=client is not None, torch_threads=threads)
            run = _run_distributed if client is not None else _run_threads
            return (yield from run(client, job, data, ranges, out, spec))
        except BaseException as err:
            out.abort(err)
            raise


def _glob_name(method: str) -> str:
    return {"tv": "scale of the series", "irdm": "contrast of the volume"}.get(method, "")


def _blocks_local(job: SlabJob, data, ranges):
    import dask.array as da

    if job.source is not None:
        return [None] * len(ranges)
    return [data[:, y0:y1, :] if isinstance(data, da.Array) else data[:, y0:y1, :] for y0, y1 in ranges]


def _run_threads(client, job: SlabJob, data, ranges, out: _Output, spec: SchedulerSpec):
    """Dask's threaded scheduler in a background thread; progress from the tasks, cancel by flag."""
    import dask
    from dask import delayed

    blocks = _blocks_local(job, data, ranges)
    glob = None
    if job.method == "tv":
        glob = delayed(max)([delayed(series_abs_max)(job, y0, y1, b) for (y0, y1), b in zip(ranges, blocks)])
    elif job.method == "irdm":
        ny = int(data.shape[1])
        probe = None if job.source is not None else np.asarray(data[:, probe_rows(ny), :], dtype=np.float32)
        glob = delayed(irdm_contrast)(job, ny, probe)
    tasks = [delayed(run_slab)(job, y0, y1, b, glob) for (y0, y1), b in zip(ranges, blocks)]
    run = LocalRun()
    LOCAL_RUNS[job.token] = run
    box: dict = {}

    def work():
        try:
            box["results"] = dask.compute(*tasks, scheduler="threads", num_workers=spec.n or min(2, os.cpu_count() or 1))
        except BaseException as err:  # noqa: BLE001 - handed to the generator
            box["error"] = err

    th = threading.Thread(target=work, name=f"napari-irdm-{job.token}", daemon=True)
    try:
        th.start()
        total = len(ranges)
        seen = -1
        yield Progress(0, total, f"{job.method.upper()} on threads")
        while th.is_alive():
            th.join(HEARTBEAT_S)
            done = len(run.done)
            if done != seen or th.is_alive():
                seen = done
                yield Progress(min(done, total), total, f"{job.method.upper()} on threads")
        if "error" in box:
            raise box["error"]
        for res in box["results"]:
            out.put(res)
        yield Progress(total, total, f"{job.method.upper()}: done")
        return out.commit()
    except BaseException:
        run.stop()
        th.join()
        # Dask's threaded scheduler returns at the first failed task while other workers'
        # tasks still run: the cancelled run stays registered (a few bytes) so that such a
        # straggler sees its flag and never writes into the deleted temporary output.
        run.done.clear()
        raise
    finally:
        if not run.cancel.is_set():
            LOCAL_RUNS.pop(job.token, None)


def _run_distributed(client, job: SlabJob, data, ranges, out: _Output, spec: SchedulerSpec):
    """Futures on a distributed cluster; progress from their completion; cancel = cancel them."""
    import dask.array as da
    from distributed import Event

    prefix = f"napari-irdm-{job.method}-{job.token}"
    event = Event(f"napari-irdm-cancel-{job.token}", client=client)
    futures: list = []
    try:
        blocks: list = [None] * len(ranges)
        if job.source is None:
            if isinstance(data, da.Array):
                blocks = [client.compute(data[:, y0:y1, :]) for y0, y1 in ranges]
            else:
                # in the task itself, not scattered: scattered data dies with its worker, a task's
                # own arguments stay with the scheduler, so a lost worker's slab can be rerun
                blocks = [np.ascontiguousarray(data[:, y0:y1, :], dtype=np.float32) for y0, y1 in ranges]
        glob = None
        if job.method == "tv":
            parts = [client.submit(series_abs_max, job, y0, y1, b, key=f"{prefix}-absmax-{y0}")
                     for (y0, y1), b in zip(ranges, blocks)]
            futures += parts
            glob = client.submit(_max, parts, key=f"{prefix}-absmax")
        elif job.method == "irdm":
            ny = int(data.shape[1])
            probe = None
            if job.source is None:
                probe = np.asarray(data[:, probe_rows(ny), :], dtype=np.float32)
            glob = client.submit(irdm_contrast, job, ny, probe, key=f"{prefix}-contrast")
        if glob is not None:
            futures.append(glob)
        slabs = [client.submit(run_slab, job, y0, y1, b, glob, key=f"{prefix}-slab-{y0}", pure=False)
                 for (y0, y1), b in zip(ranges, blocks)]
        futures += slabs
        total = len(slabs)
        pending = set(slabs)
        done = 0
        while pending:
            finished = [f for f in pending if f.done()]
            for f in finished:
                out.put(f.result())  # raises the task's error here (ValueError ... as raised)
                pending.discard(f)
                done += 1
            yield Progress(done, total, f"{job.method.upper()} on {len(client.scheduler_info().get('workers', {}))} "
                           "worker(s)")
            if pending and not finished:
                time.sleep(HEARTBEAT_S)
        results = [f.result() for f in slabs]
        peak = max((r.get("peak_rss", 0) for r in results), default=0)
        by_pid: dict = {}
        for r in results:
            by_pid[r["pid"]] = max(by_pid.get(r["pid"], 0), r.get("peak_rss", 0))
        LAST_RUN_STATS.update(peak_rss=peak, pids=sorted(by_pid), peak_by_pid=by_pid,
                              seconds=[r["seconds"] for r in results])
        return out.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            event.set()
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        _wait_stopped(client, prefix)
        raise


#: figures of the last distributed run of this process (benchmarks print them)
LAST_RUN_STATS: dict = {}


def _max(values) -> float:
    return max(values) if values else 0.0


def _executing(dask_worker, prefix: str) -> int:
    """How many tasks whose key starts with ``prefix`` a worker is still running (cancelled included)."""
    return sum(1 for ts in dask_worker.state.executing if str(ts.key).startswith(prefix))


def _wait_stopped(client, prefix: str, timeout: float = 300.0) -> None:
    """After a cancel: wait until no worker still runs one of the run's tasks (they stop at their
    next progress step), so nothing writes into the temporary output once it is deleted."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        try:
            counts = client.run(_executing, prefix=prefix)
        except Exception:  # noqa: BLE001 - a closing cluster: nothing runs any more
            return
        if not any(counts.values()):
            return
        time.sleep(0.2)


def reconstruct(series, tilt_angles_deg=None, **kwargs):
    """Eager :func:`reconstruct_iter` (same arguments); returns the volume or the output's Path."""
    return run_to_completion(reconstruct_iter(series, tilt_angles_deg, **kwargs))


__all__ += ["Cancelled"]
