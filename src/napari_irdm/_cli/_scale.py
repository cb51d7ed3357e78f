"""``reconstruct ... -o OUT.zarr [--scheduler ...]``: the scale-out path of ``reconstruct`` (and ``batch``).

Kept apart from ``_cli/reconstruct.py`` so that module stays as it was: it adds two options
and hands over to :func:`run_scaled` when the output is OME-Zarr or a scheduler is named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_scale_options", "method_kwargs", "run_scaled", "wants_scale"]

ZARR_SUFFIX = ".zarr"


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and ``--slab`` (the Dask scale-out path)."""
    group = parser.add_argument_group("scale-out (Dask; see docs/scale.md)")
    group.add_argument("--scheduler", default=None, metavar="threads|local:N|tcp://HOST:PORT",
                       help="run slabs of y-slices as Dask tasks: 'threads' (this process), 'local:N' (a "
                       "LocalCluster of N worker processes) or the address of a running cluster (e.g. started "
                       "by dask-jobqueue on SLURM); implied (threads) by an -o ending in .zarr")
    group.add_argument("--slab", type=int, default=None, metavar="N",
                       help="y-slices per Dask task (default: about 256 MiB of output; irdm at most 64)")


def wants_scale(args: argparse.Namespace) -> bool:
    """Whether this run goes through the Dask slab engine (OME-Zarr output or a scheduler named)."""
    return (str(getattr(args, "output", "")).lower().rstrip("/").endswith(ZARR_SUFFIX)
            or getattr(args, "scheduler", None) is not None)


def method_kwargs(params) -> dict:
    """Keyword arguments of the slab engine for a method's parameters (napari_irdm.methods)."""
    if params.method == "irdm":
        return {"filter_name": params.filter_name, **params.core_kwargs()}
    return params.core_kwargs()


def check_scaled_output(out, inputs, scheduler=None) -> Path:
    """``.zarr`` (OME-Zarr folder) or ``.mrc/.rec/.map``; refused when it is an input or a foreign folder."""
    from napari_irdm._cli._common import check_output_file
    from napari_irdm.io.omezarr import is_omezarr
    from napari_irdm.scale import parse_scheduler

    parse_scheduler(scheduler)  # a bad --scheduler is the first thing reported

    p = Path(out)
    if p.suffix.lower() == ZARR_SUFFIX:
        if p.exists() and not is_omezarr(p):
            raise ValueError(f"-o/--output {p} exists and is not an OME-Zarr image: remove it or choose another name")
        if not p.parent.is_dir():
            raise ValueError(f"cannot write {p}: folder {p.parent} does not exist; create it first")
        if any(Path(i).resolve() == p.resolve() for i in inputs if i is not None):
            raise ValueError(f"-o/--output {p} is the input: choose another name")
        return p
    return check_output_file(out, inputs=inputs, suffixes=(".mrc", ".rec", ".map"))


def open_lazy(args: argparse.Namespace, path):
    """The series at ``path`` as a :class:`~napari_irdm.scale.LazySeries` from the series options."""
    from napari_irdm._cli._common import series_kwargs
    from napari_irdm.scale import open_series

    kw = series_kwargs(args)
    if kw.pop("rotation_deg", 0.0):
        raise ValueError("--rotation needs whole images and does not work slab by slab: align first "
                         "(napari-irdm align) or leave out --scheduler / the .zarr output")
    return open_series(path, **kw)


def run_scaled(args: argparse.Namespace, out_path: Path, device) -> int:
    """The ``reconstruct`` run through :func:`napari_irdm.scale.reconstruct_iter`."""
    from napari_irdm._cli._common import drive
    from napari_irdm.data import format_step, provenance_line
    from napari_irdm.scale import reconstruct_iter
    from napari_irdm.tomo import describe_step

    if getattr(args, "align", None):
        raise ValueError("--align does not combine with --scheduler / .zarr output: run napari-irdm align first")
    if getattr(args, "slab", None) is not None and args.slab < 1:
        raise ValueError(f"--slab must be a positive number of slices, got {args.slab}")
    series = open_lazy(args, args.tilt)
    p = args.params
    auto = args.method == "tv" and p.auto
    if auto:
        from napari_irdm.tomo import resolve_tv_weight

        p = resolve_tv_weight(p, series, series.tilt_angles_deg, thickness=args.thickness, device=device, digits=3)
        if not args.quiet:
            print(f"TV weight {p.tv_weight:.3g} (auto: cross-validated on held-out tilts)")
    kw = method_kwargs(p)
    if args.method == "irdm":
        step = format_step("reconstruct method=irdm", kw)
    else:
        step = describe_step(p, thickness=args.thickness, auto_weight=auto)
    angles = series.tilt_angles_deg
    provenance = [*series.provenance, provenance_line(
        f"{step} scheduler={args.scheduler or 'threads'}; {len(angles)} tilts "
        f"{float(min(angles)):g}..{float(max(angles)):g} deg (angles: {series.angle_source})")]
    gen = reconstruct_iter(series, method=args.method, output=out_path, scheduler=args.scheduler,
                           slab=args.slab, thickness=args.thickness, device=args.device, provenance=provenance, **kw)
    drive(gen, args.method.upper(), disable=True if args.quiet else None)
    n, ny, nx = series.shape
    px = f", voxel {series.pixel_size_A:g} Å" if series.pixel_size_A else ""
    print(f"wrote {out_path} ({args.thickness or nx}x{ny}x{nx} {args.method}{px})")
    return 0
