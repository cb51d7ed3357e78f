"""``napari-irdm reconstruct TILT -o OUT.mrc``: WBP, SIRT, SART, TV or IRDM reconstruction of a tilt series."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from napari_irdm._cli._common import (
    add_series_options,
    check_output_file,
    drive,
    model_help,
    series_kwargs,
)
from napari_irdm.methods import (
    CONSISTENCY_ITERATIONS,
    FILTERS,
    MAX_ITERATIONS,
    METHODS,
    PARAMS,
    SERIES_CONSISTENCY,
    method_params,
)

__all__ = ["METHODS", "add_parser", "run"]

#: sane upper limit of --thickness (a mistyped number must not fill the disk)
MAX_THICKNESS_FACTOR = 4  # --thickness up to 4x the image width (and at least 4096 allowed)
#: option (args attribute) -> the method parameter it sets (napari_irdm.methods); the rest are run options
_PARAM_OF = {"filter": "filter_name", "iterations": "iterations", "relaxation": "relaxation",
             "tv_weight": "tv_weight", "stop": "stop", "nonnegative": "nonnegative", "model": "model",
             "data_consistency": "data_consistency", "consistency_iterations": "consistency_iterations",
             "tta": "tta"}
#: option -> the methods it changes (from the parameter classes); given for another method: a warning line
_APPLIES_TO = {opt: tuple(m for m in METHODS if param in {f.name for f in fields(PARAMS[m])})
               for opt, param in _PARAM_OF.items()}
#: these are refused for another method instead (they change what the run is)
_ERROR_IF_UNUSED = ("stop", "data_consistency", "tta")


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
    add_method_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    from napari_irdm._cli.align import add_reconstruct_option

    add_reconstruct_option(parser)
    from napari_irdm._cli._scale import add_scale_options

    add_scale_options(parser)  # --scheduler, --slab: the Dask path (docs/scale.md)
    parser.set_defaults(func=run)
    return parser


def add_method_options(parser: argparse.ArgumentParser) -> None:
    """The method options (``--method`` ... ``--tta``), defaults and help from napari_irdm.methods.

    Shared by ``reconstruct`` and ``batch``: one definition, checked by :func:`_method_params`.
    """
    parser.add_argument("--method", choices=METHODS, default="wbp", help="reconstruction method (default wbp)")
    parser.add_argument("--filter", default=None, choices=FILTERS,
                        help=f"WBP filter (wbp, irdm; default {PARAMS['wbp']().filter_name})")
    parser.add_argument("--iterations", type=int, default=None, metavar="N",
                        help="iterations, 1 to {} (default: {})".format(MAX_ITERATIONS, ", ".join(
                            f"{m} {PARAMS[m]().iterations}" for m in _APPLIES_TO["iterations"])))
    parser.add_argument("--relaxation", type=float, default=None, metavar="R",
                        help="relaxation λ in (0, 2) for sirt/sart (default: {})".format(", ".join(
                            f"{m} {PARAMS[m]().relaxation}" for m in _APPLIES_TO["relaxation"])))
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
                        choices=("tv", "none", "fourier", "iterative"), metavar="tv|none|fourier|iterative",
                        help=f"irdm (default {SERIES_CONSISTENCY}): 'tv' runs TV on the measured projections with the "
                        "network's output as a prior, both weights chosen on held-out tilts (the prior is dropped "
                        "when it does not predict them better than TV alone); 'none' is the network alone (about "
                        "3x faster); 'fourier' (when given without a value) keeps the measured Fourier region of "
                        "the WBP and uses the network only in the wedge; 'iterative' starts SIRT on the measured "
                        "projections from the network's output")
    parser.add_argument("--consistency-iterations", type=int, default=None, metavar="N",
                        help="irdm --data-consistency iterative|tv: SIRT updates (default "
                        f"{CONSISTENCY_ITERATIONS['iterative']}) or TV iterations (default "
                        f"{CONSISTENCY_ITERATIONS['tv']})")
    parser.add_argument("--tta", action="store_true",
                        help="irdm: test-time augmentation, average over the flips that keep the missing wedge "
                        "(2-4x the time)")


def _inputs(args: argparse.Namespace) -> list:
    """Every file this run reads (an output must be none of them)."""
    from napari_irdm._cli._common import input_files

    return input_files(args.tilt, angles=args.angles, model=args.params.model if args.method == "irdm" else None)


def _tv_weight(text: str):
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _flag(option: str) -> str:
    """``--option`` of an args attribute."""
    return "--" + option.replace("_", "-")


def _given(args: argparse.Namespace) -> dict:
    """The method parameters set on the command line (option -> value as the parameter takes it)."""
    given = {}
    for opt in _PARAM_OF:
        value = getattr(args, opt, None)
        if value is None or value is False or (opt in ("stop", "data_consistency") and value == "none"):
            continue
        given[opt] = value
    return given


def _as_params(method: str, given: dict):
    """``methods.method_params`` of ``method`` from options (option names -> parameter names)."""
    opts = {}
    for opt, value in given.items():
        if opt == "data_consistency":  # one option, two parameters
            opts["data_consistency" if value == "fourier" else "consistency"] = True if value == "fourier" else value
        else:
            opts[_PARAM_OF[opt]] = value
    return method_params(method, **opts)  # a ParameterError: the CLI says the option (_common.CLI_NAMES)


def _method_params(args: argparse.Namespace):
    """The parameters of ``--method`` (defaults from napari_irdm.methods); options for other methods are
    checked by the same rules, then warned about (or refused) once every check passed."""
    given = _given(args)
    if args.method == "irdm" and getattr(args, "data_consistency", None) is None:
        given["data_consistency"] = SERIES_CONSISTENCY  # the recommended setting unless chosen ('none': off)
    unused = {opt: v for opt, v in given.items() if args.method not in _APPLIES_TO[opt]}
    for opt, value in unused.items():
        if opt in _ERROR_IF_UNUSED:
            raise ValueError(f"{_flag(opt)} only applies to --method {' or '.join(_APPLIES_TO[opt])}")
        _as_params(_APPLIES_TO[opt][0], {opt: value})  # a bad value is an error even where unused
    args._unused = list(unused)
    return _as_params(args.method, {o: v for o, v in given.items() if o not in unused})


def _warn_unused(args: argparse.Namespace) -> None:
    """One warning line per option given that does nothing for --method (once every check passed)."""
    import warnings

    from napari_irdm.errors import DataWarning

    for name in getattr(args, "_unused", ()):
        warnings.warn(f"{_flag(name)} does nothing for --method {args.method} (it applies to "
                      f"{', '.join(_APPLIES_TO[name])}): ignored", DataWarning, stacklevel=2)


def _check_args(args: argparse.Namespace) -> Path:
    from napari_irdm._cli._scale import check_scaled_output, wants_scale
    from napari_irdm.io import SUPPORTED_SUFFIXES

    args.params = _method_params(args)
    if wants_scale(args):  # OME-Zarr output or --scheduler: the Dask slab engine
        out = check_scaled_output(args.output, _inputs(args), args.scheduler)
    else:
        out = check_output_file(args.output, inputs=_inputs(args), suffixes=SUPPORTED_SUFFIXES)
    if args.thickness is not None and args.thickness < 1:
        raise ValueError(f"--thickness must be a positive number of voxels, got {args.thickness}")
    return out


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
    from napari_irdm.io.tiff import TIFF_SUFFIXES
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
    in_ram_volume = args.method == "irdm" or out_path.suffix.lower() in TIFF_SUFFIXES
    # series + its filtered copy; a volume in memory (TIFF output, IRDM: WBP + network output)
    need = 2 * series_bytes + (3 if args.method == "irdm" else 1) * vol_bytes * in_ram_volume
    need += 64 * 2**20  # working chunk
    shape_txt = f"{nz}x{ny}x{nx}"
    require_memory(
        need, f"reconstructing a {shape_txt} volume ({args.method}) from {n} images of {ny}x{nx}",
        hint="bin the series (e.g. 2x), crop it, give a smaller --thickness"
        + ("" if in_ram_volume else ", or set NAPARI_IRDM_MEMORY_LIMIT_MB for fewer slices per chunk")
        + (" or write .mrc instead of .tif (written chunk by chunk)" if out_path.suffix.lower() in TIFF_SUFFIXES
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
    from napari_irdm.data import Volume
    from napari_irdm.device import resolve_device
    from napari_irdm.io import create_volume_mrc, write_volume
    from napari_irdm.io.mrc import MRC_SUFFIXES
    from napari_irdm.tomo import clear_projector_cache, describe_step, reconstruct_iter

    out_path = _check_args(args)
    series_kwargs(args)  # option pairs checked before anything is read
    device = resolve_device(args.device)  # a bad --device fails before the file is read
    from napari_irdm._cli._scale import run_scaled, wants_scale

    if wants_scale(args):
        return run_scaled(args, out_path, device)
    peek = _peek(args)
    if peek is not None:
        from napari_irdm._cli.align import preprocessed_shape  # --exclude, --crop, --bin

        _check_resources(args, out_path, preprocessed_shape(args, peek[0], args.tilt_axis), peek[1])
    from napari_irdm._cli.align import maybe_align, read_series

    ts, _ = read_series(args, args.tilt)  # preprocessed while reading: --bin at load
    ts = maybe_align(args, ts, quiet=True if args.quiet else None)
    data, angles = ts.data, ts.tilt_angles_deg
    n_tilts, ny, nx = data.shape
    if peek is None:
        _check_resources(args, out_path, (n_tilts, nx, ny) if ts.tilt_axis == "x" else data.shape, 4)
    nz = args.thickness or nx
    p = args.params
    auto = args.method == "tv" and p.auto
    if auto:  # resolved here so the provenance records the weight used
        from napari_irdm.tomo import resolve_tv_weight

        p = resolve_tv_weight(p, data, angles, thickness=args.thickness, device=device, digits=3)
        if not args.quiet:
            print(f"TV weight {p.tv_weight:.3g} (auto: cross-validated on held-out tilts)")
    from napari_irdm.tomo._common import check_series

    check_series(data, angles, what=str(args.tilt))  # geometry refused before any warning or work
    _warn_unused(args)
    quiet = True if args.quiet else None
    shape = (nz, ny, nx)
    px = ts.pixel_size_A
    # the TiltSeries goes to the core, which returns a Volume: pixel size, angles and the
    # series' provenance plus one line per step (napari_irdm.data.Volume.from_series)
    run = {"thickness": args.thickness, "device": device}
    if args.method == "irdm":
        inpaint_iter = _inpaint_iter()  # before any work: a missing dl part is a one-line error
        start = method_params("wbp", filter_name=p.filter_name)
        vol = drive(reconstruct_iter(ts, None, start, **run), "WBP", disable=quiet)
        vol = drive(inpaint_iter(vol, **p.core_kwargs(), device=device,
                                 tilt_series=data if p.consistency is not None else None), "IRDM",
                    disable=quiet)
        write_volume(out_path, vol)
        return _wrote(out_path, vol.shape, args.method, px)
    step = describe_step(p, thickness=args.thickness, auto_weight=auto)
    if out_path.suffix.lower() in MRC_SUFFIXES:
        planned = Volume.from_series(ts, None, step=step)  # the header is written first
        with create_volume_mrc(out_path, shape, pixel_size_A=planned.pixel_size_A, provenance=planned.provenance,
                               tilt_angles_deg=planned.tilt_angles_deg) as out:
            drive(reconstruct_iter(data, angles, p, out=out, **run), args.method.upper(), disable=quiet)
            # free the input and the cached projection matrices before the file's statistics
            # pass reads the whole output back (keeps the peak RSS of big volumes down)
            del data, ts
            clear_projector_cache()
    else:
        from napari_irdm.data import format_choices, recording_choices

        with recording_choices() as chosen:  # e.g. where SIRT's discrepancy rule stopped
            vol = drive(reconstruct_iter(data, angles, p, **run), args.method.upper(), disable=quiet)
        write_volume(out_path, Volume.from_series(ts, vol, step=format_choices(step, chosen)))
    return _wrote(out_path, shape, args.method, px)


def _wrote(out_path: Path, shape, method: str, px) -> int:
    size = "x".join(str(int(s)) for s in shape)
    px_txt = f", voxel {px:g} Å" if px else ""
    print(f"wrote {out_path} ({size} {method}{px_txt})")
    return 0
