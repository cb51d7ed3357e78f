"""``napari-irdm validate VOL --series TILT``: trust report (even/odd FSC, directional FSC, re-projection, wedge energy)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from napari_irdm._cli._common import add_series_options

    p = subparsers.add_parser(
        "validate",
        help="trust report of a reconstruction: even/odd-tilt FSC (½-bit), directional FSC, re-projection, "
        "missing-wedge energy",
        description="Split the tilt series into even and odd tilts, reconstruct each half the way VOL was made "
        "(for IRDM: the network run on each half separately), and report the Fourier shell correlation of the "
        "halves against the 1/2-bit threshold overall and in cones along x, y and z (z = beam, inside the missing "
        "wedge), with resolutions in Å; the re-projection residual of VOL per tilt; and the fraction of VOL's "
        "spectral energy in the missing wedge. One line per measurement on stdout; --json and --plot for more.",
    )
    p.add_argument("volume", metavar="VOL", help="the reconstruction to judge (MRC / TIFF)")
    p.add_argument("--series", required=True, metavar="TILT", help="the tilt series VOL was reconstructed from")
    add_series_options(p)
    p.add_argument("--method", default="auto", choices=("auto", "wbp", "sirt", "tv", "irdm"),
                   help="how VOL was made, so the halves are made the same way (default auto: from VOL's "
                   "provenance, else wbp)")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="IRDM model for --method irdm (default: from the provenance, else general)")
    p.add_argument("--data-consistency", nargs="?", const="fourier", default=None, choices=("tv", "none", "fourier", "iterative"),
                   metavar="tv|none|fourier|iterative",
                   help="data consistency of the irdm halves (default: from the volume's provenance)")
    p.add_argument("--cone", type=float, default=20.0, metavar="DEG",
                   help="half-angle of the directional cones (default 20)")
    p.add_argument("--json", metavar="OUT", default=None, help="write the full report (curves included) as JSON")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write the FSC and residual plot as PNG")
    p.add_argument("--device", default="auto", metavar="DEV", help="auto, cpu or cuda (default auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from napari_irdm._cli._common import check_numbers, check_output_file, drive, input_files, series_from_args
    from napari_irdm.analysis.validate import settings_from_provenance, validate_iter
    from napari_irdm.device import resolve_device
    from napari_irdm.io import atomic_write_bytes, read_volume

    check_numbers(args, finite=("cone",))
    if not 0.0 < args.cone <= 90.0:
        raise ValueError(f"--cone {args.cone:g} must be between 0 and 90 degrees (a cone's half-angle)")
    inputs = input_files(args.series, angles=args.angles, model=args.model, more=(args.volume,))
    if args.json is not None:
        check_output_file(args.json, inputs=inputs, option="--json")
    if args.plot is not None:
        check_output_file(args.plot, inputs=[*inputs, args.json], option="--plot", suffixes=(".png",))
    device = resolve_device(args.device)
    vol = read_volume(args.volume)
    ts = series_from_args(args, args.series)
    made = settings_from_provenance(vol.provenance)
    method = made["method"] if args.method == "auto" else args.method
    model = args.model or made["model"] or "general"
    dc_modes: dict[str | None, bool | str] = {"fourier": True, "iterative": "iterative", "tv": "tv", "none": False,
                                             None: made["data_consistency"]}
    dc = dc_modes[args.data_consistency]
    if vol.data.shape[1:] != ts.data.shape[1:]:
        raise ValueError(f"volume {args.volume} is {vol.data.shape} but the series is {ts.data.shape}: "
                         "give the series the volume was reconstructed from")
    px = vol.pixel_size_A or ts.pixel_size_A
    report = drive(validate_iter(vol.data, ts.data, ts.tilt_angles_deg, method=method, pixel_size_A=px,
                                 cone_half_angle_deg=args.cone, model=model, data_consistency=dc, device=device),
                   "validate", disable=True if args.quiet else None)
    for line in report.summary_lines():
        print(line)
    if args.json:
        atomic_write_bytes(args.json, report.to_json().encode())
        print(f"report written to {args.json}")
    if args.plot:
        report.plot(args.plot)
        print(f"plot written to {args.plot}")
    return 0
