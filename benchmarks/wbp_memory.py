"""Peak memory of a 1024-slice 1024² WBP written through a memory-mapped MRC.

1. Writes a 91-tilt (±70°) 1024×1024 phantom tilt series (exact ellipsoid projections)
   to ``--workdir/series.mrc`` + ``series.rawtlt`` (skipped when present).
2. Runs ``napari-irdm reconstruct series.mrc -o volume.mrc`` (WBP; the CLI writes into
   :func:`napari_irdm.io.create_volume_mrc` chunk by chunk) in a child process and
   reports its wall time and peak RSS (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``).
3. Checks four middle slices of the 4 GiB result against a direct in-memory WBP of them.

Run: ``.venv/bin/python benchmarks/wbp_memory.py`` (a few minutes; needs ~5 GB of disk).
Target: peak RSS < 6 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _phantom3d import phantom_series, random_ellipsoids  # noqa: E402


def make_input(path: Path, n: int, angles: np.ndarray) -> None:
    from napari_irdm.io import create_volume_mrc, write_angles

    ell = random_ellipsoids(n, count=24, seed=1)
    step = 64
    with create_volume_mrc(path, (angles.size, n, n), pixel_size_A=1.0, image_stack=True,
                           provenance=["wbp_memory benchmark phantom"]) as out:
        for y0 in range(0, n, step):
            # rows y0:y0+step of every projection (phantom_series works on a band of y)
            sub = _band(ell, n, angles, y0, min(n, y0 + step))
            out[:, y0 : y0 + sub.shape[1], :] = sub
    write_angles(path.with_suffix(".rawtlt"), angles)


def _band(ell, n, angles, y0, y1):
    """Projections of rows y0:y1 only (shift the ellipsoids so the band is a full small volume)."""
    cy = (np.arange(n) - (n - 1) / 2.0)[y0:y1]
    shifted = ell.copy()
    # phantom_series centres y on (ny-1)/2: move the ellipsoids so band row j sits at cy[j]
    shifted[:, 1] = ell[:, 1] - (cy[0] + cy[-1]) / 2.0
    return phantom_series(shifted, n, angles, ny=y1 - y0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--tilts", type=int, default=91)
    ap.add_argument("--workdir", default="/tmp/napari_irdm_wbp_memory")
    ap.add_argument("--keep", action="store_true", help="keep the 4 GiB output")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    n, angles = args.n, np.linspace(-70.0, 70.0, args.tilts)
    series, volume = work / "series.mrc", work / "volume.mrc"
    if not series.exists():
        t0 = time.perf_counter()
        make_input(series, n, angles)
        print(f"wrote {series} ({args.tilts}x{n}x{n}) in {time.perf_counter() - t0:.0f} s")
    exe = Path(sys.executable).with_name("napari-irdm")
    cmd = [str(exe), "reconstruct", str(series), "-o", str(volume), "--method", "wbp", "--device", "cpu", "--quiet"]
    print("running:", " ".join(cmd))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"WBP {n} slices of {n}², {args.tilts} tilts: {wall:.1f} s wall, peak RSS {peak_kb / 1024**2:.2f} GiB "
          f"(target < 6 GB = 5.59 GiB)")

    import mrcfile

    from napari_irdm.tomo import wbp

    y0 = n // 2
    with mrcfile.mmap(series, mode="r") as m:
        rows = np.array(m.data[:, y0 : y0 + 4, :])
    with mrcfile.mmap(volume, mode="r") as m:
        got = np.array(m.data[:, y0 : y0 + 4, :])
        print(f"output {m.data.shape} {m.data.dtype}, voxel size {float(m.voxel_size.x):g} Å")
    ref = wbp(rows, angles)
    err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
    print(f"slices {y0}..{y0 + 3} vs in-memory WBP: max relative difference {err:.2e}")
    if not args.keep:
        volume.unlink()
    return 0 if peak_kb < 6e9 / 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
