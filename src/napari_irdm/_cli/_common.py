"""Helpers shared by every ``napari-irdm`` subcommand.

- :func:`add_series_options` adds the tilt-series options (angles, axis, pixel size).
- :func:`series_from_args` reads a tilt series with those options.
- :func:`drive` runs a :class:`~napari_irdm.progress.Progress` generator with a tqdm bar
  on a terminal, and with one plain progress line every ~5 s / 10 % otherwise (logs, pipes).
- :func:`error_line` turns any exception into ``(exit code, one stderr line)``: the one
  error translator every subcommand goes through (``cli.main`` calls it).
- :func:`check_output_file` / :func:`check_output_dir`: refuse an output that is an input
  (or links to one), a folder where a file is wanted (and the reverse), a missing or
  read-only parent folder, or a name too long for the file system.
- :func:`shipped_model_names`: the shipped IRDM model names, without importing torch.
- :func:`positive` / :func:`finite`: argparse ``type=`` helpers that refuse NaN, Inf, ≤ 0.

New subcommands should use these rather than their own checks, so that every bad input
reads the same (exit 2, ``napari-irdm: error: ...``).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "add_series_options",
    "check_output_dir",
    "check_output_file",
    "drive",
    "error_line",
    "finite",
    "positive",
    "series_from_args",
    "series_kwargs",
    "shipped_model_names",
]

PROG = "napari-irdm"


# --------------------------------------------------------------------------- argparse types


def finite(text: str) -> float:
    """argparse type: a finite float (NaN and Inf refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def positive(text: str) -> float:
    """argparse type: a finite float > 0."""
    v = finite(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return v


def nonnegative(text: str) -> float:
    """argparse type: a finite float >= 0."""
    v = finite(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def check_numbers(args: argparse.Namespace, *, positive: Iterable[str] = (), nonnegative: Iterable[str] = (),
                  finite: Iterable[str] = ()) -> None:
    """Refuse NaN / Inf (and values <= 0 or < 0) in the named float options (``None`` skipped).

    Names are ``args`` attributes (``"pixel_size"`` is reported as ``--pixel-size``); list
    options are checked element by element. Raises a one-line ``ValueError``.
    """
    def values(name):
        v = getattr(args, name, None)
        return [] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v])

    for kind, names in (("a positive number", positive), ("a number >= 0", nonnegative), ("a finite number", finite)):
        for name in names:
            for v in values(name):
                ok = math.isfinite(v) and (v > 0 if kind == "a positive number" else v >= 0 if
                                           kind == "a number >= 0" else True)
                if not ok:
                    opt = {"a_A": "--a", "c_A": "--c"}.get(name, "--" + name.replace("_", "-"))
                    words = "lattice constant" if name in ("a_A", "c_A") else name.replace("_", " ")
                    raise ValueError(f"{opt}: the {words} must be {kind}, got {v:g}")


# --------------------------------------------------------------------------- shipped models


def shipped_model_names() -> list[str]:
    """Names of the models shipped in ``napari_irdm/dl/weights`` (no torch import: for --help)."""
    folder = Path(__file__).resolve().parent.parent / "dl" / "weights"
    try:
        return sorted(p.stem for p in folder.glob("*.pt") if p.with_suffix(".json").is_file())
    except OSError:  # pragma: no cover
        return []


def model_help(extra: str = "") -> str:
    """Help text of a ``--model`` option, listing the shipped names."""
    names = ", ".join(shipped_model_names()) or "none"
    return f"IRDM model: a shipped name ({names}), 'auto' (by the tilt range) or a .pt file{extra}"


# --------------------------------------------------------------------------- outputs


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_output_file(out, *, inputs: Iterable = (), option: str = "-o/--output",
                      suffixes: tuple[str, ...] | None = None) -> Path:
    """Validate an output file path before any work; return it as a Path.

    Refuses: an output that is (or links to) one of ``inputs``; an existing folder; a
    missing or read-only parent folder; a name longer than the file system allows; a
    suffix not in ``suffixes`` (when given).
    """
    from napari_irdm.io import check_not_input

    if not str(out).strip():
        raise ValueError(f"{option} is empty: give a file name")
    out = Path(out)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise ValueError(f"{option} {out} has an unknown suffix {out.suffix.lower() or '(none)'!r}: "
                         f"use {', '.join(suffixes)}")
    parent = out.parent if str(out.parent) else Path(".")
    if len(os.fsencode(out.name)) > _name_max(parent if parent.is_dir() else Path(".")):
        raise ValueError(f"{option} name is {len(os.fsencode(out.name))} bytes long, more than the "
                         f"{_name_max(parent if parent.is_dir() else Path('.'))} this file system allows: "
                         "choose a shorter name")
    if out.is_dir():
        raise ValueError(f"{option} {out} is a folder: give a file name such as {out / ('out' + (suffixes or ('',))[0])}")
    if not parent.is_dir():
        raise ValueError(f"{option}: folder {parent} does not exist: create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: folder {parent} is not writable: choose another location")
    check_not_input(out, inputs, option=option)
    return out


def input_files(tilt, *, angles=None, model=None, more: Iterable = ()) -> list:
    """Every file a run reads from a tilt series ``tilt``: the series, its angle sidecars, an
    ``--angles`` file, a model ``.pt`` file (and its card) and ``more`` -- an output must be none."""
    tilt = Path(tilt)
    stem = tilt.with_suffix("")
    sidecars = [stem.with_name(stem.name + s) for s in (".rawtlt", ".tlt", ".mdoc")]
    sidecars.append(tilt.with_name(tilt.name + ".mdoc"))
    model = Path(model) if model is not None and Path(model).suffix else None
    return [tilt, angles, *[p for p in sidecars if p.exists()], model,
            model.with_suffix(".json") if model is not None else None, *more]


def check_output_dir(out, *, inputs: Iterable = (), option: str = "--out", contents: Iterable[str] = ()) -> Path:
    """Validate an output folder (created later by the job): not an existing file, parent
    writable, and none of the files it will hold (``contents``) is an input."""
    from napari_irdm.io import check_not_input

    if not str(out).strip():
        raise ValueError(f"{option} is empty: give a folder name")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{option} {out} is an existing file, not a folder: give a folder name (it is created)")
    inputs = [i for i in inputs if i is not None]
    for inp in inputs:
        try:
            if Path(inp).exists() and Path(inp).is_dir() and os.path.realpath(inp) == os.path.realpath(out):
                raise ValueError(f"{option} {out} is the input folder {inp}: choose another output folder")
        except OSError:
            pass
    for name in contents:
        check_not_input(out / name, inputs, option=f"{option} {out}: {name}")
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ValueError(f"{option} {out}: {probe} is a file, not a folder: choose another location")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {out}: folder {probe} is not writable: choose another location")
    return out


# --------------------------------------------------------------------------- errors


#: how the command line spells the core's parameter names (napari_irdm.errors.ParameterError)
CLI_NAMES = {
    "angles_file": "--angles FILE",
    "tilt_angles_deg": "--angles FILE",
    "tilt_range": "--tilt-range A B",
    "tilt_step": "--tilt-step S",
    "pixel_size_A": "--pixel-size",
    "device": "--device",
    "thickness": "--thickness",
    "batch_size": "--batch-size",
    "box": "--box",
    "size_nm": "--size-nm",
    "model": "--model",
    # simulate / spectrum (crystallography, simulate, analysis)
    "a_A": "--a",
    "c_A": "--c",
    "d_min_A": "--d-min",
    "sigma_A": "--sigma",
    "dose_e_per_A2": "--dose",
    "angle_jitter_deg": "--jitter",
    "shift_px": "--shift",
    "size_px": "--box",
    "vacancy_fraction": "--vacancies",
    "directory": "-o DIR",
    # reconstruction method parameters (napari_irdm.methods)
    "method": "--method",
    "filter_name": "--filter",
    "iterations": "--iterations",
    "relaxation": "--relaxation",
    "nonnegative": "--nonnegative",
    "stop": "--stop",
    "tv_weight": "--tv-weight",
    "data_consistency": "--data-consistency",
    "consistency": "--data-consistency",
    "consistency_iterations": "--consistency-iterations",
    "tta": "--tta",
    "scheduler": "--scheduler",
    # preprocessing (align and reconstruct)
    "exclude": "--exclude",
    "crop": "--crop",
    "bin": "--bin",
    "slab": "--slab",
}


def _first_line(err: BaseException) -> str:
    from napari_irdm.errors import in_terms_of

    text = in_terms_of(err, CLI_NAMES).strip()
    if isinstance(err, KeyError) and text.startswith("'"):
        text = text.strip("'")
    return text.splitlines()[0].strip() if text else type(err).__name__


def error_line(err: BaseException) -> tuple[int, str]:
    """``(exit code, one stderr line)`` for an exception that ended a subcommand.

    - ``KeyboardInterrupt`` / SIGTERM / SIGHUP (:class:`napari_irdm._signals.Terminated`):
      130 / 143 / 129, ``interrupted`` / ``terminated by SIGTERM``.
    - ``MemoryError`` (ours carry the numbers; others get a generic hint), ``OSError`` with
      ``ENOMEM``, torch's "out of memory" ``RuntimeError``: 2.
    - ``ValueError`` (argument and file checks), ``OSError`` (missing / unreadable files, a
      full disk, permissions), ``EOFError``: 2.
    - Anything else is a bug: 1, ``internal error`` with a hint to report it
      (``NAPARI_IRDM_TRACEBACK=1`` shows the traceback).
    """
    from napari_irdm._signals import Terminated, exit_code_for

    if isinstance(err, KeyboardInterrupt):
        code = exit_code_for(err)
        return code, f"{PROG}: {'terminated by ' + _signame(err.signum) if isinstance(err, Terminated) else 'interrupted'}"
    msg = _first_line(err)
    if isinstance(err, MemoryError):
        from napari_irdm.resources import ResourceError

        if not isinstance(err, ResourceError):
            detail = f" ({msg})" if msg != "MemoryError" else ""
            msg = (f"out of memory{detail}: bin or crop the input, or ask for less (--thickness, --batch-size, "
                   "--size); NAPARI_IRDM_MEMORY_LIMIT_MB makes chunks smaller")
        return 2, f"{PROG}: error: {msg}"
    if isinstance(err, OSError) and err.errno == errno.ENOMEM:
        return 2, (f"{PROG}: error: out of memory ({err.strerror or msg}): bin or crop the input, or ask for less "
                   "(--thickness, --batch-size, --size)")
    if isinstance(err, RuntimeError) and ("out of memory" in msg.lower() or "can't allocate memory" in msg.lower()):
        if "cuda" in msg.lower() or "hip" in msg.lower() or "mps" in msg.lower():
            return 2, (f"{PROG}: error: out of memory on the GPU ({msg[:120]}): a smaller --batch-size or "
                       "--thickness, or --device cpu when the GPU is too small")
        return 2, (f"{PROG}: error: out of memory ({msg[-120:]}): bin or crop the input, or ask for less "
                   "(--thickness, --batch-size, --size, --width, --oversample)")
    if isinstance(err, OSError):
        if err.filename is not None and err.strerror and str(err.filename) not in msg:
            msg = f"{err.filename}: {err.strerror}"
        elif err.strerror and msg.startswith("[Errno"):
            msg = f"{err.strerror}" + (f": {err.filename}" if err.filename else "")
        return 2, f"{PROG}: error: {msg}"
    if isinstance(err, (ValueError, EOFError)):
        return 2, f"{PROG}: error: {msg}"
    return 1, (f"{PROG}: internal error: {type(err).__name__}: {msg[:200]} (please report it; "
               "NAPARI_IRDM_TRACEBACK=1 shows the traceback)")


def _signame(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


_SEEN_WARNINGS: set[str] = set()


def format_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` replacement: one ``napari-irdm: warning: ...`` line on stderr."""
    text = " ".join(str(message).split())
    if text in _SEEN_WARNINGS:  # once per run (the "once" filter forgets whenever filters change)
        return
    _SEEN_WARNINGS.add(text)
    stream = sys.stderr if file is None else file
    try:
        stream.write(f"{PROG}: warning: {text}\n")
    except (OSError, ValueError):  # pragma: no cover - stderr gone
        pass


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
        default=None,
        help="in-plane rotation of the tilt axis from the image axis in degrees, within ±360 (undone on read); "
        "default 0 (align: the 'Tilt axis angle' of a SerialEM .mdoc when there is one)",
    )
    group.add_argument(
        "--pixel-size",
        type=float,
        metavar="A",
        default=None,
        help="pixel size in Ångström, 0.001 to 100000 (overrides the file header)",
    )
    return parser


#: |--rotation| limit: beyond a full turn a value is a typo (the angle is used modulo nothing)
MAX_ROTATION_DEG = 360.0
#: plausible pixel sizes in Ångström (0.001 Å is far below any microscope; 1e5 Å = 10 µm)
PIXEL_SIZE_RANGE_A = (1e-3, 1e5)


def series_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`napari_irdm.io.read_tilt_series` from parsed options."""
    tilt_range = getattr(args, "tilt_range", None)
    tilt_step = getattr(args, "tilt_step", None)
    if (tilt_range is None) != (tilt_step is None):
        raise ValueError("--tilt-range and --tilt-step go together: give both (e.g. --tilt-range -70 70 --tilt-step 2)")
    if tilt_range is not None and getattr(args, "angles", None) is not None:
        raise ValueError("two sources of tilt angles: give either --angles or --tilt-range/--tilt-step, not both")
    check_numbers(args, positive=("tilt_step",), finite=("tilt_range", "rotation", "pixel_size"))
    rotation = getattr(args, "rotation", None)
    if rotation is not None and abs(rotation) > MAX_ROTATION_DEG:
        raise ValueError(f"--rotation {rotation:g}: the in-plane rotation must be within ±{MAX_ROTATION_DEG:g}° "
                         "(a full turn; reduce it modulo 360)")
    pixel = getattr(args, "pixel_size", None)
    if pixel is not None and not PIXEL_SIZE_RANGE_A[0] <= pixel <= PIXEL_SIZE_RANGE_A[1]:
        raise ValueError(f"--pixel-size {pixel:g} Å is implausible: give the pixel size in Ångström, between "
                         f"{PIXEL_SIZE_RANGE_A[0]:g} and {PIXEL_SIZE_RANGE_A[1]:g}")
    if os.environ.get("NAPARI_IRDM_MEMORY_LIMIT_MB", "").strip():
        from napari_irdm.device import memory_limit_bytes

        memory_limit_bytes()  # a bad value is refused by every subcommand that reads a series
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


class _LineProgress:
    """Plain one-line progress for logs and pipes: every ``interval`` s or 10 %, and at the end."""

    def __init__(self, desc: str, stream, interval: float = 5.0):
        self.desc = desc or "progress"
        self.stream = stream
        self.interval = float(os.environ.get("NAPARI_IRDM_PROGRESS_INTERVAL_S", interval) or interval)
        self.t0 = time.monotonic()
        self.last_t = self.t0
        self.last_decile = 0
        self.step = 0
        self.total = 0
        self.message = ""
        self._emitted_step: int | None = None

    def update(self, step, total, message) -> None:
        if total:
            self.total = int(total)
        if step is not None:
            self.step = int(step)
        if message:
            self.message = " ".join(str(message).split())[:80]
        now = time.monotonic()
        decile = int(10 * self.step / self.total) if self.total else 0
        due = now - self.last_t >= self.interval
        if due or (self.total and decile > self.last_decile and now - self.last_t >= min(1.0, self.interval)):
            self.emit(now)
            self.last_decile = decile

    def emit(self, now=None) -> None:
        now = time.monotonic() if now is None else now
        self.last_t = now
        self._emitted_step = self.step
        elapsed = now - self.t0
        if self.total:
            frac = min(1.0, self.step / self.total)
            eta = f", ~{elapsed * (1 - frac) / frac:.0f} s left" if 0 < frac < 1 else ""
            head = f"{self.desc}: {100 * frac:3.0f}% ({self.step}/{self.total}) {elapsed:.0f} s{eta}"
        else:
            head = f"{self.desc}: step {self.step}, {elapsed:.0f} s"
        tail = f" | {self.message}" if self.message else ""
        try:
            self.stream.write(f"{PROG}: {head}{tail}\n")
            self.stream.flush()
        except (OSError, ValueError):  # pragma: no cover - the log went away
            pass

    def close(self, finished: bool) -> None:
        if finished and time.monotonic() - self.t0 >= min(2.0, self.interval) and self.step != getattr(self, "_emitted_step", None):
            self.emit()


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def drive(gen: Generator[Any, Any, T], desc: str = "", *, disable: bool | None = None) -> T:
    """Run a Progress generator to completion with a tqdm bar on stderr; return its result.

    When stderr is not a terminal (a log file, a pipe) and ``disable`` is ``None``, a plain
    line ``napari-irdm: DESC: 40% (20/50) 12 s, ~18 s left | message`` is printed every
    ~5 s (``NAPARI_IRDM_PROGRESS_INTERVAL_S``) and at each 10 %, instead of the bar.

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
    if disable is None and not _is_tty(sys.stderr):
        return _drive_lines(gen, desc)
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, file=sys.stderr, disable=disable, leave=True, dynamic_ncols=True)

    def show(event) -> None:
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

    return _pump(gen, show, lambda finished: bar.close())


def _pump(gen: Generator[Any, Any, T], on_event: Callable[[Any], None], on_end: Callable[[bool], None]) -> T:
    """Run ``gen`` to its return value, ``on_event`` for each event, ``on_end(finished)`` at the end.

    On an error or Ctrl-C the generator is closed at once, so its ``finally`` blocks (temp files...) run.
    """
    finished = False
    try:
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                finished = True
                return stop.value
            on_event(event)
    finally:
        on_end(finished)
        if not finished:
            gen.close()


def _drive_lines(gen: Generator[Any, Any, T], desc: str) -> T:
    lines = _LineProgress(desc, sys.stderr)
    return _pump(gen, lambda e: lines.update(getattr(e, "step", None), getattr(e, "total", None),
                                             getattr(e, "message", "")), lines.close)
