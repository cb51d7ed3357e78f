"""Atomic file writing: write a temp file in the target folder, then ``os.replace``.

A failed write (exception, full disk, Ctrl-C) deletes the temp file and leaves any
existing file at the target path untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "temp_path_for"]


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def temp_path_for(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """A fresh, unused temp file path in the folder of ``path`` (same file system as the target).

    The file is created (empty) so that the name is reserved; the suffix defaults to the
    suffix of ``path`` so that libraries that choose a format from the extension still work.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist; create it first")
    suffix = path.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a normal open() would.
    with contextlib.suppress(OSError):
        os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Context manager yielding a temp path to write; renamed to ``path`` on clean exit.

    On an exception the temp file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("vol.mrc") as tmp:  # doctest: +SKIP
    ...     write_somehow(tmp)
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")
    tmp = temp_path_for(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename).

    Creates the parent folder; the file gets the mode a plain ``open()`` would give.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path
