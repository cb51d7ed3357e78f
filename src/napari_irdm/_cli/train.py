"""``napari-irdm train``: train an IRDM model on a named dataset spec."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys

from napari_irdm._cli._common import check_numbers, model_help

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train an IRDM model (U-Net++ generator, RaLSGAN) on a dataset spec",
        description="Train IRDM on synthetic pairs (ground truth → projections → WBP). Resumes exactly from "
        "OUT/checkpoint.pt with --resume; stops cleanly at --time-limit-min.",
    )
    p.add_argument("--dataset", default=None, help="dataset spec: D1 D2 D2' D3 D4 D5 D6 DA DR (default D2)")
    p.add_argument("--preset", choices=("paper", "cpu"), default=None, help="training preset (default cpu)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, default=None, help="passes over the dataset (paper: 60)")
    length.add_argument("--steps", type=int, default=None, help="optimisation steps (overrides the preset)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (paper 32, cpu 8)")
    p.add_argument("--size", type=int, default=None, help="slice size in pixels (paper 256, cpu 128)")
    p.add_argument("--width", type=int, default=None, help="generator base width (default from the preset)")
    p.add_argument("--size-factor", type=float, default=None, help="scale the dataset's sample counts (default 1)")
    p.add_argument("--content-weight", type=float, default=None, help="weight of the L1 content term (default 100)")
    p.add_argument("--ssim-weight", type=float, default=None,
                   help="weight of an extra 1 - SSIM term in the generator loss (default 0; ours, not the paper's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate of G and D (default 1e-4)")
    p.add_argument("--tilt-step", type=float, nargs="+", default=None, metavar="DEG",
                   help="tilt step(s) of the simulated series in degrees (default 2)")
    p.add_argument("--asymmetric", action="store_true", default=None, help="draw asymmetric tilt ranges (shifted up to ±10°)")
    p.add_argument("--noise", type=float, default=None, help="max relative Gaussian noise on projections")
    p.add_argument("--oversample", type=int, default=None,
                   help="project the truth on an N× finer grid (default 2; 1 is faster on CPU)")
    # acquisition model of the pairs (issue #15); the defaults make the original pairs
    acq = p.add_argument_group("acquisition model of the simulated series (defaults: the original pairs)")
    acq.add_argument("--max-shift", type=float, default=None, metavar="DEG",
                     help="with --asymmetric: largest shift of the tilt range (default 10; at most half the wedge)")
    acq.add_argument("--dose", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                     help="Poisson counting noise: dose in counts per pixel drawn log-uniformly in LO..HI "
                     "(LO = HI: fixed)")
    acq.add_argument("--read-noise", type=float, default=None, metavar="SIGMA",
                     help="max Gaussian read noise after counting, relative to the mean projection (default 0)")
    acq.add_argument("--misalign-px", type=float, default=None, metavar="PX",
                     help="max RMS of residual per-tilt shifts along x in pixels (default 0)")
    acq.add_argument("--drift", type=float, default=None, metavar="D",
                     help="max relative slow intensity drift over the tilt series (default 0)")
    acq.add_argument("--background", type=float, default=None, metavar="B",
                     help="max additive background relative to the projection maximum (default 0)")
    acq.add_argument("--exceed-fov", type=float, default=None, metavar="P",
                     help="probability that an object extends past the field of view (default 0)")
    p.add_argument("--time-limit-min", type=float, default=None, help="stop cleanly (checkpoint) after this many minutes")
    p.add_argument("--val-every", type=int, default=None, help="validation interval in steps")
    p.add_argument("--n-val", type=int, default=None, help="held-back validation pairs")
    p.add_argument("--seed", type=int, default=None, help="random seed of the run (default 0)")
    p.add_argument("--workers", type=int, default=None, help="data-loader processes (default 0 on CPU, ≤8 on CUDA)")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on CUDA")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW layout on CUDA (default NHWC)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ... (default auto; env NAPARI_IRDM_DEVICE)")
    p.add_argument("--out", required=True, help="run folder (checkpoint, logs)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt (--steps/--epochs set a new total; options that define "
                   "the run, e.g. --size, must match the checkpoint or be left out)")
    p.add_argument("--init-from", default=None, metavar="MODEL",
                   help=model_help("; fine-tune: the generator starts from it and takes its width"))
    p.add_argument("--condition", choices=("film",), default=None,
                   help="condition the generator on the acquisition (film: each pair's tilt range and step scale "
                   "and shift its features), so one model serves many tilt ranges; with --init-from an "
                   "unconditioned model it starts from that model's weights")
    p.add_argument("--export", default=None, metavar="NAME",
                   help="after training, export the generator as a shipped model NAME (or to a path)")
    p.set_defaults(func=run)
    return p


#: TrainConfig / train_iter parameter -> the option that sets it (core errors name parameters)
OPTION_OF = {"dataset": "--dataset", "preset": "--preset", "size": "--size", "batch_size": "--batch-size",
             "size_factor": "--size-factor", "noise": "--noise", "oversample": "--oversample",
             "asymmetric": "--asymmetric", "seed": "--seed", "n_val": "--n-val", "base_width": "--width",
             "content_weight": "--content-weight", "ssim_weight": "--ssim-weight", "lr_g": "--lr", "lr_d": "--lr",
             "tilt_steps_deg": "--tilt-step", "max_steps": "--steps", "epochs": "--epochs",
             "time_limit_min": "--time-limit-min", "num_workers": "--workers", "val_every": "--val-every",
             "out_dir": "--out", "init_from": "--init-from", "device": "--device",
             "condition": "--condition",
             # acquisition model
             "max_shift_deg": "--max-shift", "dose": "--dose", "read_noise": "--read-noise",
             "misalign_px": "--misalign-px", "drift": "--drift", "background": "--background",
             "exceed_fov": "--exceed-fov"}


def run(args: argparse.Namespace) -> int:
    """Run ``train``; errors that name a parameter name its option instead."""
    from napari_irdm.errors import ParameterError, in_terms_of
    from napari_irdm.resources import ResourceError

    try:
        return _run(args)
    except ParameterError as err:
        raise ValueError(in_terms_of(err, OPTION_OF)) from None
    except ResourceError as err:
        raise ResourceError(in_terms_of(err, OPTION_OF)) from None


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from napari_irdm._cli._common import check_output_dir, drive
    from napari_irdm.train.trainer import TrainConfig, export, train_iter

    check_numbers(args, positive=("epochs", "size_factor", "lr", "tilt_step", "time_limit_min", "dose"),
                  nonnegative=("content_weight", "ssim_weight", "noise", "max_shift", "read_noise", "misalign_px",
                               "drift", "background", "exceed_fov"))
    init = Path(args.init_from) if args.init_from is not None and Path(args.init_from).suffix else None
    check_output_dir(args.out, inputs=[init, init.with_suffix(".json") if init else None],
                     contents=("checkpoint.pt", "config.json", "log.csv", "val.csv"))

    out = Path(args.out)
    if args.export is not None and Path(args.export).suffix:
        from napari_irdm.io import check_not_input

        run_names = ("checkpoint.pt", "config.json", "log.csv", "val.csv")
        exp = Path(args.export)
        for target in (exp, exp.with_suffix(".json")):
            if target.parent.resolve() == out.resolve():  # inside the run folder (made by this run)
                if target.name in run_names:
                    raise ValueError(f"--export {target} is the input file {target}: it is this run's own "
                                     f"{target.name}; choose another name, e.g. {out / 'model.pt'}")
                continue
            check_not_input(target, [init, init.with_suffix(".json") if init else None], option="--export")
    if not args.resume and any((out / n).exists() for n in ("checkpoint.pt", "config.json", "log.csv")):
        raise ValueError(f"{out} already holds a training run: pass --resume to continue it or choose another --out")

    #: TrainConfig fields set on the command line (on --resume they must match the checkpoint)
    given = {"dataset": args.dataset, "preset": args.preset, "size": args.size, "batch_size": args.batch_size,
             "size_factor": args.size_factor, "noise": args.noise, "oversample": args.oversample,
             "asymmetric": args.asymmetric, "seed": args.seed, "n_val": args.n_val,
             "condition": getattr(args, "condition", None),
             # acquisition model
             "max_shift_deg": args.max_shift, "dose": None if args.dose is None else tuple(args.dose),
             "read_noise": args.read_noise, "misalign_px": args.misalign_px, "drift": args.drift,
             "background": args.background, "exceed_fov": args.exceed_fov}
    given = {k: v for k, v in given.items() if v is not None}
    cfg = TrainConfig(
        **given,
        epochs=args.epochs,
        max_steps=args.steps,
        device=args.device,
        amp=not args.no_amp,
        channels_last=not args.no_channels_last,
        time_limit_min=args.time_limit_min,
        num_workers=args.workers,
    )
    explicit = set(given)
    if args.init_from is not None:
        if args.width is not None:
            raise ValueError("--width and --init-from exclude each other: the width comes from the --init-from model")
        if args.resume:
            raise ValueError("--init-from starts a new run: drop --resume (or use a new --out folder)")
        cfg.init_from = args.init_from
    if args.width is not None:
        cfg.generator = dict(preset=cfg.preset, base_width=args.width)
        explicit.add("generator")
    if args.content_weight is not None:
        cfg.content_weight = args.content_weight
        explicit.add("content_weight")
    if args.ssim_weight is not None:
        if args.ssim_weight < 0:
            raise ValueError(f"--ssim-weight must be >= 0, got {args.ssim_weight}")
        cfg.ssim_weight = args.ssim_weight
        explicit.add("ssim_weight")
    if args.lr is not None:
        cfg.lr_g = cfg.lr_d = args.lr
        explicit.update(("lr_g", "lr_d"))
    if args.tilt_step is not None:
        cfg.tilt_steps_deg = tuple(args.tilt_step)
        explicit.add("tilt_steps_deg")
    if args.val_every is not None:
        if args.val_every < 1:
            raise ValueError(f"--val-every must be >= 1, got {args.val_every}")
        cfg.val_every = args.val_every
        cfg.ckpt_every = args.val_every
        explicit.update(("val_every", "ckpt_every"))
    if not args.resume:
        cfg.filled()  # every value checked before the run folder is created
    from napari_irdm.device import resolve_device

    if resolve_device(cfg.device).type == "cuda":
        import torch

        # fixed input size: let cuDNN pick the fastest kernels (a setting of this process, not the library's)
        torch.backends.cudnn.benchmark = True
    created = not out.exists()
    label = cfg.dataset
    if args.resume and "dataset" not in explicit:  # the run's own dataset, not the default's name
        import json

        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            label = str(json.loads((out / "config.json").read_text())["dataset"])
    try:
        summary = drive(train_iter(cfg, out, resume=args.resume, explicit=explicit), desc=f"train {label}")
    except BaseException:
        if created:  # a run that failed before writing anything leaves no empty folder behind
            try:
                out.rmdir()
            except OSError:
                pass
        raise
    v, w = summary["val"], summary["val_wbp"]
    print(
        f"{summary['stopped']}: step {summary['step']}/{summary['max_steps']} ({summary['epochs_done']:.3f} epochs) "
        f"in {summary['elapsed_s']:.0f} s, {summary['pairs_per_s']:.1f} pairs/s on {summary['device']}\n"
        f"held-back validation: IRDM PSNR {v['psnr']:.2f} dB SSIM {v['ssim']:.3f} NRMSE {v['nrmse']:.3f} | "
        f"WBP PSNR {w['psnr']:.2f} dB SSIM {w['ssim']:.3f} NRMSE {w['nrmse']:.3f}"
    )
    if args.export:
        cmd = "napari-irdm " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        path = export(args.out, args.export, command=cmd)
        print(f"exported model to {path}")
    return 0
