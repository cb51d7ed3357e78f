"""``napari-irdm reconstruct TILT -o OUT.mrc``: WBP, SIRT, SART, TV or IRDM reconstruction of a tilt series."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_irdm._cli._common import (
    add_series_options,
    check_output_file,
    drive,
    model_help,
    series_from_args,
    series_kwargs,
)

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
#: the WBP filters of napari_irdm.tomo.filters.FILTERS (listed here so --help needs no torch;
#: tests/robustness checks that the two agree)
FILTER_NAMES = ("ramp", "shepp-logan", "cosine", "hamming", "hann", "none")
#: sane upper limits (a mistyped number must not run for hours or fill the disk)
MAX_ITERATIONS = 100_000
MAX_THICKNESS_FACTOR = 4  # --thickness up to 4x the image width (and at least 4096 allowed)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "reconstruct",
        help="reconstruct a volume from a tilt series (WBP, SIRT, SART, TV, IRDM)",
        description="Reconstruct a (nz, ny, nx) volume from a single-axis tilt series and write it as a "
        "float32 MRC (or TIFF) with the voxel size and provenance kept. MRC output is written slice-chunk "
        "by chunk into a memory-mapped file, so volumes larger than memory work.",
    )
    parser.add_argument("tilt", metavar="TILT", help="tilt series file (MRC or TIFF)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output volume (.mrc/.rec/.map, .tif, or .zarr: OME-Zarr, multiscale)")
    add_series_options(parser)
    parser.add_argument("--method", choices=METHODS, default="wbp", help="reconstruction method (default wbp)")
    parser.add_argument("--filter", default=None, choices=FILTER_NAMES, help="WBP filter (wbp, irdm; default ramp)")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="iterations (default: sirt 50, sart 10, tv 100)")
    parser.add_argument("--relaxation", type=float, default=None, metavar="R",
                        help="relaxation λ in (0, 2) for sirt/sart (default: sirt 1.0, sart 0.5)")
    parser.add_argument("--tv-weight", type=_tv_weight, default=None, metavar="W|auto",
                        help="TV weight, dimensionless (about 1e-6 to 1e-3), or 'auto' (default): chosen by "
                        "cross-validation on held-out tilts and solved by Chambolle-Pock")
    parser.add_argument("--stop", choices=("none", "discrepancy"), default="none",
                        help="sirt: stop each slice by the discrepancy principle (noise estimated from the "
                        "series; --iterations is then the maximum)")
    parser.add_argument("--nonnegative", action="store_true", default=None,
                        help="constrain voxels to be >= 0 (sirt, sart, tv; irdm: clip its output)")
    parser.add_argument("--thickness", type=int, default=None, metavar="NZ",
                        help="volume thickness nz in voxels (default: the image width; at most "
                        f"{MAX_THICKNESS_FACTOR}x the width)")
    parser.add_argument("--device", default="auto", metavar="DEV",
                        help="auto, cpu, cuda or cuda:N (default auto; env NAPARI_IRDM_DEVICE)")
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help=model_help(" (method irdm; default general)"))
    parser.add_argument("--data-consistency", nargs="?", const="fourier", default=None,
                        choices=("fourier", "iterative"), metavar="fourier|iterative",
                        help="irdm: 'fourier' (the default when given without a value) keeps the measured Fourier "
                        "region of the WBP and uses the network only in the wedge; 'iterative' (recommended for "
                        "real data) starts SIRT on the measured projections from the network's output, so the "
                        "result re-projects to the data and keeps the network's wedge")
    parser.add_argument("--consistency-iterations", type=int, default=30, metavar="N",
                        help="irdm --data-consistency iterative: SIRT updates (default 30)")
    parser.add_argument("--tta", action="store_true",
                        help="irdm: test-time augmentation, average over the flips that keep the missing wedge "
                        "(2-4x the time)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    from napari_irdm._cli.align import add_reconstruct_option

    add_reconstruct_option(parser)
    from napari_irdm._cli._scale import add_scale_options

    add_scale_options(parser)  # --scheduler, --slab: the Dask path (docs/scale.md)
    parser.set_defaults(func=run)
    return parser


def _inputs(args: argparse.Namespace) -> list:
    """Every file this run reads (an output must be none of them)."""
    from napari_irdm._cli._common import input_files

    return input_files(args.tilt, angles=args.angles, model=args.model if args.method == "irdm" else None)


def _tv_weight(text: str):
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


#: option (args attribute) -> the methods it changes; given for another method: one warning line
_APPLIES_TO = {"filter": ("wbp", "irdm"), "iterations": ("sirt", "sart", "tv"), "relaxation": ("sirt", "sart"),
               "tv_weight": ("tv",), "nonnegative": ("sirt", "sart", "tv", "irdm"), "model": ("irdm",)}
_OPTION_DEFAULTS = {"filter": "ramp", "tv_weight": "auto", "nonnegative": False, "model": "general"}


def _unused_options(args: argparse.Namespace) -> None:
    """One warning line per option set on the command line that does nothing for --method; then the defaults."""
    args._unused = [name for name, methods in _APPLIES_TO.items()
                    if getattr(args, name, None) is not None and args.method not in methods]
    for name, value in _OPTION_DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def _warn_unused(args: argparse.Namespace) -> None:
    """The warnings of :func:`_unused_options`, once every check passed (an error stays one line)."""
    import warnings

    for name in getattr(args, "_unused", ()):
        warnings.warn(f"--{name.replace('_', '-')} does nothing for --method {args.method} (it applies to "
                      f"{', '.join(_APPLIES_TO[name])}): ignored", UserWarning, stacklevel=2)


def _check_args(args: argparse.Namespace) -> Path:
    _unused_options(args)
    from napari_irdm._cli._scale import check_scaled_output, wants_scale

    if wants_scale(args):  # OME-Zarr output or --scheduler: the Dask slab engine
        out = check_scaled_output(args.output, _inputs(args), args.scheduler)
    else:
        out = check_output_file(args.output, inputs=_inputs(args), suffixes=_MRC_SUFFIXES + _TIFF_SUFFIXES)
    if args.iterations is not None and not 1 <= args.iterations <= MAX_ITERATIONS:
        raise ValueError(f"--iterations must be between 1 and {MAX_ITERATIONS}, got {args.iterations}")
    if args.relaxation is not None and not 0 < args.relaxation < 2:
        raise ValueError(f"--relaxation must be in (0, 2), got {args.relaxation}")
    if args.tv_weight != "auto" and not args.tv_weight >= 0:
        raise ValueError(f"--tv-weight must be >= 0, got {args.tv_weight}")
    if args.thickness is not None and args.thickness < 1:
        raise ValueError(f"--thickness must be a positive number of voxels, got {args.thickness}")
    if args.consistency_iterations < 1:
        raise ValueError(f"--consistency-iterations must be >= 1, got {args.consistency_iterations}")
    if args.method != "irdm" and args.data_consistency:
        raise ValueError("--data-consistency only applies to --method irdm")
    if args.method != "sirt" and args.stop != "none":
        raise ValueError("--stop only applies to --method sirt")
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
    if m == "sirt" and args.stop != "none":
        params["stop"] = args.stop
    if m in ("sirt", "sart"):
        params["relaxation"] = args.relaxation if args.relaxation is not None else DEFAULTS[m]["relaxation"]
    if m == "tv":
        params["tv_weight"] = args.tv_weight
    if m in ("sirt", "sart", "tv", "irdm"):
        params["nonnegative"] = bool(args.nonnegative)
    if m == "irdm":
        params["model"] = args.model
        params["data_consistency"] = {None: False, "fourier": True}.get(args.data_consistency, args.data_consistency)
        if args.data_consistency == "iterative":
            params["consistency_iterations"] = args.consistency_iterations
        params["tta"] = bool(args.tta)
    return params


def _generator(method: str, data, angles, params: dict, thickness, device, out):
    from napari_irdm import tomo

    common = {"thickness": thickness, "device": device, "out": out}
    if method == "wbp":
        return tomo.wbp_iter(data, angles, filter_name=params["filter"], **common)
    if method == "sirt":
        return tomo.sirt_iter(data, angles, iterations=params["iterations"], relaxation=params["relaxation"],
                              nonnegative=params["nonnegative"], stop=params.get("stop"), **common)
    if method == "sart":
        return tomo.sart_iter(data, angles, iterations=params["iterations"], relaxation=params["relaxation"],
                              nonnegative=params["nonnegative"], **common)
    return tomo.tv_iter(data, angles, iterations=params["iterations"], tv_weight=params["tv_weight"],
                        nonnegative=params["nonnegative"], solver=params.get("solver"), **common)


def _inpaint_iter():
    try:
        from napari_irdm.dl import inpaint_iter
    except ImportError as err:  # the deep-learning part is missing or broken here
        raise ValueError(f"--method irdm needs napari_irdm.dl, which cannot be imported ({err}): "
                         "use --method wbp/sirt/sart/tv") from err
    return inpaint_iter


def _check_resources(args, out_path: Path, shape_file: tuple[int, int, int], itemsize: int) -> None:
    """Refuse, before reading, what cannot fit in memory or on the disk (with the numbers)."""
    from napari_irdm.io import ensure_free_space, format_bytes
    from napari_irdm.resources import require_memory

    n, ny, nx = shape_file
    if args.tilt_axis == "x":
        ny, nx = nx, ny
    nz = args.thickness or nx
    limit = max(MAX_THICKNESS_FACTOR * nx, 4096)
    if nz > limit:
        raise ValueError(f"--thickness {nz} is more than {MAX_THICKNESS_FACTOR}x the image width {nx} "
                         f"(at most {limit}): give the sample thickness in voxels, e.g. --thickness {min(nx, limit)}")
    vol_bytes = 4 * nz * ny * nx
    series_bytes = 4 * n * ny * nx  # read as float32, whatever the file's type (itemsize)
    in_ram_volume = args.method == "irdm" or out_path.suffix.lower() in _TIFF_SUFFIXES
    # series + its filtered copy; a volume in memory (TIFF output, IRDM: WBP + network output)
    need = 2 * series_bytes + (3 if args.method == "irdm" else 1) * vol_bytes * in_ram_volume
    need += 64 * 2**20  # working chunk
    shape_txt = f"{nz}x{ny}x{nx}"
    require_memory(
        need, f"reconstructing a {shape_txt} volume ({args.method}) from {n} images of {ny}x{nx}",
        hint="bin the series (e.g. 2x), crop it, give a smaller --thickness"
        + ("" if in_ram_volume else ", or set NAPARI_IRDM_MEMORY_LIMIT_MB for fewer slices per chunk")
        + (" or write .mrc instead of .tif (written chunk by chunk)" if out_path.suffix.lower() in _TIFF_SUFFIXES
           else ""),
    )
    ensure_free_space(out_path, vol_bytes + 2**16, what=f"the {shape_txt} float32 volume ({format_bytes(vol_bytes)})")


def _peek(args) -> tuple[tuple[int, int, int], int] | None:
    """Shape and item size of the series from its header, without reading the data (MRC)."""
    from napari_irdm.io._raw import open_raw

    try:
        raw = open_raw(args.tilt, "tilt series")
    except ValueError:
        return None  # reading it properly gives the one-line error
    if raw.kind != "mrc":
        return None
    return tuple(raw.data.shape), raw.data.dtype.itemsize


def run(args: argparse.Namespace) -> int:
    from napari_irdm import __version__
    from napari_irdm.device import resolve_device
    from napari_irdm.io import create_volume_mrc, write_volume
    from napari_irdm.tomo import clear_projector_cache

    out_path = _check_args(args)
    series_kwargs(args)  # option pairs checked before anything is read
    device = resolve_device(args.device)  # a bad --device fails before the file is read
    from napari_irdm._cli._scale import run_scaled, wants_scale

    if wants_scale(args):
        return run_scaled(args, out_path, _parameters(args), device)
    peek = _peek(args)
    if peek is not None:
        _check_resources(args, out_path, *peek)
    ts = series_from_args(args, args.tilt)
    from napari_irdm._cli.align import maybe_align

    ts = maybe_align(args, ts, quiet=True if args.quiet else None)
    data, angles = ts.data, ts.tilt_angles_deg
    n_tilts, ny, nx = data.shape
    if peek is None:
        _check_resources(args, out_path, (n_tilts, nx, ny) if ts.tilt_axis == "x" else data.shape, 4)
    nz = args.thickness or nx
    params = _parameters(args)
    if params.get("tv_weight") == "auto":  # resolved here so the provenance records the weight used
        from napari_irdm.tomo.tv_cp import choose_tv_weight

        w = choose_tv_weight(data, angles, iterations=max(1, params["iterations"]), thickness=args.thickness,
                             device=device)
        params["tv_weight"] = float(f"{w:.3g}")
        params["solver"] = "cp"
        if not args.quiet:
            print(f"TV weight {params['tv_weight']:.3g} (auto: cross-validated on held-out tilts)")
    from napari_irdm.tomo._common import check_series

    check_series(data, angles, what=str(args.tilt))  # geometry refused before any warning or work
    _warn_unused(args)
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
        iterative = args.data_consistency == "iterative"
        vol = drive(inpaint_iter(vol, angles, model=args.model, data_consistency=args.data_consistency == "fourier",
                                 nonnegative=args.nonnegative, tta=args.tta, device=device,
                                 consistency="iterative" if iterative else None,
                                 tilt_series=data if iterative else None,
                                 consistency_iterations=args.consistency_iterations), "IRDM",
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
