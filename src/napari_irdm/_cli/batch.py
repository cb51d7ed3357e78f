"""``napari-irdm batch 'DIR/*.mrc' --method M --out OUTDIR [--scheduler ...]``: many series, one task each."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from napari_irdm._cli._common import add_series_options

__all__ = ["add_parser", "run"]

CSV_NAME = "batch.csv"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "batch",
        help="reconstruct many tilt series, one Dask task each (skips finished ones)",
        description="Reconstruct every tilt series matching the patterns into OUTDIR/<name>_<method>.zarr "
        "(or .mrc), one task per series on the chosen Dask scheduler. Each output appears only when "
        "complete (temp + rename), so a rerun skips what is finished; a series that fails is reported "
        "in OUTDIR/batch.csv and the others go on. Exit code 2 if any failed.",
    )
    parser.add_argument("patterns", nargs="+", metavar="PATTERN",
                        help="tilt series files or quoted glob patterns (e.g. 'data/*.mrc')")
    parser.add_argument("--out", required=True, metavar="OUTDIR", help="output folder (created)")
    parser.add_argument("--format", choices=("zarr", "mrc"), default="zarr",
                        help="output format: zarr (OME-Zarr, multiscale; default) or mrc")
    parser.add_argument("--scheduler", default=None, metavar="threads|local:N|tcp://HOST:PORT",
                        help="where the series run: this process one after another (default), 'local:N' "
                        "(a LocalCluster of N worker processes) or a running cluster's address")
    parser.add_argument("--overwrite", action="store_true", help="redo series whose output already exists")
    add_series_options(parser)
    from napari_irdm._cli.reconstruct import add_method_options

    add_method_options(parser)  # the same options, defaults and rules as reconstruct
    parser.add_argument("--slab", type=int, default=None, metavar="N",
                        help="y-slices per slab inside each series (default: about 256 MiB of output)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=run)
    return parser


def _files(patterns) -> list[Path]:
    files: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(str(pat))) if glob.has_magic(str(pat)) else [str(pat)]
        if not hits:
            raise ValueError(f"no file matches {pat!r}: check the pattern (quote it so the shell leaves it to us)")
        for h in hits:
            p = Path(h)
            if not p.exists():
                raise ValueError(f"tilt series {p} does not exist: check the path")
            if p not in files:
                files.append(p)
    return files


def _jobs(args, files: list[Path]) -> list[tuple[str, str]]:
    out_dir = Path(args.out)
    seen: dict[str, Path] = {}
    jobs = []
    for f in files:
        name = f"{f.stem}_{args.method}.{args.format}"
        if name in seen:
            raise ValueError(f"{f} and {seen[name]} would both write {out_dir / name}: give files with distinct "
                             "names (or run them in two batches)")
        seen[name] = f
        out = out_dir / name
        if out.resolve() == f.resolve():
            raise ValueError(f"output {out} is an input: choose another --out")
        jobs.append((str(f), str(out)))
    return jobs


def _params(args):
    """The method's parameters by reconstruct's rules (napari_irdm.methods), and the run options."""
    from napari_irdm._cli import reconstruct as rec

    p = rec._method_params(args)
    if args.thickness is not None and args.thickness < 1:
        raise ValueError(f"--thickness must be a positive number of voxels, got {args.thickness}")
    if args.slab is not None and args.slab < 1:
        raise ValueError(f"--slab must be a positive number of slices, got {args.slab}")
    return p


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    import io

    from napari_irdm.io import atomic_write_text
    from napari_irdm.scale._batch import CSV_COLUMNS

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in CSV_COLUMNS})
    atomic_write_text(path, buf.getvalue())


def run(args: argparse.Namespace) -> int:
    from napari_irdm._cli._common import check_output_dir, series_kwargs
    from napari_irdm._cli._scale import method_kwargs
    from napari_irdm.data import format_step, provenance_line
    from napari_irdm.scale import parse_scheduler

    params = _params(args)
    files = _files(args.patterns)
    out_dir = check_output_dir(args.out, inputs=files, contents=[CSV_NAME])
    jobs = _jobs(args, files)
    opts = series_kwargs(args)
    if opts.pop("rotation_deg", 0.0):
        raise ValueError("--rotation needs whole images and does not work slab by slab: align the series first")
    parse_scheduler(args.scheduler)  # a bad --scheduler fails before anything is written
    if args.scheduler is None:  # a bad --device fails up front here (a worker checks its own)
        from napari_irdm.device import resolve_device

        resolve_device(args.device)
    kw = method_kwargs(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    from napari_irdm.scale._batch import batch_iter

    gen = batch_iter(jobs, args.method, kw, opts, scheduler=args.scheduler, thickness=args.thickness,
                     device=None if args.device == "auto" else args.device, slab=args.slab,
                     overwrite=args.overwrite,
                     provenance=[provenance_line(format_step(f"batch method={args.method}", kw))])
    rows: list[dict] = []
    csv_path = out_dir / CSV_NAME
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            rows = stop.value
            break
        if isinstance(item, dict):
            rows.append(item)
            _write_csv(csv_path, rows)
            if not args.quiet:
                msg = f" ({item['message']})" if item["message"] else ""
                print(f"{item['status']:8s} {item['input']} -> {item['output']}{msg}", flush=True)
    _write_csv(csv_path, rows)
    failed = [r for r in rows if r["status"] == "failed"]
    done = sum(r["status"] == "done" for r in rows)
    skipped = sum(r["status"] == "skipped" for r in rows)
    print(f"batch: {done} done, {skipped} skipped, {len(failed)} failed; {csv_path}")
    sys.stdout.flush()
    if failed:
        raise ValueError(f"{len(failed)} of {len(rows)} series failed (first: {Path(failed[0]['input']).name}: "
                         f"{failed[0]['message']}); see {csv_path}")
    return 0
