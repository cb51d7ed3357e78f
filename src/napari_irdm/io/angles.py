"""Tilt-angle files: IMOD ``.rawtlt`` / ``.tlt``, SerialEM ``.mdoc``, plain ``.txt`` / ``.csv``.

All angles are in degrees, one per image, in image order. Repeated and unsorted
angles are legal (dose-symmetric schemes); NaN, Inf and ``|angle| > 90°`` are not.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np

from napari_irdm.io._atomic import atomic_path
from napari_irdm.io._errors import as_path, missing_file

__all__ = [
    "ANGLE_SUFFIXES",
    "find_mdoc",
    "find_sidecar_angles",
    "mdoc_axis_angle",
    "read_angles",
    "read_mdoc",
    "read_mdoc_axis_angle",
    "write_angles",
]

#: suffixes :func:`read_angles` understands (anything else is read as one number per line)
ANGLE_SUFFIXES = (".rawtlt", ".tlt", ".mdoc", ".txt", ".csv")

#: an angle file larger than this is not an angle file
_MAX_ANGLE_FILE_BYTES = 16 * 2**20

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def read_angles(path: str | os.PathLike) -> np.ndarray:
    """Read tilt angles (degrees) from a file.

    Parameters
    ----------
    path
        ``.rawtlt`` / ``.tlt`` / ``.txt``: one angle per line (blank lines and ``#`` comments
        skipped; extra columns ignored). ``.csv``: first column, an optional header row.
        ``.mdoc``: SerialEM ``TiltAngle`` of every ``[ZValue = n]`` section, ordered by ``n``.

    Returns
    -------
    ndarray, shape (n_tilts,), float64
        Angles in degrees in file order. Values are not range-checked here; see
        :func:`napari_irdm.geometry.check_angles`.

    Raises
    ------
    ValueError
        Missing, empty or unparsable file (the message names the file and the line).
    """
    path = as_path(path, "tilt angle file")
    _check_readable(path, "tilt angle file")
    if path.suffix.lower() == ".mdoc":
        return read_mdoc(path)
    text = _read_text(path)
    values: list[float] = []
    first_data_line = True
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        token = re.split(r"[,;\s]+", line)[0]
        if not _NUMBER.match(token):
            if first_data_line and path.suffix.lower() == ".csv":  # a header row
                first_data_line = False
                continue
            raise ValueError(
                f"cannot read tilt angle {token!r} on line {lineno} of {path}: "
                "the file must hold one angle in degrees per line"
            )
        first_data_line = False
        values.append(float(token))
    if not values:
        raise ValueError(f"no tilt angles found in {path}: the file must hold one angle in degrees per line")
    return np.asarray(values, dtype=np.float64)


def read_mdoc(path: str | os.PathLike) -> np.ndarray:
    """Tilt angles (degrees) from a SerialEM ``.mdoc``: ``TiltAngle`` per ``[ZValue = n]``, by ``n``."""
    path = Path(path)
    _check_readable(path, "SerialEM .mdoc file")
    sections: dict[int, float | None] = {}
    current: int | None = None
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            m = re.match(r"^\[\s*ZValue\s*=\s*(-?\d+)\s*\]", line, re.IGNORECASE)
            current = int(m.group(1)) if m else None
            if current is not None:
                if current in sections:
                    raise ValueError(f"ZValue {current} appears twice in {path} (line {lineno}): fix the .mdoc file")
                sections[current] = None
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key.strip().lower() == "tiltangle":
            token = value.split()[0] if value.split() else ""
            if not _NUMBER.match(token):
                raise ValueError(f"cannot read TiltAngle {value.strip()!r} on line {lineno} of {path}: fix the .mdoc file")
            sections[current] = float(token)
    if not sections:
        raise ValueError(f"no [ZValue = n] sections in {path}: not a SerialEM tilt-series .mdoc")
    missing = [z for z, a in sections.items() if a is None]
    if missing:
        raise ValueError(f"section [ZValue = {missing[0]}] of {path} has no TiltAngle: fix the .mdoc file")
    return np.asarray([sections[z] for z in sorted(sections)], dtype=np.float64)


_AXIS_LINE = re.compile(r"tilt\s*axis\s*angle\s*=\s*([-+]?\d+(?:\.\d*)?)", re.IGNORECASE)


def read_mdoc_axis_angle(path: str | os.PathLike) -> float | None:
    """The tilt-axis angle SerialEM wrote in an ``.mdoc`` title (``Tilt axis angle = 85.3, ...``).

    Degrees, counter-clockwise from the image ``y`` axis (IMOD's and this project's convention);
    ``None`` when the file has none.
    """
    path = Path(path)
    _check_readable(path, "SerialEM .mdoc file")
    m = _AXIS_LINE.search(_read_text(path))
    return float(m.group(1)) if m else None


def _mdoc_candidates(path: Path) -> list[Path]:
    """Where SerialEM's ``.mdoc`` of ``path`` sits: ``<name>.mdoc``, then ``<stem>.mdoc``."""
    stem = path.with_suffix("")
    return [path.with_name(path.name + ".mdoc"), stem.with_name(stem.name + ".mdoc")]


