"""Is the automatic TV weight as good as a hand-tuned one? Auto vs the best-in-hindsight weight.

For each source, held-back slices (evaluation seeds, never used in training) are projected over a
60° missing wedge (2° steps, 2× oversampled projections: no inverse crime), optionally with
relative Gaussian noise (σ drawn per sample in [0, noise]). Non-negative Chambolle–Pock TV
(100 iterations) is run for every weight of ``TV_WEIGHT_GRID`` and scored against the truth
(the best of these is the hand-tuned reference, chosen *with* the truth); the automatic weight
(:func:`napari_irdm.tomo.tv_cp.choose_tv_weight`, cross-validation on held-out tilts, no truth)
is scored the same way. Also printed: the old default (1e-4) and SIRT with the discrepancy stop.

Run (small, on a shared machine)::

    nice .venv/bin/python benchmarks/tv_auto_vs_sweep.py --n 8 --size 128 --noise 0 0.03
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main(argv=None) -> int:
    from napari_irdm.geometry import angles_on_grid as tilt_angles
    from napari_irdm.tomo import sirt, tv
    from napari_irdm.tomo.tv_cp import TV_WEIGHT_GRID, choose_tv_weight
    from napari_irdm.train._metrics import batch_metrics
    from napari_irdm.train.library import get_spec
    from napari_irdm.train.pairs import PairOptions, geometry, make_batch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--wedge", type=float, default=60.0)
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.03])
    ap.add_argument("--sources", nargs="+", default=["phantom", "medical", "natural", "atomic"])
    ap.add_argument("--iterations", type=int, default=100)
    a = ap.parse_args(argv)
    spec = get_spec("D2")
    print(f"{'source':>8} {'noise':>5} {'best w':>8} {'PSNR':>6} {'auto w':>8} {'PSNR':>6} {'SSIM b/a':>11} "
          f"{'w=1e-4':>6} {'SIRTstop':>8}")
    for noise in a.noise:
        opts = PairOptions(size=a.size, tilt_steps_deg=(2.0,), noise=noise or None, oversample=2)
        for src in a.sources:
            idx = [10**6 + i for i in range(a.n)]
            batch = make_batch(spec, idx, opts, holdout=True, source=src, wedge_deg=a.wedge, device="cpu")
            _w, lo, hi, st = geometry(spec, idx[0], opts, holdout=True, wedge_deg=a.wedge)
            ang = tilt_angles(lo, hi, st)
            series = batch.sinogram.permute(0, 2, 1).contiguous().numpy()

            def score(rec, batch=batch):
                m = batch_metrics(torch.from_numpy(np.ascontiguousarray(rec)).permute(1, 0, 2), batch.truth)
                return float(np.mean(m["psnr"])), float(np.mean(m["ssim"]))

            sweep = {w: score(tv(series, ang, tv_weight=w, iterations=a.iterations, nonnegative=True, solver="cp"))
                     for w in TV_WEIGHT_GRID}
            best = max(sweep, key=lambda w: sweep[w][0])
            auto = choose_tv_weight(series, ang, iterations=a.iterations)
            pa = score(tv(series, ang, tv_weight=auto, iterations=a.iterations, nonnegative=True, solver="cp"))
            p4 = score(tv(series, ang, tv_weight=1e-4, iterations=a.iterations, nonnegative=True))
            ps = score(sirt(series, ang, iterations=300, nonnegative=True, stop="discrepancy"))
            print(f"{src:>8} {noise:5.2f} {best:8.2g} {sweep[best][0]:6.2f} {auto:8.2g} {pa[0]:6.2f} "
                  f"{sweep[best][1]:5.3f}/{pa[1]:5.3f} {p4[0]:6.2f} {ps[0]:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
