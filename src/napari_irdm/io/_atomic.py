"""Atomic file writing: write a temp file in the target folder, then ``os.replace``.

A failed write (exception, full disk, Ctrl-C, SIGTERM/SIGHUP through the CLI) deletes the
temp file and leaves any existing file at the target path untouched. These helpers are
the one place every writer goes through, so new writers (and new subcommands) get the
same guarantees by using them:

- :func:`atomic_path` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: temp file
  + rename; errors name the target, never the temp file.
- :func:`ensure_free_space`: refuse a large write up front (``DiskFullError``, with the
  numbers) instead of failing half-way (or, through a memory map, dying of SIGBUS).
- :func:`reserve_space`: allocate a file's blocks before it is written through a memory
  map (``posix_fallocate``), so a full disk is an error, not a SIGBUS.
- :func:`check_not_input`: refuse an output that is, or links to, one of the inputs.

Temp names are short (``.<first 32 chars of the name>~<hash>.<pid>@<host>.<random>.tmp<suffix>``),
so a 250-character output name still fits the file-name limit, and carry the writer's
process id and a tag of its machine: a temp file left by a killed run (SIGKILL: nothing can
clean it) is removed by the next run on the same machine that writes the same output, once
its process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "DiskFullError",
    "WriteError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_input",
    "ensure_free_space",
    "format_bytes",
    "reserve_space",
    "same_file",
    "temp_path_for",
]


class WriteError(OSError):
    """Writing an output failed (one-line message naming the target file, not the temp file)."""


class DiskFullError(WriteError):
    """Not enough free space for an output (message: needed and free bytes, and the folder)."""


class OutputIsInputError(ValueError):
    """An output path is (or links to) one of the inputs of the same run."""


def _umask() -> int:
    """The process umask, read without changing it (Linux: /proc; else the mode of a probe file)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    folder = tempfile.gettempdir()
    probe = os.path.join(folder, f".napari-irdm-umask-{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o777)
    try:
        return 0o777 & ~os.stat(probe).st_mode & 0o777
    finally:
        os.close(fd)
        os.unlink(probe)
#: headroom kept free on the target file system on top of what a write needs
_HEADROOM = 16 * 2**20


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; used in every size message."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _host_tag() -> str:
    import socket

    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


_HOST = _host_tag()


def _temp_prefix(path: Path) -> str:
    digest = hashlib.sha1(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f".{path.name[:32]}~{digest}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return True
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temp files of ``path`` left by writers that no longer run (e.g. killed with SIGKILL).

    Returns the removed paths. Temp files of live processes (a concurrent run) are kept.
    """
    path = Path(path)
    folder = _folder(path)
    prefix = _temp_prefix(path)
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix) or ".tmp" not in name:
            continue
        owner = name[len(prefix):].split(".", 1)[0]  # "<pid>@<host>"
        pid_text, _, host = owner.partition("@")
        # only temp files of this machine: a pid on another host (a shared network disk) says nothing here
        if host != _HOST or not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            (folder / name).unlink()
            removed.append(folder / name)
    return removed


def temp_path_for(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """A fresh, unused temp file path in the folder of ``path`` (same file system as the target).

    The file is created (empty) so that the name is reserved; the suffix defaults to the
    suffix of ``path`` so that libraries that choose a format from the extension still work.
    Stale temp files of the same target (left by killed runs) are removed first.
    """
    path = Path(path)
    folder = _folder(path)
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist; create it first")
    suffix = path.suffix if suffix is None else suffix
    suffix = suffix[:16]
    clean_stale_temps(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}@{_HOST}.", suffix=f".tmp{suffix}",
                                    dir=folder)
    except OSError as err:
        raise _as_write_error(err, path) from None
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a normal open() would.
    with contextlib.suppress(OSError):
        os.chmod(name, 0o666 & ~_umask())
    return Path(name)


def _as_write_error(err: OSError, path: Path, tmp: Path | None = None) -> WriteError:
    """The same failure as a one-line :class:`WriteError` about ``path`` (the temp name replaced)."""
    text = err.strerror or str(err) or type(err).__name__
    if tmp is not None:
        text = text.replace(str(tmp), str(path)).replace(tmp.name, path.name)
    short_write = err.errno is None and "requested and" in text and "written" in text  # tifffile's ENOSPC
    if err.errno == errno.ENOSPC or err.errno == getattr(errno, "EDQUOT", -1) or short_write:
        folder = _folder(path)
        free = _free_bytes(folder)
        extra = f" ({format_bytes(free)} free in {folder})" if free is not None else ""
        new: WriteError = DiskFullError(errno.ENOSPC, f"no space left to write {path}{extra}: free some space or "
                                                      "write to another disk")
    elif err.errno == errno.ENAMETOOLONG:
        new = WriteError(err.errno, f"cannot write {path}: file name too long; choose a shorter name")
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        new = WriteError(err.errno, f"cannot write {path}: {text} (choose another output folder)")
    elif err.errno is None:
        new = WriteError(f"cannot write {path}: {text}")
    else:
        new = WriteError(err.errno, f"cannot write {path}: {text}")
    return new


def _free_bytes(folder: Path) -> int | None:
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError:
        return None


def ensure_free_space(path: str | os.PathLike, nbytes: int, *, what: str = "the output") -> None:
    """Raise :class:`DiskFullError` when the file system of ``path`` lacks ``nbytes`` (+10 %, ≤ 16 MiB).

    Parameters
    ----------
    path
        The target file (its folder is checked; an existing file at ``path`` is kept until
        the final rename, so its space does not count as free).
    nbytes
        Bytes the write needs.
    what
        Named in the message (e.g. ``"the 512x512x512 float32 volume"``).
    """
    path = Path(path)
    folder = _folder(path)
    free = _free_bytes(folder)
    if free is None:
        return
    need = int(nbytes) + min(_HEADROOM, int(nbytes) // 10 + 2**16)
    if need > free:
        raise DiskFullError(
            errno.ENOSPC,
            f"not enough free space for {what} ({path}): needs {format_bytes(nbytes)}, "
            f"{format_bytes(free)} free in {folder}: free some space, write elsewhere, or make it smaller "
            "(bin or crop it, or reconstruct fewer slices)",
        )


def reserve_space(fd: int, nbytes: int, path: str | os.PathLike, *, what: str = "the output") -> None:
    """Allocate ``nbytes`` of blocks for an open file, so writes through a memory map cannot hit SIGBUS.

    Raises :class:`DiskFullError` when the space is not there. File systems without
    ``fallocate`` (some network mounts) fall back to :func:`ensure_free_space` only.
    """
    if nbytes <= 0 or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, int(nbytes))
    except OSError as err:
        if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            folder = _folder(Path(path))
            free = _free_bytes(folder)
            free_txt = f", {format_bytes(free)} free in {folder}" if free is not None else ""
            raise DiskFullError(
                errno.ENOSPC,
                f"not enough free space for {what} ({path}): needs {format_bytes(nbytes)}{free_txt}: "
                "free some space, write elsewhere, or make it smaller (bin or crop it, or reconstruct fewer slices)",
            ) from None
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", -1)):
            return
        raise


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file (after symlinks; hard links too). Never raises."""
    try:
        pa, pb = Path(a), Path(b)
        if os.path.realpath(pa) == os.path.realpath(pb):
            return True
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except (OSError, ValueError, TypeError):
        return False
    return False


def check_not_input(output: str | os.PathLike, inputs: Iterable, *, option: str = "output") -> None:
    """Raise :class:`OutputIsInputError` when ``output`` is, or links to, one of ``inputs``.

    ``None`` entries in ``inputs`` are skipped. Used by every subcommand before it reads.
    """
    for inp in inputs:
        if inp is None:
            continue
        if same_file(output, inp):
            raise OutputIsInputError(
                f"{option} {output} is the input file {inp}: writing it would destroy the input; "
                "choose another output name"
            )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Context manager yielding a temp path to write; renamed to ``path`` on clean exit.

    On an exception the temp file is removed and ``path`` is left as it was. ``OSError``
    raised inside (full disk, permissions...) comes out as a :class:`WriteError` that names
    ``path``, not the temp file.

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
        _before_replace(tmp, path)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise _as_write_error(err, path, tmp) from None
        if isinstance(err, ValueError) and str(tmp) in str(err):
            raise WriteError(f"cannot write {path}: {str(err).replace(str(tmp), str(path))}") from None
        raise


def _before_replace(tmp: Path, path: Path) -> None:
    """Hook run just before the rename (tests inject write failures here)."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, then rename).

    Creates the parent folder; the file gets the mode a plain ``open()`` would give.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _as_write_error(err, path) from None
    if len(data) > 64 * 2**20:
        ensure_free_space(path, len(data))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text (mode per umask, like ``open()``)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
