"""Error types of the I/O layer (one-line messages naming the file and the fix)."""

from __future__ import annotations

from pathlib import Path

from napari_irdm.errors import ParameterError

__all__ = ["MissingAnglesError", "MissingFileError", "as_path", "missing_file"]


class MissingFileError(FileNotFoundError, ValueError):
    """A file that does not exist: both a ``FileNotFoundError`` and a ``ValueError``."""


class MissingAnglesError(ParameterError):
    """A tilt series whose file and sidecars hold no tilt angles, and none were given."""

    def __init__(self, message: str):
        super().__init__(message, "angles_file", "tilt_range", "tilt_step")


def as_path(path, what: str = "file") -> Path:
    """``path`` as a :class:`~pathlib.Path`; a one-line ``ValueError`` when it is not a path at all
    (``None``, a number, ...)."""
    import os

    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bytes):
        text = os.fspath(path)
        if isinstance(text, str) and text.strip() and "\0" not in text:
            return Path(text)
    raise ValueError(f"the {what} must be a file path (str or os.PathLike), got {type(path).__name__} {path!r:.40}")


def missing_file(path: Path, what: str = "file") -> MissingFileError:
    return MissingFileError(f"{what} {path} does not exist: check the path")
