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
    "angles_from_range",
    "check_angles_for",
    "find_sidecar_angles",
    "read_angles",
    "read_mdoc",
    "write_angles",
]

#: suffixes :func:`read_angles` understands (anything else is read as one number per line)
ANGLE_SUFFIXES = (".rawtlt", ".tlt", ".mdoc", ".txt", ".csv")

#: no tilt series has more images than this; a range giving more is a mistyped step
MAX_ANGLES = 100_000
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
        :func:`check_angles_for`.

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


def angles_from_range(start: float, stop: float, step: float) -> np.ndarray:
    """Angles ``start, start ± step, ...`` up to ``stop`` inclusive (degrees).

    The sign of the step follows ``stop - start``; ``stop`` is included when it lies on the
    grid (within 1e-6 of a step).
    """
    start, stop, step = float(start), float(stop), float(step)
    if not (np.isfinite(start) and np.isfinite(stop) and np.isfinite(step)):
        raise ValueError(f"tilt range {start:g}:{stop:g} step {step:g} is not finite: give numbers in degrees")
    if step == 0:
        raise ValueError("tilt step is 0: give a non-zero step in degrees (e.g. --tilt-step 2)")
    step = abs(step) if stop >= start else -abs(step)
    count = np.floor((stop - start) / step + 1e-6) + 1
    if count > MAX_ANGLES:
        raise ValueError(
            f"tilt range {start:g}:{stop:g} with step {abs(step):g} gives {count:.3g} angles (at most {MAX_ANGLES}): "
            "give the step in degrees (e.g. --tilt-step 2)"
        )
    n = int(count)
    return start + step * np.arange(n, dtype=np.float64)


def check_angles_for(angles, n_images: int | None, *, source: str, file: str | os.PathLike | None = None) -> np.ndarray:
    """Validate tilt angles for a series and return them as float64.

    Parameters
    ----------
    angles
        Angles in degrees.
    n_images
        Number of images they must match (``None``: no count check).
    source
        Where they came from (said in the message, e.g. ``"rawtlt: a.rawtlt"``).
    file
        The series file (named in the message).

    Raises
    ------
    ValueError
        Wrong count, NaN/Inf or an angle outside ±90°.
    """
    a = np.asarray(angles, dtype=np.float64).ravel()
    where = f" for {file}" if file is not None else ""
    if a.size == 0:
        raise ValueError(f"no tilt angles{where} ({source}): give one angle per image")
    if n_images is not None and a.size != n_images:
        raise ValueError(
            f"got {a.size} tilt angles ({source}) for {n_images} images in {file}: give exactly one angle per image"
        )
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(
            f"the angle of image {int(np.argmax(bad))} ({source}){where} is NaN or Inf: fix the angles"
        )
    out = np.abs(a) > 90.0 + 1e-9
    if out.any():
        i = int(np.argmax(out))
        raise ValueError(
            f"tilt angle {a[i]:g} (image {i}, {source}){where} is outside ±90°: give angles in degrees within [-90, 90]"
        )
    return a


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
    candidates += [path.with_name(path.name + ".mdoc"), stem.with_name(stem.name + ".mdoc")]
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