def find_mdoc(path: str | os.PathLike, angles_file: str | os.PathLike | None = None) -> Path | None:
    """The SerialEM ``.mdoc`` of a series: ``angles_file`` when it is one, else ``<name>.mdoc`` / ``<stem>.mdoc``."""
    if angles_file is not None:
        a = Path(angles_file)
        return a if a.suffix.lower() == ".mdoc" and a.is_file() else None
    return next((c for c in _mdoc_candidates(Path(path)) if c.is_file()), None)


def mdoc_axis_angle(path: str | os.PathLike, angles_file: str | os.PathLike | None = None) -> tuple[float, Path] | None:
    """``(Tilt axis angle, the .mdoc)`` of a series (:func:`find_mdoc`, :func:`read_mdoc_axis_angle`), or ``None``."""
    mdoc = find_mdoc(path, angles_file)
    if mdoc is None:
        return None
    angle = read_mdoc_axis_angle(mdoc)
    return None if angle is None else (angle, mdoc)


def write_angles(path: str | os.PathLike, angles) -> Path:
    """Write angles (degrees) one per line, IMOD ``.rawtlt`` style; atomic.

    Values are rounded to 1e-6° (so ``69.99999999999`` from a ``linspace`` is written as ``70``).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    a = np.asarray(angles, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"no tilt angles to write to {path}: give at least one angle")
    lines = [np.format_float_positional(round(float(v), 6) + 0.0, trim="-") for v in a]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def find_sidecar_angles(path: str | os.PathLike) -> tuple[np.ndarray, str] | None:
    """Angles from a file next to ``path``, or ``None`` when there is none.

    Looks, in this order, for ``<stem>.rawtlt``, ``<stem>.tlt`` (IMOD), then ``<name>.mdoc``
    and ``<stem>.mdoc`` (SerialEM). For an IMOD aligned stack (``.ali``) the refined
    ``.tlt`` is tried before the ``.rawtlt``.

    Returns
    -------
    (angles, source) or None
        ``source`` reads like ``"rawtlt: /data/ts.rawtlt"``.
    """
    path = Path(path)
    stem = path.with_suffix("")
    order = [".rawtlt", ".tlt"]
    if path.suffix.lower() == ".ali":
        order = [".tlt", ".rawtlt"]
    candidates = [stem.with_name(stem.name + s) for s in order]
    candidates += _mdoc_candidates(path)
    for cand in candidates:
        if cand.is_file():
            return read_angles(cand), f"{cand.suffix.lstrip('.').lower()}: {cand}"
    return None


def _check_readable(path: Path, what: str) -> None:
    if not path.exists():
        raise missing_file(path, what)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}: give the file")
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block forever, a device never end
        raise ValueError(f"{path} is not a regular file (a pipe, socket or device): give a {what} on disk")
    if st.st_size > _MAX_ANGLE_FILE_BYTES:
        raise ValueError(f"{path} is {st.st_size / 2**20:.0f} MiB, too large for a {what} (one angle per line): "
                         "check the path")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")

