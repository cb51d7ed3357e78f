"""WBP (and SIRT) speed and accuracy: napari-irdm vs ASTRA toolbox (CPU) vs scikit-image, one process.

The same 256-slice phantom series (256² slices, 141 tilts, ±70°, exact line integrals
of random ellipsoids) is reconstructed by

* ``napari_irdm.tomo.wbp`` — cold (first call: builds the projection matrix) and warm
  (cached geometry, median of 3);
* ASTRA's CPU ``FBP`` (``parallel`` geometry, angles ``−θ`` in radians, ``linear`` projector),
  slice by slice;
* scikit-image ``iradon`` (ramp filter, linear interpolation, ``theta = −θ``), slice by slice;

and prints seconds, RMSE against the phantom inside the reconstruction circle (the same
mask for all) and the speed ratios. Then SIRT (50 iterations) against ASTRA's CPU SIRT
(ASTRA timed on ``--sirt-slices`` slices and scaled to all of them).

Run: ``.venv/bin/python benchmarks/wbp_vs_peers.py`` (about 1–3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _phantom3d import phantom_series, phantom_volume, random_ellipsoids  # noqa: E402


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    return (f"{platform.system()} {platform.machine()}, nproc={os.cpu_count()}, CPU '{model}', "
            f"torch {torch.__version__} threads={torch.get_num_threads()}, numpy {np.__version__}")


def rmse(rec, truth, mask):
    return float(np.sqrt(np.mean((rec[mask] - truth[mask]) ** 2)))


def gain_rmse(rec, truth, mask):
    """RMSE after the best least-squares gain (separates scaling from shape errors)."""
    r, t = rec[mask].astype(np.float64), truth[mask].astype(np.float64)
    g = float(r @ t / max(r @ r, 1e-30))
    return float(np.sqrt(np.mean((g * r - t) ** 2))), g


def astra_slices(series, angles, n, algo="FBP", iterations=1, slices=None):
    import astra

    n_tilts, ny, n_det = series.shape
    idx = range(ny) if slices is None else slices
    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n_det, -np.deg2rad(angles))
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.zeros((n, len(idx), n), np.float32)
    try:
        for k, j in enumerate(idx):
            sid = astra.data2d.create("-sino", proj_geom, series[:, j, :])
            rid = astra.data2d.create("-vol", vol_geom, 0.0)
            cfg = astra.astra_dict(algo)
            cfg["ProjectorId"] = pid
            cfg["ProjectionDataId"] = sid
            cfg["ReconstructionDataId"] = rid
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid, iterations)
            out[:, k, :] = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
    finally:
        astra.projector.delete(pid)
    return out


def skimage_slices(series, angles, n):
    from skimage.transform import iradon

    out = np.zeros((n, series.shape[1], n), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(series.shape[1]):
            out[:, j, :] = iradon(series[:, j, :].T, theta=-np.asarray(angles), filter_name="ramp",
                                  interpolation="linear", circle=True, output_size=n)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="slice size and number of slices (default 256)")
    ap.add_argument("--tilts", type=int, default=141)
    ap.add_argument("--range", type=float, default=70.0, help="± tilt range in degrees")
    ap.add_argument("--sirt-slices", type=int, default=32, help="slices ASTRA SIRT is timed on (0: skip SIRT)")
    ap.add_argument("--sirt-iterations", type=int, default=50)
    args = ap.parse_args(argv)

    import torch

    from napari_irdm.tomo import sirt, wbp

    n, ang = args.n, np.linspace(-args.range, args.range, args.tilts)
    print(machine())
    print(f"phantom: {n} slices of {n}², {args.tilts} tilts ±{args.range:g}°, analytic ellipsoid projections")
    ell = random_ellipsoids(n)
    truth = phantom_volume(ell, n)
    series = phantom_series(ell, n, ang)
    c = np.arange(n) - (n - 1) / 2.0
    circle = (c[:, None] ** 2 + c[None, :] ** 2) < (n / 2.0 - 1) ** 2
    mask = np.broadcast_to(circle[:, None, :], truth.shape)

    # warm up torch / MKL / FBGEMM on a tiny problem (not the benchmark geometry)
    wbp(np.ones((5, 2, 16), np.float32), np.linspace(-60, 60, 5), device="cpu")

    rows = []
    t0 = time.perf_counter()
    rec = wbp(series, ang, device="cpu")
    t_cold = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        rec = wbp(series, ang, device="cpu")
        warm.append(time.perf_counter() - t0)
    t_warm = statistics.median(warm)
    rows.append(("napari-irdm wbp (cold)", t_cold, rec))
    rows.append(("napari-irdm wbp (warm)", t_warm, rec))

    try:
        import astra  # noqa: F401

        t0 = time.perf_counter()
        rec_a = astra_slices(series, ang, n, "FBP")
        rows.append(("ASTRA CPU FBP (linear)", time.perf_counter() - t0, rec_a))
    except ImportError:
        print("astra-toolbox not installed: skipping ASTRA")
    t0 = time.perf_counter()
    rec_s = skimage_slices(series, ang, n)
    rows.append(("skimage iradon", time.perf_counter() - t0, rec_s))

    print(f"\n{'method':28s} {'seconds':>8s} {'RMSE':>8s} {'RMSE@gain':>10s} {'gain':>6s}")
    for name, t, r in rows:
        g_rmse, g = gain_rmse(r, truth, mask)
        print(f"{name:28s} {t:8.2f} {rmse(r, truth, mask):8.4f} {g_rmse:10.4f} {g:6.3f}")
    peers = {name: t for name, t, _ in rows if not name.startswith("napari")}
    for name, t in peers.items():
        print(f"speed-up vs {name}: cold {t / t_cold:.1f}x, warm {t / t_warm:.1f}x")

    if args.sirt_slices > 0:
        it = args.sirt_iterations
        t0 = time.perf_counter()
        rec_sirt = sirt(series, ang, iterations=it, device="cpu")
        t_sirt = time.perf_counter() - t0
        print(f"\nSIRT {it} iterations")
        print(f"{'napari-irdm sirt (all ' + str(n) + ' slices)':40s} {t_sirt:8.2f} s  RMSE {rmse(rec_sirt, truth, mask):.4f}")
        try:
            sl = np.linspace(0, n - 1, args.sirt_slices).round().astype(int)
            t0 = time.perf_counter()
            rec_as = astra_slices(series, ang, n, "SIRT", iterations=it, slices=sl)
            t_as = (time.perf_counter() - t0) * n / len(sl)
            sub = mask[:, sl, :]
            ours_sub = rmse(rec_sirt[:, sl, :], truth[:, sl, :], sub)
            print(f"{'ASTRA CPU SIRT (scaled from ' + str(len(sl)) + ' slices)':40s} {t_as:8.2f} s  RMSE "
                  f"{rmse(rec_as, truth[:, sl, :], sub):.4f} (ours on the same slices {ours_sub:.4f})")
            print(f"speed-up vs ASTRA SIRT: {t_as / t_sirt:.1f}x")
        except ImportError:
            pass
    print(f"\ntorch threads {torch.get_num_threads()}; timings include the other processes on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
