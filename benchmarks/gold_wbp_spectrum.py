"""Missing wedge in numbers: Bragg reflections of a simulated Au nanocrystal, ground truth vs ±70° WBP.

Simulates the default gold sample (Au truncated octahedron, 3 nm, [100] along the tilt axis,
0.25 Å pixels, ±70° in 2° steps, noise-free unless --dose), reconstructs it by WBP, and prints
the per-family table of detected / expected reflections in the measured and missing-wedge
regions for both volumes. The table in docs/atomic_et.md was made with::

    .venv/bin/python benchmarks/gold_wbp_spectrum.py --d-min 0.72

Options: --tilt-range A B, --tilt-step, --size-nm, --pixel-size, --dose, --orientation, --seed,
--json OUT (both reports), --save DIR (simulation folder + wbp.mrc for `napari-irdm spectrum`).
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tilt-range", nargs=2, type=float, default=(-70.0, 70.0))
    ap.add_argument("--tilt-step", type=float, default=2.0)
    ap.add_argument("--size-nm", type=float, default=3.0)
    ap.add_argument("--pixel-size", type=float, default=0.25)
    ap.add_argument("--dose", type=float, default=None)
    ap.add_argument("--orientation", default="zone:[100]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snr", type=float, default=3.0)
    ap.add_argument("--d-min", type=float, default=None, help="finest d tested (Å); default Nyquist")
    ap.add_argument("--json", default=None)
    ap.add_argument("--save", default=None, metavar="DIR")
    args = ap.parse_args(argv)

    from napari_irdm.analysis.bragg import bragg_report
    from napari_irdm.simulate import gold_sample
    from napari_irdm.tomo import wbp

    t0 = time.perf_counter()
    ts, truth = gold_sample(tuple(args.tilt_range), args.tilt_step, size_nm=args.size_nm,
                            pixel_size_A=args.pixel_size, seed=args.seed, dose_e_per_A2=args.dose,
                            orientation=args.orientation)
    t1 = time.perf_counter()
    rec = wbp(ts.data, ts.tilt_angles_deg)
    t2 = time.perf_counter()
    kw = dict(truth=truth, snr_threshold=args.snr, d_min_A=args.d_min)
    rep_truth = bragg_report(truth.volume.data, ts.pixel_size_A, ts.tilt_angles_deg, **kw)
    t3 = time.perf_counter()
    rep_wbp = bragg_report(rec, ts.pixel_size_A, ts.tilt_angles_deg, **kw)
    t4 = time.perf_counter()
    c = truth.crystal
    print(f"# {c.n_atoms} Au atoms, {c.shape} {c.size_nm:g} nm, orientation {args.orientation}; "
          f"{ts.n_tilts} tilts {args.tilt_range[0]:g}..{args.tilt_range[1]:g} deg step {args.tilt_step:g}; "
          f"volume {truth.volume.shape} at {ts.pixel_size_A:g} A; dose {args.dose}")
    print(f"# timings: simulate+truth {t1 - t0:.2f} s, WBP {t2 - t1:.2f} s, report truth {t3 - t2:.2f} s, "
          f"report WBP {t4 - t3:.2f} s")
    print("\n## ground truth\n" + rep_truth.table())
    print("\n## WBP\n" + rep_wbp.table())
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"truth": rep_truth.to_dict(), "wbp": rep_wbp.to_dict()}, fh, indent=1)
    if args.save:
        from napari_irdm.io import write_volume
        from napari_irdm.simulate import save_simulation

        save_simulation(args.save, ts, truth)
        write_volume(f"{args.save}/wbp.mrc", rec, pixel_size_A=ts.pixel_size_A, tilt_angles_deg=ts.tilt_angles_deg,
                     provenance=("WBP ramp",))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
