"""Reconstruct the real NIST HAADF needle tilt series with WBP and SIRT; save a cross-section PNG.

Data: ``../shared/data/etspy-needle-haadf/HAADF_aligned.mrc`` (77 × 256 × 256, tilt axis
along image **x**, angles −76…+76° from ``HAADF_aligned.rawtlt``, 33.6 Å pixels; NIST,
public domain). The series is read with ``tilt_axis="x"`` (images transposed so the tilt
axis runs along y), reconstructed with WBP (ramp) and SIRT, and slices perpendicular to
the tilt axis, ``volume[:, y, :]`` (z down, x across), are written to
``docs/img/needle_wbp_sirt.png``.

Run: ``.venv/bin/python benchmarks/real_needle.py [--data PATH] [--out PNG]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "data" / "etspy-needle-haadf" / "HAADF_aligned.mrc"


def save_png_atomic(fig, path: Path, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, **kwargs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT))
    ap.add_argument("--out", default=str(REPO / "docs" / "img" / "needle_wbp_sirt.png"))
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--rows", type=float, nargs="+", default=[0.25, 0.45, 0.65],
                    help="positions along the tilt axis (fractions of its length) to show")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_irdm.io import read_tilt_series
    from napari_irdm.tomo import sirt, wbp

    ts = read_tilt_series(args.data, tilt_axis="x")
    data, angles = ts.data, ts.tilt_angles_deg
    print(f"{args.data}: {data.shape} after reading with tilt_axis='x', angles {angles.min():g}..{angles.max():g}° "
          f"from {ts.angle_source}, pixel {ts.pixel_size_A} Å")
    t0 = time.perf_counter()
    rec_w = wbp(data, angles)
    t_w = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec_s, res = sirt(data, angles, iterations=args.iterations, nonnegative=True, return_residuals=True)
    t_s = time.perf_counter() - t0
    print(f"WBP {t_w:.1f} s, SIRT {args.iterations} it {t_s:.1f} s (relative residual {res[0]:.3f} -> {res[-1]:.4f})")

    ny = data.shape[1]
    ys = [int(round(f * (ny - 1))) for f in args.rows]
    zero = int(np.argmin(np.abs(angles)))
    px_nm = (ts.pixel_size_A or 0) / 10.0
    fig, axes = plt.subplots(2, len(ys) + 1, figsize=(3.2 * (len(ys) + 1), 6.6), constrained_layout=True)
    proj = data[zero]
    for ax in axes[:, 0]:
        ax.imshow(proj, cmap="gray")
        for y in ys:
            ax.axhline(y, color="tab:orange", lw=0.8)
        ax.set_title(f"{angles[zero]:g}° image, transposed:\ntilt axis ↓ (y); lines = slices shown", fontsize=8)
        ax.set_axis_off()
    for row, (name, rec) in enumerate((("WBP (ramp)", rec_w), (f"SIRT {args.iterations} it, ≥0", rec_s))):
        for k, y in enumerate(ys):
            sl = rec[:, y, :]
            lo, hi = np.percentile(sl, [1, 99.9])
            ax = axes[row, k + 1]
            ax.imshow(sl, cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(f"{name}, slice y={y} (z↓, x→)", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    if px_nm:
        fig.suptitle(f"NIST HAADF needle, ±76°, {px_nm:g} nm pixels: slices perpendicular to the tilt axis",
                     fontsize=10)
    save_png_atomic(fig, Path(args.out), dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
