"""``napari-irdm evaluate``: IRDM vs WBP / SART / TV on held-back pairs (CSV + PNG, paper Figs. 2–4)."""

from __future__ import annotations

import argparse

from napari_irdm._cli._common import check_numbers, check_output_dir, model_help, shipped_model_names

__all__ = ["add_parser", "run"]


DEFAULT_METHODS = ["wbp", "sart", "tv", "tv_auto", "sirt_stop", "irdm", "irdm_nonneg", "irdm_dc", "irdm_iter"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="benchmark a model against WBP, SART and TV on held-back synthetic pairs",
        description="Reconstruct the same held-back pairs (never used in training) with WBP, SART, TV and IRDM at "
        "each missing wedge; write per_sample.csv, summary.csv, metrics_vs_wedge*.png and grid_<source>.png.",
    )
    p.add_argument("--model", default="general", help=model_help("; 'none' skips IRDM (default general)"))
    p.add_argument("--dataset", default="D2", help="dataset spec whose sources are used (default D2)")
    p.add_argument("--wedges", type=float, nargs="+", default=[40, 50, 60, 70, 80], metavar="DEG",
                   help="missing-wedge openings in degrees (default 40 50 60 70 80)")
    p.add_argument("--n", type=int, default=100, help="samples per source and wedge (default 100)")
    p.add_argument("--sources", nargs="+", default=None,
                   help="sources: phantom mgh nbia medical natural atomic, or the nanoparticle families porous "
                        "faceted coreshell supported rods polycrystal amorphous ensemble (default: the dataset's)")
    p.add_argument("--methods", nargs="+",
                   default=DEFAULT_METHODS,
                   help="methods: wbp sart tv (fixed weight) tv_auto (Chambolle-Pock TV, weight cross-validated "
                   "on held-out tilts) sirt_stop (SIRT stopped by the discrepancy principle) irdm irdm_nonneg "
                   "(IRDM clipped at 0, the prior SART/TV get) irdm_dc (IRDM + Fourier data consistency) irdm_iter (IRDM + "
                   "SIRT on the measured projections, the iterative data consistency) (default all)")
    p.add_argument("--size", type=int, default=256, help="slice size in pixels (default 256)")
    p.add_argument("--tilt-step", type=float, default=2.0, help="tilt step in degrees (default 2)")
    p.add_argument("--noise", type=float, default=None, help="max relative Gaussian noise on projections")
    p.add_argument("--oversample", type=int, default=2, help="projection oversampling (default 2: no inverse crime)")
    p.add_argument("--tilt-range", type=float, nargs=2, action="append", default=None, metavar=("LO", "HI"),
                   help="also evaluate the tilt range LO..HI in degrees (repeat for more; e.g. --tilt-range -60 45 "
                   "for an asymmetric one; ±30/45/60/75 are --wedges 120 90 60 30)")
    p.add_argument("--dose", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="Poisson counting noise: dose in counts per pixel, drawn log-uniformly in LO..HI per sample "
                   "(LO = HI: a fixed dose)")
    p.add_argument("--read-noise", type=float, default=0.0, metavar="SIGMA",
                   help="max Gaussian read noise after counting, relative to the mean projection (default 0)")
    p.add_argument("--sart-iterations", type=int, default=20, metavar="N", help="SART iterations (default 20)")
    p.add_argument("--tv-iterations", type=int, default=50, metavar="N", help="TV iterations (default 50)")
    p.add_argument("--tv-weight", type=float, default=None, metavar="W",
                   help="weight of the fixed-weight 'tv' method (default: the evaluation's per-size choice)")
    p.add_argument("--sirt-iterations", type=int, default=300, metavar="N",
                   help="maximum iterations of sirt_stop (default 300)")
    p.add_argument("--consistency-iterations", type=int, default=30, metavar="N",
                   help="SIRT updates of irdm_iter (default 30)")
    p.add_argument("--batch-size", type=int, default=16, metavar="B",
                   help="slices per IRDM / reconstruction batch (default 16)")
    p.add_argument("--tta", action="store_true",
                   help="IRDM with test-time augmentation (average over flips that keep the wedge)")
    p.add_argument("--out", default="evaluation", help="output folder (default ./evaluation)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier evaluation in --out (refused otherwise)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda ... (default auto; env NAPARI_IRDM_DEVICE)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from napari_irdm._cli._common import drive
    from napari_irdm.train.evaluate import evaluate_iter

    check_numbers(args, positive=("wedges", "tilt_step", "dose"), nonnegative=("noise", "tv_weight", "read_noise"))
    if args.dose is not None and not args.dose[0] <= args.dose[1]:
        raise ValueError(f"--dose {args.dose[0]:g} {args.dose[1]:g}: give LO <= HI (LO = HI: a fixed dose)")
    if not args.read_noise <= 10:
        raise ValueError(f"--read-noise must be between 0 and 10, got {args.read_noise:g}")
    for lo, hi in args.tilt_range or ():
        if not -90 <= lo < hi <= 90:  # (NaN fails too)
            raise ValueError(f"--tilt-range {lo:g} {hi:g}: give -90 <= LO < HI <= 90 (degrees)")
    model = None if str(args.model).lower() == "none" else args.model
    irdm_methods = [m for m in args.methods if str(m).startswith("irdm")]
    if model is None and irdm_methods and args.methods != DEFAULT_METHODS:
        raise ValueError(f"--model none skips IRDM, but --methods asks for {' '.join(irdm_methods)}: give a model "
                         "(e.g. --model general) or drop the irdm methods")
    if model is not None and not Path(model).suffix and model != "auto" and model not in shipped_model_names():
        raise ValueError(f"no shipped model {model!r}: use one of {', '.join(shipped_model_names()) or 'none'}, "
                         "'auto', 'none' or a .pt file")
    mpath = Path(model) if model is not None and Path(model).suffix else None
    check_output_dir(args.out, inputs=[mpath, mpath.with_suffix(".json") if mpath else None],
                     contents=("per_sample.csv", "summary.csv"))
    earlier = [n for n in ("per_sample.csv", "summary.csv", "best_classical.csv") if (Path(args.out) / n).exists()]
    if earlier and not args.overwrite:
        raise ValueError(f"{args.out} already holds evaluation results ({', '.join(earlier)}): pass --overwrite "
                         "to replace them or choose another --out")
    if not 1 <= args.batch_size <= 4096:
        raise ValueError(f"--batch-size must be between 1 and 4096, got {args.batch_size}")
    if not 16 <= args.size <= 2048:
        raise ValueError(f"--size must be between 16 and 2048 pixels, got {args.size}")
    if not 1 <= args.n <= 100_000:
        raise ValueError(f"--n must be between 1 and 100000, got {args.n}")
    for name in ("sart_iterations", "tv_iterations"):
        if not 0 <= getattr(args, name) <= 100_000:
            raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 100000, got {getattr(args, name)}")
    if not 1 <= args.oversample <= 8:
        raise ValueError(f"--oversample must be between 1 and 8, got {args.oversample}")
    from napari_irdm.resources import require_memory

    # a lower bound: the batch of slices, their sinograms and the network's activations (width 16)
    require_memory(args.batch_size * args.size**2 * 4 * 64.0 + args.size**2 * 4 * 180 * args.oversample,
                   f"evaluating batches of {args.batch_size} slices of {args.size}x{args.size}",
                   hint="use a smaller --batch-size or --size")
    res = drive(
        evaluate_iter(
            model, dataset=args.dataset, wedges=args.wedges, n=args.n, sources=args.sources, size=args.size,
            tilt_step_deg=args.tilt_step, noise=args.noise, oversample=args.oversample, methods=args.methods,
            tilt_ranges=[tuple(r) for r in args.tilt_range or ()], dose=None if args.dose is None else tuple(args.dose),
            read_noise=args.read_noise,
            sart_iterations=args.sart_iterations, tv_iterations=args.tv_iterations, tv_weight=args.tv_weight,
            sirt_iterations=args.sirt_iterations, consistency_iterations=args.consistency_iterations, batch_size=args.batch_size, tta=args.tta, out_dir=args.out, device=args.device,
        ),
        desc="evaluate",
    )
    rows = [r for r in res["summary"] if r["source"] == ("all" if any(s["source"] == "all" for s in res["summary"])
                                                          else r["source"])]
    print(f"{'source':>8} {'wedge':>6} {'range':>9} {'method':>11} {'PSNR':>7} {'SSIM':>6} {'NRMSE':>6} {'reproj':>7}")
    for r in rows:
        print(f"{r['source']:>8} {r['wedge_deg']:>6g} {r.get('tilt_range', ''):>9} {r['method']:>11} {r['psnr']:7.2f} "
              f"{r['ssim']:6.3f} {r['nrmse']:6.3f} {r.get('reproj', float('nan')):7.4f}")
    best = [b for b in res.get("best", []) if b["source"] == rows[0]["source"]] if rows else []
    if best:
        irdm = [m for m in res["methods"] if m.startswith("irdm")]
        print(f"{'source':>8} {'wedge':>6} {'range':>9} {'best classical':>15} {'PSNR':>7} {'SSIM':>6}"
              + "".join(f" {m + ' dPSNR':>17}" for m in irdm))
        for b in best:
            print(f"{b['source']:>8} {b['wedge_deg']:>6g} {b.get('tilt_range', ''):>9} {b['best_classical']:>15} "
                  f"{b['best_psnr']:7.2f} "
                  f"{b['best_ssim']:6.3f}" + "".join(f" {b.get(m + '_dpsnr', float('nan')):+17.2f}" for m in irdm))
    print(f"wrote {len(res['files'])} files to {args.out}")
    return 0
