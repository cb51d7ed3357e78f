"""``napari-irdm`` command line: one subcommand per job (DESIGN rule 15).

Each subcommand lives in ``napari_irdm._cli.<name>`` and provides
``add_parser(subparsers)`` and ``run(args) -> int``. This module never imports Qt.
Bad input ends with exit code 2 and a one-line message on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]

#: subcommands, in --help order; each is a module under napari_irdm._cli
SUBCOMMANDS = ("info", "align", "reconstruct", "simulate", "spectrum", "train", "evaluate", "demo")


class UsageError(ValueError):
    """Raised by subcommands for bad arguments (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) so every bad input reads the same."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("napari-irdm: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, MemoryError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if isinstance(err, MemoryError):
            msg = f"out of memory ({msg}): use --device cpu, a smaller --thickness, or bin the data"
        print(f"napari-irdm: error: {msg}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        text = str(err)
        if "out of memory" in text.lower():
            print(f"napari-irdm: error: out of memory on the device: use --device cpu or a smaller batch ({text.splitlines()[0]})", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
