"""Rotation centre on extended objects: centres of mass vs the sharpest WBP, 12 spoiled 64² series.

Usage: python benchmarks/align_centre.py [blobs] [beads]

Each series (tests/align/_spoil.py: 9 blob phantoms and 3 bead phantoms, 47 tilts ±70°, drift
RMS 4 px + 0.5 px jitter, a random tilt axis in ±2° and centre offset in ±3 px, Poisson 200
counts per unit) is aligned twice with ``method="pm", levels=(2, 1), iterations=6,
coarse_method="com"``: ``centre_method="auto"`` (centres of mass, as the mass is conserved) and
``"sharpness"``. Errors modulo rigid specimen motion (``gauge_errors``). Not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv=None) -> int:
    from align._spoil import gauge_errors, spoiled_series
    from napari_irdm.align import align

    angles = np.arange(-70.0, 70.1, 3.0)
    rng = np.random.default_rng(11)
    kinds = (argv if argv is not None else sys.argv[1:]) or ["blobs", "beads"]
    print("| series | tilt axis, centre (true) | auto: RMS / centre / axis error | sharpness: RMS / centre / axis error "
          "| mass spread |")
    print("|---|---|---|---|---|")
    for kind in kinds:
        for seed in range(9 if kind == "blobs" else 3):
            phi, centre = float(rng.uniform(-2, 2)), float(rng.uniform(-3, 3))
            _, _, raw, truth = spoiled_series(angles, kind=kind, seed=seed, dose=200.0, phi=phi, centre=centre)
            cells = []
            for how in ("auto", "sharpness"):
                r = align(raw, angles, method="pm", levels=(2, 1), iterations=6, coarse_method="com",
                          centre_method=how)
                rms, cerr, _ = gauge_errors(r.transforms.shifts_xy, truth.shifts_xy, angles)
                cells.append(f"{rms:.3f} px / {cerr:+.3f} px / {r.transforms.rotation_deg - phi:+.3f}°")
            print(f"| {kind} seed {seed} | {phi:+.2f}°, {centre:+.2f} px | {cells[0]} | {cells[1]} "
                  f"| {r.report['mass_spread']:.2%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
