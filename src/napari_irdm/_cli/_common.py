"""Helpers shared by every ``napari-irdm`` subcommand.

- :func:`add_series_options` adds the tilt-series options (angles, axis, pixel size).
- :func:`series_from_args` reads a tilt series with those options.
- :func:`drive` runs a :class:`~napari_irdm.progress.Progress` generator with a tqdm bar.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["add_series_options", "series_from_args", "series_kwargs", "drive"]


def add_series_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--angles``, ``--tilt-range``, ``--tilt-step``, ``--tilt-axis``, ``--rotation``,
    ``--pixel-size`` to ``parser``.

    Returns the parser (so calls can be chained).
    """
    group = parser.add_argument_group("tilt series")
    group.add_argument(
        "--angles",
        metavar="FILE",
        default=None,
        help="tilt angles file (.rawtlt/.tlt/.txt/.csv one per line, or SerialEM .mdoc); "
        "default: sidecar .rawtlt/.tlt/.mdoc, then the FEI extended header",
    )
    group.add_argument(
        "--tilt-range",
        nargs=2,
        type=float,
        metavar=("START", "STOP"),
        default=None,
        help="tilt angles from START to STOP degrees inclusive (needs --tilt-step)",
    )
    group.add_argument("--tilt-step", type=float, metavar="DEG", default=None, help="tilt step in degrees")
    group.add_argument(
        "--tilt-axis",
        choices=("y", "x"),
        default="y",
        help="image axis the tilt axis runs along in the file (x: images are transposed); default y",
    )
    group.add_argument(
        "--rotation",
        type=float,
        metavar="DEG",
        default=0.0,
        help="in-plane rotation of the tilt axis from the image axis in degrees (undone on read); default 0",
    )
    group.add_argument(
        "--pixel-size",
        type=float,
        metavar="A",
        default=None,
        help="pixel size in Ångström (overrides the file header)",
    )
    return parser


def series_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`napari_irdm.io.read_tilt_series` from parsed options."""
    tilt_range = getattr(args, "tilt_range", None)
    tilt_step = getattr(args, "tilt_step", None)
    if (tilt_range is None) != (tilt_step is None):
        raise ValueError("--tilt-range and --tilt-step go together: give both (e.g. --tilt-range -70 70 --tilt-step 2)")
    return {
        "tilt_range": tuple(tilt_range) if tilt_range is not None else None,
        "tilt_step": tilt_step,
        "angles_file": getattr(args, "angles", None),
        "tilt_axis": getattr(args, "tilt_axis", "y") or "y",
        "rotation_deg": float(getattr(args, "rotation", 0.0) or 0.0),
        "pixel_size_A": getattr(args, "pixel_size", None),
    }


def series_from_args(args: argparse.Namespace, path):
    """Read the tilt series at ``path`` with the options added by :func:`add_series_options`.

    Returns
    -------
    TiltSeries
    """
    from napari_irdm.io import read_tilt_series

    return read_tilt_series(path, **series_kwargs(args))


def drive(gen: Generator[Any, Any, T], desc: str = "", *, disable: bool | None = None) -> T:
    """Run a Progress generator to completion with a tqdm bar on stderr; return its result.

    Parameters
    ----------
    gen
        Generator yielding :class:`~napari_irdm.progress.Progress` and returning a value.
    desc
        Label shown before the bar.
    disable
        ``True`` hides the bar; ``None`` (default) lets tqdm decide (hidden when stderr is
        not a terminal).

    Notes
    -----
    If the generator raises, or the user presses Ctrl-C, the generator is closed before
    the exception propagates, so its ``finally`` blocks (e.g. deleting a temp file) run.
    """
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, disable=disable, leave=True, dynamic_ncols=True)
    finished = False
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                finished = True
                return stop.value
            total = getattr(event, "total", None)
            step = getattr(event, "step", None)
            if total is not None and total > 0 and bar.total != total:
                bar.total = total
                bar.refresh()
            if step is not None:
                bar.n = min(step, bar.total) if bar.total else step
            message = getattr(event, "message", "")
            if message:
                bar.set_postfix_str(str(message)[:60], refresh=False)
            bar.refresh()
    finally:
        bar.close()
        if not finished:  # error or Ctrl-C: let the generator clean up (temp files...) now
            gen.close()
