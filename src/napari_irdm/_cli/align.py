"""``napari-irdm align TILT -o ALIGNED.mrc``: align a raw tilt series, write it with IMOD .xf/.tlt."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_irdm._cli._common import add_series_options, drive

__all__ = ["add_parser", "run", "parse_exclude"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "align",
        help="align a raw tilt series (shifts, tilt axis, rotation centre); writes .mrc + .xf + .tlt",
        description="Align a single-axis tilt series: coarse translation (cosine-stretched cross-correlation "
        "or centre of mass), tilt-axis angle (common lines), rotation centre (sharpest back-projection), and "
        "projection matching coarse to fine. Writes the aligned series (MRC with angles, pixel size, provenance; "
        "tilt axis along y) and the transforms as IMOD <stem>.xf + <stem>.tlt, in the input file's own frame "
        "(also for --tilt-axis x).",
    )
    parser.add_argument("tilt", metavar="TILT", help="raw tilt series (MRC or TIFF)")
    parser.add_argument("-o", "--output", required=True, metavar="ALIGNED", help="aligned series (.mrc or .tif)")
    add_series_options(parser)
    parser.add_argument("--method", choices=("xcorr", "com", "pm"), default="pm",
                        help="xcorr, com (centre of mass, HAADF) or pm (xcorr + projection matching); default pm")
    parser.add_argument("--levels", default="4,2,1", metavar="B,B,..",
                        help="binning levels of the search and projection matching, coarse to fine (default 4,2,1)")
    parser.add_argument("--iterations", type=int, default=8, metavar="N", help="projection-matching iterations per level")
    parser.add_argument("--axis-range", type=float, default=3.0, metavar="DEG",
                        help="search the tilt-axis angle within ±DEG of --rotation (default 3; 90: every direction, "
                        "scanned by common lines first)")
    add_preprocess_options(parser, bin_help="bin the images N x N before aligning (output binned)")
    parser.add_argument("--tilt-offset", action="store_true", help="also fit a global tilt-angle offset")
    parser.add_argument("--apply", metavar="XF|ALN", default=None,
                        help="do not align: apply these transforms (.xf or AreTomo .aln), scaled by pixel size")
    parser.add_argument("--report", metavar="PNG", default=None, help="write a figure of shifts and residuals")
    parser.add_argument("--device", default="auto", metavar="DEV", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def parse_exclude(text: str | None, n: int) -> list[int]:
    """:func:`napari_irdm.align.preprocess.parse_exclude` (``"0,5,70-76"`` → sorted indices)."""
    from napari_irdm.align.preprocess import parse_exclude as core

    return core(text, n)


def add_preprocess_options(parser: argparse.ArgumentParser, *, bin_help: str) -> None:
    """``--exclude``, ``--crop``, ``--remove-hot-pixels``, ``--subtract-background``,
    ``--normalise-intensity`` and ``--bin``: the same preprocessing for ``align`` and ``reconstruct``."""
    pre = parser.add_argument_group("preprocessing (in this order, right after reading)")
    pre.add_argument("--exclude", default=None, metavar="I,J-K",
                     help="0-based image indices to leave out, e.g. 0,5,70-76 (listed in the provenance)")
    pre.add_argument("--crop", default=None, metavar="Y0:Y1,X0:X1",
                     help="keep rows Y0..Y1-1 and columns X0..X1-1 (0-based, of the image as read, "
                     "i.e. after --tilt-axis x transposes it)")
    pre.add_argument("--remove-hot-pixels", action="store_true", help="replace isolated hot pixels by their 3x3 median")
    pre.add_argument("--subtract-background", action="store_true",
                     help="subtract each image's 5th percentile (detector offset / vacuum)")
    pre.add_argument("--normalise-intensity", action="store_true",
                     help="scale images to one total intensity (beam-current drift)")
    pre.add_argument("--bin", type=int, default=1, metavar="N", help=bin_help)


def _bin_factor(args: argparse.Namespace) -> int:
    from napari_irdm.align.preprocess import check_bin

    return check_bin(getattr(args, "bin", None))


def _preprocess_kwargs(args: argparse.Namespace) -> dict:
    return dict(exclude=getattr(args, "exclude", None), crop=getattr(args, "crop", None),
                remove_hot_pixels=getattr(args, "remove_hot_pixels", False),
                subtract_background=getattr(args, "subtract_background", False),
                normalise_intensity=getattr(args, "normalise_intensity", False), bin=getattr(args, "bin", None))


def preprocess_series(args: argparse.Namespace, ts):
    """:func:`napari_irdm.align.preprocess.preprocess_series` with the options of :func:`add_preprocess_options`."""
    from napari_irdm.align.preprocess import preprocess_series as core

    return core(ts, **_preprocess_kwargs(args))


def read_series(args: argparse.Namespace, path):
    """Read ``path`` with the series options and preprocess it while reading (``--bin`` at load).

    :func:`napari_irdm.align.preprocess.read_preprocessed`; returns ``(TiltSeries, excluded)``.
    """
    from napari_irdm._cli._common import series_kwargs
    from napari_irdm.align.preprocess import read_preprocessed

    kw = series_kwargs(args)
    if getattr(args, "rotation", None) is None:  # not given: SerialEM's own tilt-axis angle, if it wrote one
        kw["rotation_deg"] = mdoc_rotation(path, getattr(args, "angles", None))
        args.rotation = kw["rotation_deg"]  # resolved: what was undone on read
    return read_preprocessed(path, **_preprocess_kwargs(args), **kw)


def mdoc_rotation(path, angles_file=None) -> float:
    """The ``Tilt axis angle`` of the series' SerialEM ``.mdoc`` (0 without one), announced on stderr."""
    import sys

    from napari_irdm.io.angles import mdoc_axis_angle

    found = mdoc_axis_angle(path, angles_file)
    if found is None or found[0] == 0.0:
        return 0.0
    angle, mdoc = found
    if abs(angle) > 360.0:
        raise ValueError(f"{mdoc}: tilt axis angle {angle:g} is not within ±360 degrees: fix the .mdoc or pass --rotation")
    print(f"napari-irdm: tilt axis at {angle:g}° in the images ({mdoc.name}): undone on read; "
          "--rotation 0 keeps the images as they are", file=sys.stderr)
    return float(angle)


