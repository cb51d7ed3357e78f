"""Does self-supervised adaptation (napari_irdm.train.adapt) help the shipped model? One table.

For each source and pair construction, 8 held-back 256² slices are projected over the tilt
range (oversampled line integrals, as `evaluate`), the shipped model is scored (plain IRDM and
IRDM as the prior of TV, the recommended setting), then adapted on those slices' own
projections (no ground truth) and scored again. ``oracle`` is the ceiling of the pipeline: the
same patches, rotations and loss, but with the ground truth as the target.

    PYTHONPATH=src python benchmarks/adapt_trial.py --sources phantom medical --pairs tv estimate halves oracle
"""

from __future__ import annotations

import argparse
import time

import torch

import napari_irdm.train.adapt as adapt_mod
from napari_irdm.dl import inpaint
from napari_irdm.train._metrics import batch_metrics
from napari_irdm.train.evaluate import EVAL_OFFSET
from napari_irdm.train.pairs import PairOptions, make_batch


def _score(batch, vol, series, ang, net, tv: bool) -> tuple[float, float]:
    kw = dict(consistency="tv", tilt_series=series, nonnegative=True) if tv else {}
    r = torch.as_tensor(inpaint(vol, ang, model=net, **kw)).permute(1, 0, 2)
    m = batch_metrics(r, batch.truth)
    return float(m["psnr"].mean()), float(m["ssim"].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="+", default=["phantom", "medical"])
    ap.add_argument("--pairs", nargs="+", default=["tv", "estimate", "halves", "oracle"])
    ap.add_argument("--range", nargs=2, type=float, default=(-45.0, 45.0))
    ap.add_argument("--dose", type=float, default=None)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--n", type=int, default=8)
    a = ap.parse_args()
    opts = PairOptions(size=256, tilt_steps_deg=(2.0,), oversample=2, dose=None if a.dose is None else (a.dose,) * 2)
    print(f"range {a.range[0]:g}..{a.range[1]:g}°, dose {a.dose}, {a.n} slices of 256², {a.steps} steps, lr {a.lr:g}")
    print(f"{'source':8s} {'pairs':9s} {'plain general':>14s} {'plain adapted':>14s} {'Δ':>6s} "
          f"{'TV-prior gen.':>14s} {'TV-prior ad.':>14s} {'Δ':>6s} {'adapt s':>8s}")
    real_pair_volumes = adapt_mod._pair_volumes
    for src in a.sources:
        b = make_batch("DA", [EVAL_OFFSET + i for i in range(a.n)], opts, holdout=True, source=src,
                       tilt_range_deg=tuple(a.range))
        series, ang = b.sinogram.permute(0, 2, 1).contiguous(), b.grid_deg
        vol = b.wbp.permute(1, 0, 2).contiguous()
        p0, t0 = _score(b, vol, series, ang, "general", False), _score(b, vol, series, ang, "general", True)
        for pairs in a.pairs:
            if pairs == "oracle":  # the ceiling: ground truth as both volumes (diagnostic only)
                truth = b.truth.permute(1, 0, 2).contiguous()
                adapt_mod._pair_volumes = lambda *_a, **_k: torch.stack([truth, truth])  # noqa: B023
            t = time.perf_counter()
            net = adapt_mod.adapt("general", series, ang, adapt_mod.AdaptOptions(
                steps=a.steps, lr=a.lr, pairs="estimate" if pairs == "oracle" else pairs))
            secs = time.perf_counter() - t
            adapt_mod._pair_volumes = real_pair_volumes
            p1, t1 = _score(b, vol, series, ang, net, False), _score(b, vol, series, ang, net, True)
            print(f"{src:8s} {pairs:9s} {p0[0]:8.2f}/{p0[1]:.3f} {p1[0]:8.2f}/{p1[1]:.3f} {p1[0] - p0[0]:+6.2f} "
                  f"{t0[0]:8.2f}/{t0[1]:.3f} {t1[0]:8.2f}/{t1[1]:.3f} {t1[0] - t0[0]:+6.2f} {secs:8.0f}", flush=True)


if __name__ == "__main__":
    main()
