"""``napari-irdm`` command line: one subcommand per job (DESIGN rule 15).

Each subcommand lives in ``napari_irdm._cli.<name>`` and provides
``add_parser(subparsers)`` and ``run(args) -> int``. This module never imports Qt, and
``--help`` imports no torch (the subcommand modules import heavy things inside ``run``).

Every failure ends the same way (see ``napari_irdm._cli._common.error_line``): exit code 2
and one line ``napari-irdm: error: ...`` on stderr, no traceback; Ctrl-C, SIGTERM and
SIGHUP end with 130 / 143 / 129 after the temp files are removed; warnings print as one
``napari-irdm: warning: ...`` line; a closed stdout (``napari-irdm info X | head``) ends
quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main"]

#: subcommands, in --help order; each is a module under napari_irdm._cli
SUBCOMMANDS = ("info", "align", "reconstruct", "batch", "simulate", "spectrum", "validate", "train", "evaluate", "demo")


class UsageError(ValueError):
    """Raised by subcommands for bad arguments (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) so every bad input reads the same."""

    def error(self, message: str):  # noqa: D102 - argparse API
        message = " ".join(str(message).split())
        self.exit(2, f"napari-irdm: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from napari_irdm import __version__

    parser = _Parser(
        prog="napari-irdm",
        description="Electron tomography with deep-learning missing-wedge recovery (IRDM).",
    )
    parser.add_argument("--version", action="version", version=f"napari-irdm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"napari_irdm._cli.{name}").add_parser(sub)
    return parser


def _quiet_broken_pipe() -> int:
    """Stdout was closed by the reader (``| head``): no traceback, no second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # pragma: no cover
        pass
    return 141  # 128 + SIGPIPE, what a program killed by the signal would report


def _reopen_closed_streams() -> None:
    """Point a closed stdout / stderr at the null device.

    A closed stream (``napari-irdm info X >&-``) is ``None`` in Python; writing to the null
    device instead lets the run still succeed (its files are written).
    """
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            try:
                setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 - lives to exit
            except OSError:  # pragma: no cover
                pass


def main(argv: list[str] | None = None) -> int:
    """Run the ``napari-irdm`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for bad input (one stderr line), 1 for an internal error, 128+N
        for signal N.
    """
    import warnings

    _reopen_closed_streams()

    from napari_irdm._cli import _common

    _common._SEEN_WARNINGS.clear()
    format_warning = _common.format_warning
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # each distinct warning once (format_warning dedupes), as one line
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # for developers, not users
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        warnings.showwarning = format_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from napari_irdm._cli._common import error_line
    from napari_irdm._signals import signals_as_exceptions

    with signals_as_exceptions():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)  # usage errors: SystemExit(2) after one line
            if not getattr(args, "command", None):
                print("napari-irdm: error: no command given: choose one of "
                      f"{', '.join(SUBCOMMANDS)} (see 'napari-irdm --help')", file=sys.stderr)
                return 2
            code = int(args.func(args) or 0)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            return _quiet_broken_pipe()
        except SystemExit:
            raise
        except BaseException as err:  # noqa: BLE001 - the one place errors become exit codes
            if os.environ.get("NAPARI_IRDM_TRACEBACK") and not isinstance(err, KeyboardInterrupt):
                raise
            code, line = error_line(err)
            try:
                print(line, file=sys.stderr)
            except (OSError, ValueError):  # pragma: no cover - stderr gone
                pass
            return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
