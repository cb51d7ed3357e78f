"""``napari-irdm spectrum VOL.mrc``: which Bragg reflections a volume resolves, per missing-wedge region."""

from __future__ import annotations

import argparse

from napari_irdm._cli._common import check_numbers, check_output_file

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "spectrum",
        help="Bragg-spot analysis of a volume's power spectrum (measured vs missing-wedge region)",
        description="Measure every expected lattice reflection in the 3-D power spectrum of VOL (SNR against a "
        "local shell), classify it as measured or in the missing wedge from the tilt range, and report "
        "per-family counts, the information limit and an off-lattice false-positive control.",
    )
    parser.add_argument("volume", metavar="VOL", help="volume file (MRC / TIFF)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--truth", metavar="DIR", default=None,
                     help="simulation folder (napari-irdm simulate): lattice and orientation from it")
    src.add_argument("--lattice", default=None, metavar="NAME",
                     help="an element (Au, Pt, Co, Si, ...), a compound (CeO2, TiO2, ZnO, SrTiO3, ...), a CIF file, or "
                     "fcc / bcc / sc / diamond (with --a) / hcp (with --a and --c); without --orientation the "
                     "orientation is fitted to the detected peaks (else spots are indexed by |g| alone)")
    parser.add_argument("--a", dest="a_A", type=float, default=None, metavar="A",
                        help="lattice constant a in Å (for a preset or CIF: rescales the cell, c/a kept)")
    parser.add_argument("--c", dest="c_A", type=float, default=None, metavar="A",
                        help="lattice constant c in Å of a hexagonal or tetragonal cell")
    parser.add_argument("--orientation", default=None,
                        help="known orientation with --lattice: 'zone:[hkl]' or Euler angles 'phi,theta,psi'")
    parser.add_argument("--tilt-range", nargs=2, type=float, default=None, metavar=("START", "STOP"),
                        help="tilt range of the series (degrees)")
    parser.add_argument("--tilt-step", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--angles", metavar="FILE", default=None, help="tilt angles file (.rawtlt/.tlt/.mdoc)")
    parser.add_argument("--pixel-size", type=float, default=None, metavar="A",
                        help="voxel size in Å (overrides the header)")
    parser.add_argument("--snr", type=float, default=3.0, metavar="S",
                        help="detection threshold: a spot counts when its SNR is at least S (default 3)")
    parser.add_argument("--d-min", type=float, default=None, metavar="A",
                        help="finest d-spacing to test in Å (default: Nyquist, 2 × pixel size)")
    parser.add_argument("--controls", type=int, default=2, metavar="N", help="off-lattice controls per reflection")
    parser.add_argument("--json", metavar="OUT", default=None, help="write the full report as JSON")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from napari_irdm.analysis.bragg import bragg_report
    from napari_irdm.io import read_angles, read_volume

    check_numbers(args, positive=("a_A", "c_A", "pixel_size", "snr", "d_min"), finite=("tilt_range",))
    from napari_irdm._cli._common import input_files

    inputs = input_files(args.volume, angles=args.angles)  # with the volume's angle sidecars
    if args.truth is not None:
        from pathlib import Path

        inputs += [Path(args.truth) / n for n in ("atoms.csv", "crystal.json", "truth_volume.mrc", "tilt_series.mrc")]
    if args.json:
        check_output_file(args.json, inputs=inputs, option="--json")
    if args.tilt_range is not None and any(abs(a) > 90 for a in args.tilt_range):
        raise ValueError(f"--tilt-range {args.tilt_range[0]:g} {args.tilt_range[1]:g} goes beyond ±90°: "
                         "give the tilt range of the series in degrees within [-90, 90]")
    if not 0 <= args.controls <= 100:
        raise ValueError(f"--controls must be between 0 and 100, got {args.controls}")
    if args.truth is None and args.lattice is None:
        raise ValueError("no lattice given: pass --truth DIR (a simulation) or --lattice fcc --a 4.078")
    lattice = None
    if args.lattice is not None:
        from napari_irdm.crystallography import get_lattice

        lattice = get_lattice(args.lattice, args.a_A, args.c_A)
    elif args.c_A is not None:
        raise ValueError("--c is the c lattice constant of --lattice: give --lattice too")
    truth = None
    if args.truth is not None:
        from napari_irdm.simulate.store import load_truth

        truth = load_truth(args.truth)
    from napari_irdm.io._raw import open_raw

    kind, how = open_raw(args.volume, "volume").content_kind
    if kind == "tilt series" and how == "napari-irdm metadata":
        raise ValueError(f"{args.volume} is a tilt series ({how}), not a volume: reconstruct it first "
                         f"(napari-irdm reconstruct {args.volume} -o VOLUME.mrc) and analyse the volume")
    vol = read_volume(args.volume)
    pixel = args.pixel_size if args.pixel_size is not None else vol.pixel_size_A
    if pixel is None:
        raise ValueError(f"{args.volume} has no pixel size in its header: pass --pixel-size A (Å)")
    if args.angles:
        from napari_irdm.geometry import check_angles

        angles = check_angles(read_angles(args.angles), what=str(args.volume), source=f"--angles {args.angles}")
    elif args.tilt_range is not None:
        angles = np.asarray(args.tilt_range, dtype=np.float64)
    elif vol.tilt_angles_deg is not None:
        angles = np.asarray(vol.tilt_angles_deg, dtype=np.float64)
    elif truth is not None and truth.volume.tilt_angles_deg is not None:
        angles = truth.volume.tilt_angles_deg
    else:
        raise ValueError(f"no tilt angles for {args.volume}: pass --tilt-range START STOP or --angles FILE")
    report = bragg_report(vol.data, pixel, angles, truth=truth, lattice=lattice,
                          orientation=args.orientation, snr_threshold=args.snr, d_min_A=args.d_min,
                          n_controls=args.controls)
    print(report.table())
    if args.json:
        report.save_json(args.json)
        print(f"report written to {args.json}")
    return 0
