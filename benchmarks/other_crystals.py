"""Bragg reports of crystals other than cubic metals, with the orientation fitted without the truth.

For each structure: a 2.2 nm sphere in a random orientation, ±60° in 3° steps, 96³ at 0.3 Å,
noise-free or with ``--dose``; the truth volume and the WBP reported with the truth's orientation,
then the WBP with only the lattice named (orientation fitted). Then the WBP of each series reported
against every *other* lattice: a fit there would be a false identification.

    nice .venv/bin/python benchmarks/other_crystals.py [--dose 2e4] [--out docs/results/other_crystals.txt]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_irdm.analysis.bragg import bragg_report
from napari_irdm.crystallography import allowed_hkl, reciprocal_vectors
from napari_irdm.progress import run_to_completion
from napari_irdm.simulate import make_nanocrystal, simulate_iter
from napari_irdm.tomo import wbp

CASES = [("Co", 2), ("TiO2", 3), ("CeO2", 4), ("ZnO", 5), ("Si", 6), ("SrTiO3", 7), ("Ru", 8)]
PIX = 0.3


def _counts(rep, region):
    e, d = rep.counts(region)
    return f"{d}/{e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dose", type=float, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    lines = [f"# other crystal structures, ±60° / 3°, 0.3 Å, dose {args.dose or 'none'}",
             "| crystal | structure | atoms | truth measured / wedge | WBP, truth's orientation | WBP, fitted "
             "| peaks on the lattice | max lattice-point error (1/Å) | s |",
             "|---|---|---:|---|---|---|---|---:|---:|"]
    recs = {}
    angles = np.arange(-60.0, 60.1, 3.0)
    for name, seed in CASES:
        t0 = time.perf_counter()
        crystal = make_nanocrystal(name, shape="sphere", size_nm=2.2, orientation="random", seed=seed)
        ts, truth = run_to_completion(simulate_iter(crystal, angles, pixel_size_A=PIX, size_px=96, seed=seed,
                                                    dose_e_per_A2=args.dose))
        rec = wbp(ts.data, angles)
        recs[name] = rec
        tr = bragg_report(truth.volume.data, PIX, angles, truth=truth, d_min_A=0.75)
        known = bragg_report(rec, PIX, angles, truth=truth, d_min_A=0.75)
        fitted = bragg_report(rec, PIX, angles, lattice=name, d_min_A=0.75)
        f = fitted.orientation_fitted
        err = "—"
        if f is not None:
            lat = crystal.lattice
            hkl = allowed_hkl(lat, g_max=1.2)
            g_t = reciprocal_vectors(hkl, lat, crystal.orientation)
            g_f = reciprocal_vectors(hkl, lat, np.asarray(f["rotation"]))
            err = f"{np.linalg.norm(g_t[:, None] - g_f[None], axis=2).min(axis=1).max():.4f}"
        lines.append(
            f"| {name} | {crystal.lattice.structure} | {crystal.n_atoms} | {_counts(tr, 'measured')} / "
            f"{_counts(tr, 'wedge')} | {_counts(known, 'measured')} / {_counts(known, 'wedge')} | "
            + (f"{_counts(fitted, 'measured')} / {_counts(fitted, 'wedge')} | {f['n_matched']} of {f['n_peaks']}"
               if f else "not fitted | —")
            + f" | {err} | {time.perf_counter() - t0:.1f} |")
        print(lines[-1], flush=True)
    lines += ["", "wrong lattice named (a fit would be a false identification):", ""]
    others = [n for n, _ in CASES] + ["Au", "CdSe", "W"]
    for name, rec in recs.items():
        hits = []
        for other in others:
            if other == name:
                continue
            rep = bragg_report(rec, PIX, angles, lattice=other, d_min_A=0.75)
            f = rep.orientation_fitted
            if f is not None:
                hits.append(f"{other} ({f['n_matched']}/{f['n_peaks']}, scale {f['scale']:.3f})")
        lines.append(f"- {name} series: fitted by {', '.join(hits) if hits else 'no other lattice'}")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
