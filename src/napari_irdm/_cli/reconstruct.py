"""``napari-irdm reconstruct TILT -o OUT.mrc``: WBP, SIRT, SART, TV or IRDM reconstruction of a tilt series."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from napari_irdm._cli._common import add_series_options, drive, series_from_args

__all__ = ["METHODS", "add_parser", "run"]

METHODS = ("wbp", "sirt", "sart", "tv", "irdm")
#: per-method defaults for options left out on the command line
DEFAULTS = {
    "sirt": {"iterations": 50, "relaxation": 1.0},
    "sart": {"iterations": 10, "relaxation": 0.5},
    "tv": {"iterations": 100},
}
_MRC_SUFFIXES = (".mrc", ".rec", ".map", ".mrcs", ".st", ".ali")
_TIFF_SUFFIXES = (".tif", ".tiff")


def add_parser(subparsers) -> argparse.ArgumentParser:
    from napari_irdm.tomo.filters import FILTERS

    parser = subparsers.add_parser(
        "reconstruct",
        help="reconstruct a volume from a tilt series (WBP, SIRT, SART, TV, IRDM)",
        description="Reconstruct a (nz, ny, nx) volume from a single-axis tilt series and write it as a "
        "float32 MRC (or TIFF) with the voxel size and provenance kept. MRC output is written slice-chunk "
        "by chunk into a memory-mapped file, so volumes larger than memory work.",
    )
    parser.add_argument("tilt", metavar="TILT", help="tilt series file (MRC or TIFF)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output volume (.mrc/.rec/.map or .tif)")
    add_series_options(parser)
    parser.add_argument("--method", choices=METHODS, default="wbp", help="reconstruction method (default wbp)")
    parser.add_argument("--filter", default="ramp", choices=FILTERS, help="WBP filter (default ramp)")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="iterations (default: sirt 50, sart 10, tv 100)")
    parser.add_argument("--relaxation", type=float, default=None, metavar="R",
                        help="relaxation λ in (0, 2) for sirt/sart (default: sirt 1.0, sart 0.5)")
    parser.add_argument("--tv-weight", type=float, default=1e-4, metavar="W",
                        help="TV weight, dimensionless (default 1e-4; about 1e-5 to 1e-3)")
    parser.add_argument("--nonnegative", action="store_true",
                        help="constrain voxels to be >= 0 (sirt, sart, tv; irdm: clip its output)")
    parser.add_argument("--thickness", type=int, default=None, metavar="NZ",
                        help="volume thickness nz in voxels (default: the image width)")
    parser.add_argument("--device", default="auto", metavar="DEV", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--model", default="general", metavar="NAME|PATH",
                        help="IRDM model: a shipped name, 'auto', or a .pt file (method irdm)")
    parser.add_argument("--data-consistency", action="store_true",
                        help="irdm: keep the measured Fourier region of the WBP, use the network only in the wedge")
    parser.add_argument("--tta", action="store_true",
                        help="irdm: test-time augmentation, average over the flips that keep the missing wedge "
                        "(2-4x the time)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    from napari_irdm._cli.align import add_reconstruct_option

    add_reconstruct_option(parser)
    parser.set_defaults(func=run)
    return parser


def _check_args(args: argparse.Namespace) -> Path:
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in _MRC_SUFFIXES + _TIFF_SUFFIXES:
        raise ValueError(f"output {out} has an unknown suffix {suffix!r}: use .mrc, .rec, .map or .tif")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder {parent} does not exist: create it first")
    if out.is_dir():
        raise ValueError(f"output {out} is a folder: give a file name such as {out / 'volume.mrc'}")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"output folder {parent} is not writable: choose another -o")
    if args.iterations is not None and args.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {args.iterations}")
    if args.relaxation is not None and not 0 < args.relaxation < 2:
        raise ValueError(f"--relaxation must be in (0, 2), got {args.relaxation}")
    if not args.tv_weight >= 0:
        raise ValueError(f"--tv-weight must be >= 0, got {args.tv_weight}")
    if args.thickness is not None and args.thickness < 1:
        raise ValueError(f"--thickness must be a positive number of voxels, got {args.thickness}")
    if args.method != "irdm" and args.data_consistency:
        raise ValueError("--data-consistency only applies to --method irdm")
    if args.method != "irdm" and args.tta:
        raise ValueError("--tta only applies to --method irdm")
    return out


def _parameters(args: argparse.Namespace) -> dict:
    """The options that define the result, for the provenance."""
    m = args.method
    params: dict = {}
    if m in ("wbp", "irdm"):
        params["filter"] = args.filter
    if m in DEFAULTS:
        params["iterations"] = args.iterations if args.iterations is not None else DEFAULTS[m]["iterations"]
    if m in ("sirt", "sart"):
        params["relaxation"] = args.relaxation if args.relaxation is not None else DEFAULTS[m]["relaxation"]
    if m == "tv":
        params["tv_weight"] = args.tv_weight
    if m in ("sirt", "sart", "tv", "irdm"):
        params["nonnegative"] = bool(args.nonnegative)
    if m == "irdm":
        params["model"] = args.model
        params["data_consistency"] = bool(args.data_consistency)
        params["tta"] = bool(args.tta)
    return params


def _generator(method: str, data, angles, params: dict, thickness, device, out):
    from napari_irdm import tomo

    common = {"thickness": thickness, "device": device, "out": out}
    if method == "wbp":
        return tomo.wbp_iter(data, angles, filter_name=params["filter"], **common)
    if method == "sirt":
        return tomo.sirt_iter(data, angles, iterations=params["iterations"], relaxation=params["relaxation"],
                              nonnegative=params["nonnegative"], **common)
    if method == "sart":
        return tomo.sart_iter(data, angles, iterations=params["iterations"], relaxation=params["relaxation"],
                              nonnegative=params["nonnegative"], **common)
    return tomo.tv_iter(data, angles, iterations=params["iterations"], tv_weight=params["tv_weight"],
                        nonnegative=params["nonnegative"], **common)


def _inpaint_iter():
    try:
        from napari_irdm.dl import inpaint_iter
    except ImportError as err:  # the deep-learning part is missing or broken here
        raise ValueError(f"--method irdm needs napari_irdm.dl, which cannot be imported ({err}): "
                         "use --method wbp/sirt/sart/tv") from err
    return inpaint_iter


def run(args: argparse.Namespace) -> int:
    from napari_irdm import __version__
    from napari_irdm.device import resolve_device
    from napari_irdm.io import create_volume_mrc, write_volume
    from napari_irdm.tomo import clear_projector_cache

    out_path = _check_args(args)
    device = resolve_device(args.device)  # a bad --device fails before the file is read
    ts = series_from_args(args, args.tilt)
    from napari_irdm._cli.align import maybe_align

    ts = maybe_align(args, ts, quiet=True if args.quiet else None)
    data, angles = ts.data, ts.tilt_angles_deg
    n_tilts, ny, nx = data.shape
    nz = args.thickness or nx
    params = _parameters(args)
    lo, hi = float(min(angles)), float(max(angles))
    provenance = [
        f"napari-irdm {__version__} reconstruct method={args.method} "
        + " ".join(f"{k}={v}" for k, v in params.items()),
        f"tilt range {lo:g}..{hi:g} deg, {n_tilts} tilts, angles from {ts.angle_source}",
        f"input {Path(args.tilt).name} tilt axis {ts.tilt_axis}",
    ]
    provenance += [p for p in ts.provenance if p.startswith("aligned:")]  # --align
    inpaint_iter = _inpaint_iter() if args.method == "irdm" else None
    quiet = True if args.quiet else None
    shape = (nz, ny, nx)
    px = ts.pixel_size_A
    if args.method == "irdm":
        vol = drive(_generator("wbp", data, angles, params, args.thickness, device, None), "WBP", disable=quiet)
        vol = drive(inpaint_iter(vol, angles, model=args.model, data_consistency=args.data_consistency,
                                 nonnegative=args.nonnegative, tta=args.tta, device=device), "IRDM",
                    disable=quiet)
        write_volume(out_path, vol, pixel_size_A=px, provenance=provenance, tilt_angles_deg=angles)
    elif out_path.suffix.lower() in _MRC_SUFFIXES:
        with create_volume_mrc(out_path, shape, pixel_size_A=px, provenance=provenance,
                               tilt_angles_deg=angles) as out:
            drive(_generator(args.method, data, angles, params, args.thickness, device, out),
                  args.method.upper(), disable=quiet)
            # free the input and the cached projection matrices before the file's statistics
            # pass reads the whole output back (keeps the peak RSS of big volumes down)
            del data, ts
            clear_projector_cache()
    else:
        vol = drive(_generator(args.method, data, angles, params, args.thickness, device, None),
                    args.method.upper(), disable=quiet)
        write_volume(out_path, vol, pixel_size_A=px, provenance=provenance, tilt_angles_deg=angles)
    size = f"{nz}x{ny}x{nx}"
    px_txt = f", voxel {px:g} Å" if px else ""
    print(f"wrote {out_path} ({size} {args.method}{px_txt})")
    return 0
