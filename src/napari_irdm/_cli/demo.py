"""``napari-irdm demo``: open napari with the gold-nanocrystal demo (WBP vs IRDM, spectra, Bragg circles).

Qt and napari are imported only when the command runs.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "demo",
        help="open napari with a simulated gold nanocrystal: WBP vs IRDM, spectra and Bragg circles",
        description="Simulate a gold nanocrystal tilt series (±70°), reconstruct it with WBP, restore it with "
        "the shipped IRDM model, and show the comparison with power spectra and Bragg circles in napari.",
    )
    p.add_argument("--screenshot", metavar="OUT.png", default=None,
                   help="build the demo, save a screenshot of the window and exit (needs a display: use xvfb-run -a)")
    from napari_irdm._cli._common import model_help

    p.add_argument("--model", default="general", help=model_help(" (default general)"))
    p.add_argument("--random-model", action="store_true",
                   help="use an untrained random network for the IRDM step (pipeline check only)")
    p.add_argument("--tilt-max", type=float, default=70.0, metavar="DEG", help="tilt range ±DEG (default 70)")
    p.add_argument("--size", type=int, default=None, metavar="N",
                   help="box edge of the simulated sample in pixels (default 96)")
    p.add_argument("--pixel-size", type=float, default=None, metavar="A",
                   help="pixel size of the simulated sample in Å (default 0.25; the particle is 2 nm across)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.screenshot is not None:
        from napari_irdm._cli._common import check_output_file

        check_output_file(args.screenshot, option="--screenshot", suffixes=(".png",))
    if not 5.0 <= args.tilt_max <= 90.0:
        raise ValueError(f"--tilt-max {args.tilt_max:g} must be between 5 and 90 degrees")
    if args.size is not None and not 16 <= args.size <= 512:
        raise ValueError(f"--size {args.size} must be between 16 and 512 pixels")
    if args.pixel_size is not None and not 0.05 <= args.pixel_size <= 5.0:
        raise ValueError(f"--pixel-size {args.pixel_size:g} Å must be between 0.05 and 5")
    from napari_irdm._napari._demo import run_demo

    return run_demo(screenshot=args.screenshot, model=args.model, random_model=args.random_model,
                    tilt_max_deg=args.tilt_max, size_px=args.size, pixel_size_A=args.pixel_size)
