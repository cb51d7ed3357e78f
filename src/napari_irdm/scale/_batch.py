"""Many tilt series, one task each: ``napari-irdm batch`` (and scripts) on any Dask scheduler."""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from napari_irdm.progress import Progress

__all__ = ["CSV_COLUMNS", "batch_iter", "is_finished", "reconstruct_one"]

CSV_COLUMNS = ("input", "output", "method", "status", "seconds", "shape", "pixel_size_A", "message")


def is_finished(out: Path) -> bool:
    """Whether ``out`` holds a finished result of an earlier run (outputs appear only when complete)."""
    out = Path(out)
    if out.suffix.lower() == ".zarr":
        from napari_irdm.io.omezarr import open_omezarr

        try:
            return bool(open_omezarr(out).complete)
        except (ValueError, OSError):
            return False
    return out.is_file() and out.stat().st_size > 1024


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def reconstruct_one(path: str, out: str, method: str, method_kwargs: dict, series_options: dict, *,
                    thickness: int | None = None, device: str | None = None, slab: int | None = None,
                    provenance: Sequence[str] = (), torch_threads: int | None = None) -> dict:
    """Task: reconstruct one series into ``out`` (atomic); never raises for a bad file.

    Returns a row of :data:`CSV_COLUMNS` (``status`` ``"done"`` or ``"failed"``).
    """
    from napari_irdm.scale._engine import reconstruct
    from napari_irdm.scale._source import open_series

    t0 = time.perf_counter()
    if torch_threads:  # a worker process of local:N gets its share of the CPUs
        import torch

        torch.set_num_threads(int(torch_threads))
    row = {"input": str(path), "output": str(out), "method": method, "status": "failed", "seconds": "",
           "shape": "", "pixel_size_A": "", "message": ""}
    try:
        series = open_series(path, **series_options)
        kw = dict(method_kwargs)
        if method == "tv" and kw.get("tv_weight") == "auto":
            from napari_irdm.tomo.tv_cp import choose_tv_weight

            w = choose_tv_weight(series, series.tilt_angles_deg, iterations=max(1, int(kw.get("iterations", 100))),
                                 thickness=thickness, device=device, nonnegative=True)
            kw["tv_weight"] = float(f"{w:.3g}")
            kw["solver"] = "cp"
        reconstruct(series, method=method, output=out, thickness=thickness, device=device, slab=slab,
                    provenance=[*provenance, f"batch: {Path(path).name} -> {Path(out).name}"], **kw)
        n, ny, nx = series.shape
        row.update(status="done", shape=f"{thickness or nx}x{ny}x{nx}",
                   pixel_size_A=f"{series.pixel_size_A:g}" if series.pixel_size_A else "")
        if kw.get("tv_weight") != method_kwargs.get("tv_weight"):
            row["message"] = f"tv_weight {kw['tv_weight']:g} (auto)"
    except (ValueError, OSError, MemoryError, RuntimeError, EOFError) as err:
        row["message"] = _first_line(err)
    row["seconds"] = f"{time.perf_counter() - t0:.2f}"
    return row


def batch_iter(jobs: list[tuple[str, str]], method: str, method_kwargs: dict, series_options: dict, *,
               scheduler: Any = None, thickness: int | None = None, device: str | None = None,
               slab: int | None = None, overwrite: bool = False, provenance: Sequence[str] = (),
               ) -> Generator[Progress | dict, None, list[dict]]:
    """Reconstruct ``jobs`` (``(input, output)`` pairs), one task per series (generator).

    Finished outputs are skipped unless ``overwrite``; a failing series is reported in its row
    and the others go on. Yields :class:`Progress` and, as each finishes, its row (a dict);
    returns all rows in the order of ``jobs``.
    """
    from napari_irdm.scale._schedulers import open_scheduler, parse_scheduler

    spec = parse_scheduler(scheduler)
    rows: dict[int, dict] = {}
    todo = []
    for i, (src, out) in enumerate(jobs):
        if not overwrite and is_finished(Path(out)):
            rows[i] = {"input": src, "output": out, "method": method, "status": "skipped", "seconds": "0",
                       "shape": "", "pixel_size_A": "", "message": "output exists (finished earlier)"}
        else:
            todo.append(i)
    total = len(jobs)
    yield Progress(len(rows), total, f"batch: {len(todo)} to do, {len(rows)} finished earlier")
    for i in sorted(rows):
        yield rows[i]
    kw: dict[str, Any] = dict(thickness=thickness, device=device, slab=slab, provenance=tuple(provenance))
    with open_scheduler(spec) as client:
        if spec.kind == "local":
            kw["torch_threads"] = max(1, (os.cpu_count() or 1) // spec.n)
        if client is None:
            for i in todo:
                src, out = jobs[i]
                rows[i] = reconstruct_one(src, out, method, method_kwargs, series_options, **kw)
                yield rows[i]
                yield Progress(len(rows), total, f"batch: {Path(src).name} {rows[i]['status']}")
        else:
            from distributed import as_completed

            futures = {client.submit(reconstruct_one, jobs[i][0], jobs[i][1], method, method_kwargs, series_options,
                                     **kw, key=f"napari-irdm-batch-{os.getpid()}-{i}-{Path(jobs[i][0]).name}",
                                     pure=False): i for i in todo}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        rows[i] = fut.result()
                    except Exception as err:  # noqa: BLE001 - a lost worker (KilledWorker) fails one series only
                        src, out = jobs[i]
                        rows[i] = {"input": src, "output": out, "method": method, "status": "failed", "seconds": "",
                                   "shape": "", "pixel_size_A": "", "message": _first_line(err)}
                    yield rows[i]
                    yield Progress(len(rows), total, f"batch: {Path(jobs[i][0]).name} {rows[i]['status']}")
            except BaseException:
                client.cancel(list(futures), force=True)
                raise
    return [rows[i] for i in range(total)]
