"""``napari-irdm info FILE``: what a tilt-series / volume file holds, without loading it all."""

from __future__ import annotations

import argparse
import json

from napari_irdm._cli._common import add_series_options, series_kwargs

__all__ = ["add_parser", "format_info", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="summarise a tilt series or volume file (shape, pixel size, angles, tilt axis)",
        description="Print what an MRC or TIFF file is (tilt series or volume), its shape, dtype, pixel "
        "size (Å), tilt angles (count, range, step, source), tilt axis, data range and its full provenance.",
    )
    parser.add_argument("file", metavar="FILE", help="MRC (.mrc .st .ali .mrcs .preali .rec .map) or TIFF file")
    add_series_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="data range from a subsample instead of a full pass (big files)")
    parser.add_argument("--list-angles", action="store_true", help="also print every tilt angle")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import warnings

    from napari_irdm.io import inspect_file

    kwargs = series_kwargs(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inspect_file returns them in info["warnings"]
        info = inspect_file(args.file, quick=getattr(args, "quick", False), **kwargs)
    if info.get("content") != "volume":
        from napari_irdm.io.angles import mdoc_axis_angle

        found = mdoc_axis_angle(args.file, getattr(args, "angles", None))
        if found is not None:
            info["mdoc_tilt_axis_angle_deg"] = found[0]
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2))
    else:
        print(format_info(info, list_angles=getattr(args, "list_angles", False)))
    return 0


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def format_info(info: dict, *, list_angles: bool = False) -> str:
    """Readable multi-line summary of :func:`napari_irdm.io.inspect_file`'s result."""
    n, ny, nx = info["shape"]
    content = info.get("content")
    lines = [f"file:         {info['path']} ({info['kind']})"]
    if content is not None:
        lines.append(f"content:      {content} ({info.get('content_source')})")
    else:
        lines.append(f"content:      unknown: tilt series or volume ({info.get('content_source')})")
    if content == "volume":
        shape = f"{n} x {ny} x {nx} voxels (nz, ny, nx)"
    else:
        shape = f"{n} images x {ny} x {nx} (n_tilts, ny, nx)"
    if tuple(info["file_shape"]) != tuple(info["shape"]):
        shape += f"; in the file {'x'.join(map(str, info['file_shape']))}"
    lines.append(f"shape:        {shape}")
    lines.append(f"dtype:        {info['dtype']}")
    px = info["pixel_size_A"]
    if px is None:
        lines.append("pixel size:   unknown (give --pixel-size A)")
    else:
        lines.append(f"pixel size:   {_fmt(px)} Å ({info['pixel_size_source']}); field of view {_fmt(px * nx / 10)} nm")
    series = info.get("series_tilt_angles_deg")
    if info["tilt_angles_deg"] is None and series:
        lo, hi = min(series), max(series)
        lines.append(f"tilt angles:  of the series it was reconstructed from: {len(series)}, {_fmt(lo)}° to "
                     f"{_fmt(hi)}° (missing wedge {_fmt(max(0.0, 180.0 - (hi - lo)))}°)")
        if list_angles:
            lines.append("  angles:     " + " ".join(_fmt(a) for a in series))
    elif info["tilt_angles_deg"] is None and content == "volume":
        lines.append("tilt angles:  none stored (a volume)")
    elif info["tilt_angles_deg"] is None:
        lines.append("tilt angles:  none found (give --angles FILE or --tilt-range A B --tilt-step S)")
    else:
        lo, hi = info["tilt_range_deg"]
        step = info["tilt_step_deg"]
        lines.append(f"tilt angles:  {info['n_angles']}, {_fmt(lo)}° to {_fmt(hi)}°"
                     + (f", step {_fmt(step)}°" if step is not None else ""))
        lines.append(f"  source:     {info['angle_source']}")
        lines.append(f"  missing wedge: {_fmt(info['missing_wedge_deg'])}°")
        if list_angles:
            lines.append("  angles:     " + " ".join(_fmt(a) for a in info["tilt_angles_deg"]))
    axis = info["tilt_axis"]
    axis_text = "y (image rows; no change)" if axis == "y" else "x in the file (images transposed so it runs along y)"
    if info.get("rotation_deg"):
        axis_text += f", rotated by {_fmt(info['rotation_deg'])}° (undone on read)"
    if info.get("mdoc_tilt_axis_angle_deg") is not None and not info.get("rotation_deg"):
        axis_text += (f"; the .mdoc says the axis is at {_fmt(info['mdoc_tilt_axis_angle_deg'])}° in the images "
                      "(align and reconstruct undo it unless --rotation is given)")
    if content != "volume":
        lines.append(f"tilt axis:    {axis_text}")
    lines.append(f"data range:   {_fmt(info['data_min'])} to {_fmt(info['data_max'])}, mean {_fmt(info['data_mean'])}"
                 f" (file units, {info.get('data_stats', 'exact')})")
    if info.get("offset") is not None:
        lines.append(f"offset:       {_fmt(info['offset'])} (integer data with a negative detector offset; "
                     "subtracted on reading)")
    provenance = info.get("provenance") or []
    labels = info.get("labels", [])
    if provenance and provenance != labels:  # the full history (MRC labels are cut at 80 characters)
        for line in provenance:
            lines.append(f"provenance:   {line}")
    else:
        for label in labels[:10]:
            lines.append(f"label:        {label}")
    for warning in info.get("warnings", []):
        lines.append(f"warning:      {warning}")
    return "\n".join(lines)
