"""Scale-out benchmark (issue 14): slab-parallel WBP into OME-Zarr on Dask, and IRDM through the cluster.

Not a test. Writes a synthetic tilt series (spheres, analytic projections) as an MRC, then
reconstructs it lazily (the workers read their own slabs) with WBP into OME-Zarr on

- the threaded scheduler in this process,
- a LocalCluster of 1 and of 2 worker processes (``--workers``),

printing wall time, throughput, the peak RSS of each worker process, and the relative
difference of a few slices to the plain ``tomo.wbp`` call; then IRDM on a cube through the
2-worker cluster. Full size (the issue's figure; needs ~40 GiB of free disk)::

    python benchmarks/scale_wbp.py --size 2048 --slices 2048 --tilts 61 --irdm-size 512

The size run on the shared 2-core development machine is in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_series(path: Path, n: int, ny: int, n_tilts: int, seed: int = 0) -> np.ndarray:
    """Analytic projections of random spheres (the exact line integrals), tilt by tilt into an MRC."""
    import mrcfile

    rng = np.random.default_rng(seed)
    k = 40
    r = rng.uniform(n / 40, n / 12, k)
    c = (n - 1) / 2
    zc, xc = rng.uniform(-n / 4, n / 4, (2, k))
    yc = rng.uniform(0, ny, k)
    angles = np.linspace(-60, 60, n_tilts)
    mrc = mrcfile.new_mmap(str(path), (n_tilts, ny, n), mrc_mode=2, overwrite=True)
    u = np.arange(n) - c
    y = np.arange(ny)
    for i, a in enumerate(np.deg2rad(angles)):
        img = np.zeros((ny, n), np.float32)
        for j in range(k):
            u0 = xc[j] * np.cos(a) + zc[j] * np.sin(a)
            y0, y1 = int(max(0, yc[j] - r[j])), int(min(ny, yc[j] + r[j] + 1))
            x0, x1 = int(max(0, u0 + c - r[j])), int(min(n, u0 + c + r[j] + 1))
            if y1 <= y0 or x1 <= x0:
                continue
            d2 = r[j] ** 2 - (u[None, x0:x1] - u0) ** 2 - (y[y0:y1, None] - yc[j]) ** 2
            img[y0:y1, x0:x1] += 2 * np.sqrt(np.clip(d2, 0, None)).astype(np.float32)
        mrc.data[i] = img
    mrc.voxel_size = 1.0
    mrc.close()
    path.with_suffix(".rawtlt").write_text("\n".join(f"{a:.4f}" for a in angles) + "\n")
    return angles


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f}"


def run_case(label, series, out: Path, scheduler, method="wbp", **kw) -> dict:
    from napari_irdm.scale import reconstruct
    from napari_irdm.scale._engine import LAST_RUN_STATS

    LAST_RUN_STATS.clear()
    t0 = time.perf_counter()
    reconstruct(series, method=method, output=out, scheduler=scheduler, **kw)
    wall = time.perf_counter() - t0
    stats = dict(LAST_RUN_STATS)
    return {"label": label, "wall_s": wall, "stats": stats}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048, help="detector width nx (= volume nz and nx)")
    ap.add_argument("--slices", type=int, default=2048, help="slices ny along the tilt axis")
    ap.add_argument("--tilts", type=int, default=61, help="number of tilts (-60..60 degrees)")
    ap.add_argument("--workers", default="1,2", help="LocalCluster sizes to time, comma-separated")
    ap.add_argument("--irdm-size", type=int, default=512, help="cube edge of the IRDM run (0: skip)")
    ap.add_argument("--workdir", default=None, help="where the series and outputs go (default: a temp folder)")
    ap.add_argument("--device", default="cpu", help="compute device in the workers (default cpu)")
    ap.add_argument("--skip-threads", action="store_true", help="do not time the threaded CLI path")
    args = ap.parse_args(argv)

    import torch
    from distributed import Client

    from napari_irdm import tomo
    from napari_irdm.io.omezarr import open_omezarr
    from napari_irdm.scale import open_series
    from napari_irdm.scale._schedulers import _local_cluster

    work = Path(args.workdir or tempfile.mkdtemp(prefix="irdm-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    n, ny, nt = args.size, args.slices, args.tilts
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (1 min)")
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}")
    t0 = time.perf_counter()
    src = work / "series.mrc"
    angles = write_series(src, n, ny, nt)
    print(f"series: {nt} x {ny} x {n} float32 ({_gib(4 * nt * ny * n)} GiB) written in "
          f"{time.perf_counter() - t0:.1f} s; volume {n} x {ny} x {n} ({_gib(4 * n * ny * n)} GiB)")
    series = open_series(src)
    rows = []

    def show(r: dict) -> None:
        s = r.get("irdm", ny)
        vox = (r.get("irdm") or n) ** 2 * s
        peaks = ", ".join(_gib(v) for v in sorted(r["peaks"].values())) or "-"
        extra = f" (+{r['start_s']:.0f} s cluster start)" if "start_s" in r else ""
        rel = "-" if np.isnan(r["rel"]) else f"{r['rel']:.1e}"
        print(f"| {r['label']}{extra} | {s} | {r['wall_s']:.1f} | {s / r['wall_s']:.2f} | {vox / r['wall_s']:.3g} "
              f"| {peaks} | {rel} |", flush=True)

    print("| run | slices | wall (s) | slices/s | voxels/s | peak RSS per worker (GiB) | rel. diff to plain (3 slices) |")
    print("|---|---|---|---|---|---|---|", flush=True)
    check_rows = np.linspace(0, ny - 1, 3).round().astype(int)
    ref = tomo.wbp(series.read_rows(check_rows), angles, device=args.device)

    def check(path: Path) -> float:
        got = np.stack([np.asarray(open_omezarr(path).data[:, int(y), :]) for y in check_rows], axis=1)
        return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))

    # the default path (threaded scheduler) in a fresh process, so its peak RSS is its own
    import resource
    import subprocess
    import sys

    if not args.skip_threads:
        out = work / "wbp_threads.zarr"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "napari_irdm.cli", "reconstruct", str(src), "-o", str(out), "--device",
                        args.device, "--quiet"], check=True)
        r = {"label": "threads (CLI, one process)", "wall_s": time.perf_counter() - t0,
             "peaks": {"cli": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}}
        r["rel"] = check(out)
        rows.append(r)
        show(r)
        shutil.rmtree(out, ignore_errors=True)
    for w in [int(x) for x in args.workers.split(",") if x.strip()]:
        t0 = time.perf_counter()
        cluster = _local_cluster(w, 0)
        client = Client(cluster)
        client.wait_for_workers(w)
        client.run(lambda: __import__("napari_irdm.tomo"))
        start = time.perf_counter() - t0
        out = work / f"wbp_local{w}.zarr"
        r = run_case(f"LocalCluster {w} worker(s)", series, out, client, device=args.device)
        r["start_s"] = start
        r["peaks"] = r["stats"].get("peak_by_pid", {})
        r["rel"] = check(out)
        rows.append(r)
        show(r)
        shutil.rmtree(out, ignore_errors=True)
        if w == max(int(x) for x in args.workers.split(",")) and args.irdm_size:
            m = args.irdm_size
            isrc = work / "irdm_series.mrc"
            write_series(isrc, m, m, nt, seed=1)
            out = work / "irdm.zarr"
            r = run_case(f"IRDM {m}^3, LocalCluster {w}", open_series(isrc), out, client, method="irdm",
                         device=args.device)
            r["peaks"] = r["stats"].get("peak_by_pid", {})
            r["rel"] = float("nan")
            r["irdm"] = m
            rows.append(r)
            show(r)
            shutil.rmtree(out, ignore_errors=True)
        client.close()
        cluster.close()

    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
