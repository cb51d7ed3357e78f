"""``napari-irdm align TILT -o ALIGNED.mrc``: align a raw tilt series, write it with IMOD .xf/.tlt."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_irdm._cli._common import add_series_options, drive, series_from_args

__all__ = ["add_parser", "run", "parse_exclude"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "align",
        help="align a raw tilt series (shifts, tilt axis, rotation centre); writes .mrc + .xf + .tlt",
        description="Align a single-axis tilt series: coarse translation (cosine-stretched cross-correlation "
        "or centre of mass), tilt-axis angle and rotation centre (sharpest back-projection), and projection "
        "matching coarse to fine. Writes the aligned series (MRC with angles, pixel size, provenance) and "
        "the transforms as IMOD <stem>.xf + <stem>.tlt.",
    )
    parser.add_argument("tilt", metavar="TILT", help="raw tilt series (MRC or TIFF)")
    parser.add_argument("-o", "--output", required=True, metavar="ALIGNED", help="aligned series (.mrc or .tif)")
    add_series_options(parser)
    parser.add_argument("--method", choices=("xcorr", "com", "pm"), default="pm",
                        help="xcorr, com (centre of mass, HAADF) or pm (xcorr + projection matching); default pm")
    parser.add_argument("--bin", type=int, default=1, metavar="N", help="bin the images N x N before aligning (output binned)")
    parser.add_argument("--levels", default="4,2,1", metavar="B,B,..",
                        help="binning levels of the search and projection matching, coarse to fine (default 4,2,1)")
    parser.add_argument("--iterations", type=int, default=8, metavar="N", help="projection-matching iterations per level")
    parser.add_argument("--exclude", default=None, metavar="I,J-K",
                        help="0-based image indices to leave out, e.g. 0,5,70-76 (listed in the provenance)")
    pre = parser.add_argument_group("preprocessing (in this order, after --exclude, before --bin)")
    pre.add_argument("--crop", default=None, metavar="Y0:Y1,X0:X1",
                     help="keep rows Y0..Y1-1 and columns X0..X1-1 (0-based, of the image as read)")
    pre.add_argument("--remove-hot-pixels", action="store_true", help="replace isolated hot pixels by their 3x3 median")
    pre.add_argument("--subtract-background", action="store_true",
                     help="subtract each image's 5th percentile (detector offset / vacuum)")
    pre.add_argument("--normalise-intensity", action="store_true",
                     help="scale images to one total intensity (beam-current drift)")
    parser.add_argument("--tilt-offset", action="store_true", help="also fit a global tilt-angle offset")
    parser.add_argument("--apply", metavar="XF|ALN", default=None,
                        help="do not align: apply these transforms (.xf or AreTomo .aln), scaled by pixel size")
    parser.add_argument("--report", metavar="PNG", default=None, help="write a figure of shifts and residuals")
    parser.add_argument("--device", default="auto", metavar="DEV", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def parse_exclude(text: str | None, n: int) -> list[int]:
    """``"0,5,70-76"`` → sorted indices; ``ValueError`` with the fix for anything else."""
    if not text:
        return []
    out: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                out.update(range(min(lo, hi), max(lo, hi) + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise ValueError(f"--exclude {text!r}: give 0-based image indices and ranges such as 0,5,70-76") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ValueError(f"--exclude: image {bad[0]} does not exist (the series has images 0..{n - 1})")
    if n - len(out) < 3:
        raise ValueError(f"--exclude leaves {n - len(out)} images: at least 3 are needed")
    return sorted(out)


def _preprocess(args, data):
    """The preprocessing flags applied in order; returns ``(data, provenance lines)``."""
    from napari_irdm.align import preprocess as pp

    steps = []
    crop = getattr(args, "crop", None)
    if crop:
        try:
            ys, xs = str(crop).split(",")
            y0, y1 = (int(v) for v in ys.split(":"))
            x0, x1 = (int(v) for v in xs.split(":"))
        except ValueError:
            raise ValueError(f"--crop {crop!r}: give rows and columns as Y0:Y1,X0:X1 (e.g. 0:512,100:612)") from None
        ny, nx = data.shape[1:]
        if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx) or min(y1 - y0, x1 - x0) < 16:
            raise ValueError(f"--crop {crop}: must lie inside the {ny}x{nx} images and keep at least 16x16 pixels")
        data = np.ascontiguousarray(data[:, y0:y1, x0:x1])
        steps.append(f"cropped rows {y0}:{y1}, columns {x0}:{x1}")
    if getattr(args, "remove_hot_pixels", False):
        data = pp.remove_hot_pixels(data)
        steps.append("hot pixels replaced by their 3x3 median (> 8 robust sigma)")
    if getattr(args, "subtract_background", False):
        data = pp.subtract_background(data)
        steps.append("subtracted each image's 5th percentile")
    if getattr(args, "normalise_intensity", False):
        data = pp.normalise_intensity(data)
        steps.append("images scaled to one total intensity")
    return data, steps


_SUFFIXES = (".mrc", ".mrcs", ".st", ".ali", ".tif", ".tiff")


def _check_outputs(args: argparse.Namespace) -> Path:
    """The aligned series, its ``.xf`` / ``.tlt`` and the report: none may be (or link to) an input."""
    from napari_irdm._cli._common import check_output_file, input_files

    inputs = input_files(args.tilt, angles=args.angles, more=(args.apply,))
    out = check_output_file(args.output, inputs=inputs, suffixes=_SUFFIXES)
    for derived in (out.with_suffix(".xf"), out.with_suffix(".tlt"), out.with_suffix(".rawtlt")):
        check_output_file(derived, inputs=inputs, option=f"-o/--output (its {derived.suffix} file)")
    if args.report:
        check_output_file(args.report, inputs=[*inputs, out, out.with_suffix(".xf"), out.with_suffix(".tlt")],
                          option="--report", suffixes=(".png",))
    return out


def load_and_align(args, path, *, quiet=None):
    """Read, preprocess (exclude, crop, hot pixels, background, intensity, bin) and align or apply transforms."""
    from napari_irdm.align import AlignResult, align_iter, apply_transforms, read_aln, read_xf
    from napari_irdm.device import resolve_device

    device = resolve_device(getattr(args, "device", "auto"))
    if args.bin < 1:
        raise ValueError(f"--bin must be a positive whole number, got {args.bin}")
    try:
        levels = tuple(int(v) for v in str(args.levels).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--levels {args.levels!r}: give binning factors such as 4,2,1") from None
    if args.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {args.iterations}")
    ts = series_from_args(args, path)
    excluded = parse_exclude(args.exclude, ts.n_tilts)
    prov = list(ts.provenance)
    if excluded:
        keep = np.setdiff1d(np.arange(ts.n_tilts), excluded)
        prov.append(f"excluded images {','.join(map(str, excluded))} (0-based)")
        ts = ts.replace(data=np.ascontiguousarray(ts.data[keep]), tilt_angles_deg=ts.tilt_angles_deg[keep])
    data, steps = _preprocess(args, ts.data)
    if steps:
        prov.extend(steps)
        ts = ts.replace(data=data)
    if args.bin > 1:
        from napari_irdm.align.preprocess import bin_images

        ts = ts.replace(data=bin_images(ts.data, args.bin),
                        pixel_size_A=None if ts.pixel_size_A is None else ts.pixel_size_A * args.bin)
        prov.append(f"binned {args.bin}x{args.bin} before aligning")
    ts = ts.replace(provenance=tuple(prov))
    if args.apply:
        src = Path(args.apply)
        if src.suffix.lower() == ".aln":
            t, sections = read_aln(src)
            if len(sections) != ts.n_tilts:
                raise ValueError(f"{src} aligns {len(sections)} images but the series has {ts.n_tilts}: use --exclude")
        else:
            t = read_xf(src, tilt_angles_deg=ts.tilt_angles_deg)
        if t.n != ts.n_tilts:
            raise ValueError(f"{src} has {t.n} transforms for {ts.n_tilts} images: they must match (use --exclude)")
        if args.bin > 1:
            t = t.scaled(factor=1.0 / args.bin)
        data = apply_transforms(ts.data, t, device=device)
        angles = t.tilt_angles_deg if np.all(np.isfinite(t.tilt_angles_deg)) else ts.tilt_angles_deg
        t = t.replace(tilt_angles_deg=angles, pixel_size_A=ts.pixel_size_A)
        out = ts.replace(data=data, tilt_angles_deg=angles,
                         provenance=ts.provenance + (f"applied transforms from {src.name}",))
        return AlignResult(series=out, transforms=t, report={"method": "apply"}), excluded
    gen = align_iter(ts, method=args.method, levels=levels, iterations=args.iterations,
                     refine_tilt_offset=args.tilt_offset, device=device)
    return drive(gen, f"align ({args.method})", disable=quiet), excluded


def write_report(path: str, result, preview: dict | None = None) -> None:
    """Shifts vs tilt, residual vs iteration (and before/after slices): a PNG, written atomically."""
    from napari_irdm.align._report import report_png
    from napari_irdm.io import atomic_write_bytes

    atomic_write_bytes(path, report_png(result, preview))


def run(args: argparse.Namespace) -> int:
    from napari_irdm.align import write_tlt, write_xf
    from napari_irdm.io import write_tilt_series

    out = _check_outputs(args)
    result, _ = load_and_align(args, args.tilt, quiet=True if args.quiet else None)
    write_tilt_series(out, result.series)
    write_xf(out.with_suffix(".xf"), result.transforms)
    write_tlt(out.with_suffix(".tlt"), result.transforms)
    if args.report:
        write_report(args.report, result)
    rep = result.report
    extra = ""
    if "residual_final" in rep:
        extra = (f", tilt axis {result.transforms.rotation_deg:.2f} deg, centre {rep['centre_offset_px']:.2f} px, "
                 f"residual {rep['residual_initial']:.4g} -> {rep['residual_final']:.4g}")
    print(f"wrote {out} + {out.with_suffix('.xf').name} + {out.with_suffix('.tlt').name}{extra}")
    return 0


def add_reconstruct_option(parser: argparse.ArgumentParser) -> None:
    """``reconstruct --align METHOD``: align the series before reconstructing (one option, no file written)."""
    parser.add_argument("--align", choices=("xcorr", "com", "pm"), default=None, metavar="METHOD",
                        help="align the raw series first (xcorr, com or pm; see 'napari-irdm align')")


def maybe_align(args: argparse.Namespace, ts, *, quiet=None):
    """The series aligned with ``args.align`` (default options of ``align``), or ``ts`` unchanged."""
    method = getattr(args, "align", None)
    if not method:
        return ts
    from napari_irdm.align import align_iter

    result = drive(align_iter(ts, method=method, device=getattr(args, "device", None)), f"align ({method})",
                   disable=quiet)
    return result.series
