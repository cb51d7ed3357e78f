"""The trust report on simulated gold, checked against the truth: WBP, IRDM, IRDM + iterative consistency.

Simulates the sample-data gold nanocrystal (Au truncated octahedron, 0.25 Å pixels, no noise unless
``--dose``), reconstructs it, runs :func:`napari_irdm.analysis.validate.validate` (even/odd-tilt FSC with
the ½-bit threshold, cones of 20° along x, y, z) and, beside it, the FSC of each full volume against the
ground truth (0.5 criterion). Prints one line per method and, with ``--plot-dir``, writes the report plots.

Run (small; the numbers in docs/validate.md)::

    nice .venv/bin/python benchmarks/validate_gold.py --size-px 96 --size-nm 2 --tilt 60
    nice .venv/bin/python benchmarks/validate_gold.py --size-px 96 --size-nm 2 --tilt 60 --dose 2e4
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> int:
    import numpy as np

    from napari_irdm.analysis.validate import directional_fsc, validate, wedge_energy_fraction
    from napari_irdm.dl import inpaint
    from napari_irdm.simulate import gold_sample
    from napari_irdm.tomo import wbp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-px", type=int, default=96)
    ap.add_argument("--size-nm", type=float, default=2.0)
    ap.add_argument("--tilt", type=float, default=60.0, help="tilt range ±TILT degrees, 2° steps")
    ap.add_argument("--dose", type=float, default=None, help="e/Å² per image (Poisson noise)")
    ap.add_argument("--model", default="general")
    ap.add_argument("--plot-dir", default=None)
    a = ap.parse_args(argv)
    ts, truth = gold_sample((-a.tilt, a.tilt), 2.0, size_nm=a.size_nm, size_px=a.size_px, dose_e_per_A2=a.dose)
    ang, px, t = ts.tilt_angles_deg, ts.pixel_size_A, truth.volume.data
    e_t, vox = wedge_energy_fraction(t, ang)
    print(f"gold {a.size_px}³ px, {px} Å, ±{a.tilt:g}°, dose {a.dose}: truth has {100 * e_t:.1f} % of its spectral "
          f"energy in the wedge ({100 * vox:.1f} % of Fourier space)")
    w = wbp(ts.data, ang)
    vols = {"wbp": (w, "wbp", False),
            "irdm": (inpaint(w, ang, model=a.model), "irdm", False),
            "irdm_iter": (inpaint(w, ang, model=a.model, consistency="iterative", tilt_series=ts.data), "irdm",
                          "iterative")}
    print(f"{'volume':>10} | {'report: all':>11} {'x':>6} {'y':>6} {'z':>6} | {'truth: all':>10} {'x':>6} {'y':>6} "
          f"{'z':>6} | {'reproj':>6} {'wedgeE':>6} {'time':>5}")
    fmt = lambda r: ("≤" if r.at_nyquist else " ") + f"{r.resolution_A:5.2f}"  # noqa: E731
    for name, (v, method, dc) in vols.items():
        t0 = time.perf_counter()
        rep = validate(v, ts.data, ang, method=method, pixel_size_A=px, model=a.model, data_consistency=dc)
        dt = time.perf_counter() - t0
        tf = directional_fsc(v, t, pixel_size_A=px, threshold=0.5)
        print(f"{name:>10} | {fmt(rep.fsc['all']):>11} {fmt(rep.fsc['x'])} {fmt(rep.fsc['y'])} {fmt(rep.fsc['z'])} | "
              f"{fmt(tf['all']):>10} {fmt(tf['x'])} {fmt(tf['y'])} {fmt(tf['z'])} | "
              f"{np.mean(rep.reprojection_residual):6.3f} {rep.wedge_energy_fraction:6.3f} {dt:5.1f}", flush=True)
        if a.plot_dir:
            rep.plot(f"{a.plot_dir}/validate_gold_{name}.png")
    print("resolutions in Å; ≤: the curve never fell below the threshold (Nyquist bound)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