def preprocessed_shape(args: argparse.Namespace, shape, tilt_axis: str = "y") -> tuple[int, int, int]:
    """The shape (in the file's frame) the series will have after :func:`preprocess_series`."""
    n, a, c = (int(v) for v in shape)
    ny, nx = (c, a) if tilt_axis == "x" else (a, c)
    n -= len(parse_exclude(getattr(args, "exclude", None), n))
    if getattr(args, "crop", None):
        from napari_irdm.align.preprocess import parse_crop

        y0, y1, x0, x1 = parse_crop(args.crop, ny, nx)
        ny, nx = y1 - y0, x1 - x0
    b = _bin_factor(args)
    ny, nx = ny // b, nx // b
    return (n, nx, ny) if tilt_axis == "x" else (n, ny, nx)


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
    try:
        levels = tuple(int(v) for v in str(args.levels).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--levels {args.levels!r}: give binning factors such as 4,2,1") from None
    if args.iterations < 0:
        raise ValueError(f"--iterations must be >= 0, got {args.iterations}")
    ts, excluded = read_series(args, path)
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
        if src.suffix.lower() == ".aln":  # AreTomo's own frame: the images as read, scaled by the bin
            t = t.transposed() if ts.tilt_axis == "x" else t
            t = t.scaled(factor=1.0 / args.bin) if args.bin > 1 else t
        else:  # an .xf of the file (file_frame): back to the rotated, cropped, binned images
            t = preprocessed_frame(t, float(getattr(args, "rotation", 0.0) or 0.0), tilt_axis=ts.tilt_axis,
                                   read_shape=_read_shape(args), crop=getattr(args, "crop", None),
                                   bin_factor=_bin_factor(args))
        data = apply_transforms(ts.data, t, device=device)
        angles = t.tilt_angles_deg if np.all(np.isfinite(t.tilt_angles_deg)) else ts.tilt_angles_deg
        t = t.replace(tilt_angles_deg=angles, pixel_size_A=ts.pixel_size_A)
        out = ts.replace(data=data, tilt_angles_deg=angles,
                         provenance=ts.provenance + (f"applied transforms from {src.name}",))
        return AlignResult(series=out, transforms=t, report={"method": "apply"}), excluded
    axis_range = float(getattr(args, "axis_range", 3.0))
    if not (np.isfinite(axis_range) and 0.0 <= axis_range <= 90.0):
        raise ValueError(f"--axis-range {axis_range:g}: give 0 to 90 degrees (90 searches every direction)")
    gen = align_iter(ts, method=args.method, levels=levels, iterations=args.iterations,
                     refine_tilt_offset=args.tilt_offset, rotation_range_deg=axis_range, device=device)
    result = drive(gen, f"align ({args.method})", disable=quiet)
    warn_if_axis_elsewhere(result.report, float(getattr(args, "rotation", 0.0) or 0.0))
    warn_if_suspect_images(result, excluded, int(ts.n_tilts) + len(excluded))
    return result, excluded


def warn_if_suspect_images(result, excluded, n_file: int) -> None:
    """One stderr line naming the images (file indices) that re-project far worse than the rest."""
    import sys

    bad = result.report.get("suspect_images") or []
    if not bad:
        return
    kept = np.setdiff1d(np.arange(n_file), np.asarray(sorted(excluded), dtype=int))
    per = np.asarray(result.report["residual_per_image"])
    med = float(np.median(per))
    items = ", ".join(f"{int(kept[i])} ({result.series.tilt_angles_deg[i]:+.0f}°, {per[i] / med:.0f}× the median)"
                      for i in bad)
    leave_out = sorted({int(kept[i]) for i in bad} | {int(i) for i in excluded})
    print(f"napari-irdm: warning: image(s) {items} re-project far worse than their neighbouring tilts after "
          f"alignment (a jump, blank or damaged frame?): check them, or leave them out with --exclude "
          f"{','.join(map(str, leave_out))}", file=sys.stderr)


def warn_if_axis_elsewhere(report: dict, rotation: float) -> None:
    """One stderr line when the scan of every direction found a much better tilt axis than the start."""
    import sys

    if "axis_elsewhere_deg" not in report:
        return
    phi, ratio = report["axis_elsewhere_deg"], report["axis_elsewhere_ratio"]
    print(f"napari-irdm: warning: the tilt axis fits much better {phi:+.0f}° from the start (common-line spread "
          f"{ratio:.0%} of the best near it): if the images are rotated, rerun with --rotation {rotation + phi:.0f} "
          "or --axis-range 90", file=sys.stderr)


def file_frame(result, rotation_deg: float = 0.0, *, read_shape: tuple[int, int] | None = None,
               crop: str | None = None, bin_factor: int = 1):
    """The transforms in the input file's own pixel frame (IMOD ``.xf`` of that file).

    A ``--tilt-axis x`` file is aligned transposed; its ``.xf`` is converted back
    (:meth:`~napari_irdm.align.Transforms.transposed`) so that it maps the file's raw images
    to aligned images in the same (untransposed) frame, as IMOD's ``newstack -xf`` applies it.
    A rotation undone on read (``--rotation`` or the ``.mdoc``'s axis angle) is put in front:
    the file's image ``x`` reaches the aligned frame at ``A R(−φ) x + d``.

    Crop and bin (``crop`` of the ``read_shape`` images as read, then ``bin_factor``) are undone
    too: the ``.xf`` maps the file's full-size images to full-size aligned images in which the
    aligned crop sits where it was cut (``X = b·x + c``, ``c`` the crop centre's offset from the
    image centre), so ``newstack -xf`` of the raw file, cropped and binned the same way, gives the
    aligned series. Shifts are in the file's own pixels.
    """
    from napari_irdm.align import Transforms

    t = result.transforms
    b = int(bin_factor or 1)
    c = _crop_centre(read_shape, crop, b)
    if c is not None:
        m = t.matrices.copy()
        m[:, :, 2] = b * m[:, :, 2] + c[None] - np.einsum("nij,j->ni", m[:, :, :2], c)
        t = t.replace(matrices=m, image_shape=read_shape)
    t = t.transposed() if getattr(result.series, "tilt_axis", "y") == "x" else t
    if rotation_deg:
        read = Transforms.from_parameters(np.zeros((t.n, 2)), float(rotation_deg), t.tilt_angles_deg)
        t = t.replace(matrices=read.compose(t).matrices)
    return t


def preprocessed_frame(t, rotation_deg: float = 0.0, *, tilt_axis: str = "y", read_shape=None, crop=None,
                       bin_factor: int = 1):
    """The inverse of :func:`file_frame`: a file's ``.xf`` for the images as preprocessed (``--apply``)."""
    from napari_irdm.align import Transforms

    if rotation_deg:  # A R x + d with R undone on read: A = (A R) R⁻¹
        undo = Transforms.from_parameters(np.zeros((t.n, 2)), -float(rotation_deg), t.tilt_angles_deg)
        t = t.replace(matrices=undo.compose(t).matrices)
    t = t.transposed() if tilt_axis == "x" else t
    b = int(bin_factor or 1)
    c = _crop_centre(read_shape, crop, b)
    if c is not None:
        m = t.matrices.copy()
        m[:, :, 2] = (m[:, :, 2] - c[None] + np.einsum("nij,j->ni", m[:, :, :2], c)) / b
        t = t.replace(matrices=m)
    elif b > 1:
        t = t.scaled(factor=1.0 / b)
    return t


def _crop_centre(read_shape, crop, b: int) -> np.ndarray | None:
    """``(x, y)`` offset of the kept (cropped, bin-trimmed) region's centre from the image centre."""
    if read_shape is None or not (crop or b > 1):
        return None
    from napari_irdm.align.preprocess import parse_crop

    ny, nx = (int(v) for v in read_shape)
    y0, y1, x0, x1 = parse_crop(crop, ny, nx) if crop else (0, ny, 0, nx)
    ry, rx = (y1 - y0) % b, (x1 - x0) % b  # binning trims the remainder from both edges
    y0, y1, x0, x1 = y0 + ry // 2, y1 - (ry - ry // 2), x0 + rx // 2, x1 - (rx - rx // 2)
    return np.array([(x0 + x1 - nx) / 2.0, (y0 + y1 - ny) / 2.0])


def _read_shape(args: argparse.Namespace) -> tuple[int, int] | None:
    """``(ny, nx)`` of the images as read (after a ``--tilt-axis x`` transpose), before crop and bin."""
    if not (getattr(args, "crop", None) or _bin_factor(args) > 1):
        return None
    from napari_irdm.io._raw import open_raw

    try:
        shape = open_raw(args.tilt, "tilt series").data.shape
    except (ValueError, AttributeError):  # pragma: no cover - the series was read already
        return None
    ny, nx = int(shape[-2]), int(shape[-1])
    return (nx, ny) if getattr(args, "tilt_axis", "y") == "x" else (ny, nx)


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
    write_xf(out.with_suffix(".xf"), file_frame(result, float(getattr(args, "rotation", 0.0) or 0.0),
                                                 read_shape=_read_shape(args), crop=getattr(args, "crop", None),
                                                 bin_factor=_bin_factor(args)))
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
    """``reconstruct --align METHOD`` and the preprocessing options of ``align`` (one shared helper)."""
    parser.add_argument("--align", choices=("xcorr", "com", "pm"), default=None, metavar="METHOD",
                        help="align the raw series first (xcorr, com or pm; see 'napari-irdm align')")
    add_preprocess_options(parser, bin_help="bin the images N x N right after reading (volume binned too)")


def maybe_align(args: argparse.Namespace, ts, *, quiet=None):
    """``ts`` (read by :func:`read_series`) aligned with ``args.align`` (default options of ``align``)."""
    method = getattr(args, "align", None)
    if not method:
        return ts
    from napari_irdm.align import align_iter

    result = drive(align_iter(ts, method=method, device=getattr(args, "device", None)), f"align ({method})",
                   disable=quiet)
    return result.series
