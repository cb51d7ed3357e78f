"""Error types of the I/O layer (one-line messages naming the file and the fix)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MissingFileError", "missing_file"]


class MissingFileError(FileNotFoundError, ValueError):
    """A file that does not exist: both a ``FileNotFoundError`` and a ``ValueError``."""


def missing_file(path: Path, what: str = "file") -> MissingFileError:
    return MissingFileError(f"{what} {path} does not exist: check the path")
