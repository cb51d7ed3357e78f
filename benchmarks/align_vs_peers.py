"""Alignment time and accuracy on a 141-image 512² synthetic series, side by side in one process.

Usage: nice python benchmarks/align_vs_peers.py [--size 512] [--n 141]

The series: 80 gold-like Gaussian beads in a 512³ volume, projected analytically (a 3-D Gaussian
projects to a 2-D Gaussian at u = x cos θ + z sin θ, the project's convention), tilts ±70°,
then spoiled with a random-walk drift (RMS 4 px) + 0.5 px jitter, a 2° tilt-axis rotation and a
3 px rotation-centre offset, and Poisson noise. Errors are measured modulo rigid specimen motion
(see tests/align/_spoil.py). Peers: scikit-image ``phase_cross_correlation`` (neighbour chain,
upsample 20) and etspy / tomopy when importable.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "align"))


def beads_series(n: int, angles: np.ndarray, n_beads: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.uniform(-0.3 * n, 0.3 * n, (n_beads, 3))  # z, y, x
    s = rng.uniform(1.5, 3.0, n_beads) * n / 256
    th = np.deg2rad(angles)
    u = np.arange(n) - (n - 1) / 2
    out = np.zeros((angles.size, n, n), np.float32)
    for k in range(n_beads):
        uk = c[k, 2] * np.cos(th) + c[k, 0] * np.sin(th)  # (n_tilts,)
        gy = np.exp(-((u - c[k, 1]) ** 2) / (2 * s[k] ** 2))
        gx = np.exp(-((u[None, :] - uk[:, None]) ** 2) / (2 * s[k] ** 2))
        out += (s[k] * np.sqrt(2 * np.pi) * gy[None, :, None] * gx[:, None, :]).astype(np.float32)
    return out


def spoil(ideal, angles, seed=1):
    from napari_irdm.align import Transforms, apply_transforms

    rng = np.random.default_rng(seed)
    k = angles.size
    walk = np.cumsum(rng.normal(0, 1, (k, 2)), 0)
    walk -= walk.mean(0)
    walk *= 4.0 / np.sqrt((walk**2).sum(1).mean())
    d = walk + rng.normal(0, 0.5, (k, 2))
    d[:, 0] += 3.0
    truth = Transforms.from_parameters(d, 2.0, angles)
    inv = np.linalg.inv(truth.matrices[:, :, :2])
    undo = Transforms(np.concatenate([inv, -(inv @ d[:, :, None])], 2), angles)
    raw = apply_transforms(ideal, undo)
    raw = rng.poisson(np.clip(raw, 0, None) * 20.0).astype(np.float32) / 20.0
    return raw, truth


def skimage_chain(raw, angles):
    from skimage.registration import phase_cross_correlation

    order = np.argsort(angles)
    i0 = int(np.argmin(np.abs(angles[order])))
    shifts = np.zeros((angles.size, 2))
    for direction in (1, -1):
        acc = np.zeros(2)
        j = i0
        while 0 <= j + direction < angles.size:
            a, b = order[j], order[j + direction]
            s, _, _ = phase_cross_correlation(raw[a], raw[b], upsample_factor=20)
            acc = acc + s[::-1]  # (dy, dx) to (dx, dy): the shift that moves b onto a
            shifts[b] = acc
            j += direction
    return shifts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=141)
    ap.add_argument("--levels", default="8,4", help="our binning levels (default 8,4)")
    args = ap.parse_args(argv)
    from _spoil import gauge_errors

    from napari_irdm.align import align

    angles = np.linspace(-70, 70, args.n)
    t0 = time.perf_counter()
    ideal = beads_series(args.size, angles)
    raw, truth = spoil(ideal, angles)
    print(f"series {raw.shape} made in {time.perf_counter() - t0:.0f} s; torch threads {torch.get_num_threads()}")
    rows = []

    def record(name, fn):
        t = time.perf_counter()
        shifts, rot = fn()
        took = time.perf_counter() - t
        rms, centre, _ = gauge_errors(shifts, truth.shifts_xy, angles)
        rows.append((name, took, rms, centre, rot))
        print(f"| {name} | {took:.0f} | {rms:.2f} | {abs(centre):.2f} | {'n/a' if rot is None else f'{abs(rot - 2.0):.2f}'} |",
              flush=True)

    print("| method | time (s) | RMS shift error (px) | centre error (px) | tilt-axis error (deg) |")
    print("|---|---|---|---|---|")
    record("scikit-image phase_cross_correlation (neighbour chain)", lambda: (skimage_chain(raw, angles), None))
    lv = tuple(int(v) for v in args.levels.split(","))
    for method, kw in (("com", {}), ("pm", {})):  # the defaults: iterations 8, coarse start auto
        def run(method=method, kw=kw):
            r = align(raw, angles, method=method, levels=lv, **kw)
            return r.transforms.shifts_xy, r.transforms.rotation_deg
        record(f"napari-irdm align --method {method} (levels {args.levels})", run)
    try:
        import etspy  # noqa: F401
    except ImportError:
        print("(etspy not importable here: not run)")
    else:
        for method in ("PC", "COM"):
            record(f"etspy {etspy_version()} stack_register('{method}')", lambda m=method: (etspy_shifts(raw, angles, m), None))
        record("etspy stack_register('COM') + tilt_align('CoM')", lambda: etspy_com_tilt(raw, angles))
    try:
        import tomopy  # noqa: F401
    except ImportError:
        print("(tomopy not importable here: not run)")
    return 0


def etspy_version() -> str:
    from importlib.metadata import version

    return version("etspy")


def _tomostack(raw, angles):
    from etspy.base import TomoStack

    # etspy's tilt axis runs along the image x (columns): our images (axis along y) transposed
    return TomoStack(np.ascontiguousarray(raw.transpose(0, 2, 1)), tilts=np.asarray(angles, float))


def etspy_shifts(raw, angles, method):
    """etspy's translation (``shifts[:, 0]`` rows = perpendicular to its axis, ``[:, 1]`` columns) as our (dx, dy).

    etspy applies them with ``scipy.ndimage.shift`` (content moved by +shift), as our
    ``aligned(x + d) = raw(x)``; in our transposed frame x is its rows, y its columns.
    """
    reg = _tomostack(raw, angles).stack_register(method)
    s = np.asarray(reg.shifts.data, np.float64).reshape(-1, 2)
    return np.stack([s[:, 0], s[:, 1]], 1)


def etspy_com_tilt(raw, angles):
    """COM registration then etspy's CoM tilt-axis fit; its angle reported as is (sign not mapped)."""
    reg = _tomostack(raw, angles).stack_register("COM")
    ali = reg.tilt_align("CoM")
    s = np.asarray(reg.shifts.data, np.float64).reshape(-1, 2)
    rot = float(ali.metadata.Tomography.tiltaxis)
    print(f"(etspy tilt_align('CoM'): tiltaxis {rot:.3f} deg, yshift {float(ali.metadata.Tomography.yshift):.2f} px "
          "in its frame; the |error| column uses |tiltaxis|)", flush=True)
    return np.stack([s[:, 0], s[:, 1]], 1), abs(rot)


if __name__ == "__main__":
    raise SystemExit(main())
