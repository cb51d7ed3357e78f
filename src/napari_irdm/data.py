"""Light, frozen data types carried between readers, algorithms and the viewer.

Importing this module loads only NumPy.

Provenance is a tuple of text lines, oldest first. Every step that makes a new object
appends exactly one line through :func:`provenance_line` (``"napari-irdm <version> <step>"``):
:meth:`TiltSeries.with_step`, :meth:`Volume.with_step` and :meth:`Volume.from_series`; the
step itself is best written with :func:`format_step` (``"label key=value ..."``).
What a step chose from the data itself (a cross-validated weight, where an iteration
stopped) is reported with :func:`note_choice` and written after the parameters
(``"...; chosen tv_weight=0.00316"``) by the core's decorators, which collect it with
:func:`recording_choices`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["TiltSeries", "Volume", "format_choices", "format_step", "note_choice", "provenance_line", "recording_choices"]

_CHOICES = threading.local()


def _value_text(value: Any) -> str:
    """A short, stable text for a parameter value in a provenance line."""
    if isinstance(value, (bool, np.bool_, str)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    shape = getattr(value, "shape", None)
    if shape is not None:  # an array or tensor: its shape, never its values
        return f"{type(value).__name__}({'x'.join(str(int(s)) for s in shape)})"
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return ",".join(_value_text(v) for v in value)
    return type(value).__name__  # e.g. an nn.Module: its class, not its repr


def format_step(label: str, params: Mapping[str, Any] | None = None) -> str:
    """``"label key=value key=value"``: one processing step for a provenance line.

    Numbers are written with ``:g``, arrays by their shape, other objects by their type
    name; parameters whose value is ``None`` are left out.
    """
    items = [f"{k}={_value_text(v)}" for k, v in (params or {}).items() if v is not None]
    return " ".join([str(label), *items])


@contextmanager
def recording_choices() -> Iterator[dict[str, Any]]:
    """Collect, in a dict, what the code run inside chose from the data (:func:`note_choice`).

    Recorders nest per thread; a choice goes to the innermost one. Used by the decorators
    that write provenance lines (they append :func:`format_choices` of it to the step).
    """
    stack = _CHOICES.__dict__.setdefault("stack", [])
    chosen: dict[str, Any] = {}
    stack.append(chosen)
    try:
        yield chosen
    finally:
        for i in range(len(stack) - 1, -1, -1):  # by identity (two empty dicts are equal)
            if stack[i] is chosen:
                del stack[i]
                break


def note_choice(key: str, value: Any) -> None:
    """Report a value chosen from the data (``tv_weight``, ...) to the innermost recorder, if any."""
    stack = getattr(_CHOICES, "stack", None)
    if stack:
        stack[-1][str(key)] = value


def format_choices(step: str, chosen: Mapping[str, Any]) -> str:
    """``step`` with ``"; chosen key=value ..."`` appended (``step`` itself when nothing was chosen)."""
    items = [f"{k}={_value_text(v)}" for k, v in chosen.items() if v is not None]
    return f"{step}; chosen {' '.join(items)}" if items else step


def provenance_line(step: str) -> str:
    """The provenance line of one step: ``"napari-irdm <version> <step>"``."""
    from napari_irdm._version import __version__

    return f"napari-irdm {__version__} {step}"


def _series_summary(series: TiltSeries, angles) -> str:
    a = None if angles is None else np.asarray(angles, dtype=np.float64).ravel()
    text = (f"{series.n_tilts} tilts" if a is None or a.size == 0
            else f"{a.size} tilts {a.min():g}..{a.max():g} deg (angles: {series.angle_source})")
    return f"{text}; from {series.source}" if series.source else text



@dataclass(frozen=True)
class TiltSeries:
    """A single-axis tilt series in the project's convention.

    Attributes
    ----------
    data : ndarray, shape (n_tilts, ny, nx), float32
        Projection images; the tilt axis runs along ``y`` (image rows).
    tilt_angles_deg : ndarray, shape (n_tilts,), or None
        One angle per image, in image order (repeats and any order allowed). ``None`` only
        for a stack :func:`napari_irdm.io.read` found no angles for (``angle_source ==
        "none"``): give them before reconstructing.
    pixel_size_A : float or None
        Pixel size in Ångström; ``None`` when the file did not say.
    angle_source : str
        Where the angles came from (``"explicit"``, ``"range"``, ``"rawtlt: /path"``,
        ``"tlt"``, ``"mdoc"``, ``"FEI extended header"``...).
    tilt_axis : str
        Image axis the tilt axis ran along *in the file* (``"y"`` or ``"x"``); ``data``
        is always stored with the tilt axis along ``y``.
    source : str or None
        Where the series came from: the path it was read from, or e.g. ``"layer 'name'"``.
    provenance : tuple of str
        Free-text history lines.
    """

    data: np.ndarray
    tilt_angles_deg: np.ndarray | None
    pixel_size_A: float | None = None
    angle_source: str = "unknown"
    tilt_axis: str = "y"
    source: str | None = None
    provenance: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_tilts(self) -> int:
        """Number of images."""
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_tilts, ny, nx)``."""
        return tuple(self.data.shape)

    def replace(self, **changes) -> TiltSeries:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return replace(self, **changes)

    def with_step(self, step: str, **changes) -> TiltSeries:
        """A copy with ``changes`` applied and one provenance line for ``step`` appended."""
        return replace(self, **changes, provenance=(*self.provenance, provenance_line(step)))


@dataclass(frozen=True)
class Volume:
    """A reconstructed (or ground-truth) volume.

    Attributes
    ----------
    data : ndarray, shape (nz, ny, nx), float32
        ``z`` is the beam direction at 0° tilt, ``y`` the tilt axis.
    pixel_size_A : float or None
        Voxel size in Ångström.
    tilt_angles_deg : ndarray or None
        Angles of the series it came from (defines the missing wedge).
    provenance : tuple of str
        Method, tilt range, software version...
    """

    data: np.ndarray
    pixel_size_A: float | None = None
    tilt_angles_deg: np.ndarray | None = None
    provenance: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nz, ny, nx)``."""
        return tuple(self.data.shape)

    def replace(self, **changes) -> Volume:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return replace(self, **changes)

    def with_step(self, step: str, **changes) -> Volume:
        """A copy with ``changes`` applied and one provenance line for ``step`` appended."""
        return replace(self, **changes, provenance=(*self.provenance, provenance_line(step)))

    @classmethod
    def from_series(cls, series: TiltSeries, data, *, step: str, tilt_angles_deg=None) -> Volume:
        """The volume ``data`` computed from ``series`` by ``step``.

        It carries the series' pixel size and angles (or ``tilt_angles_deg`` when the step
        used others) and the series' provenance plus one line: ``step``, the tilt range and
        where the series came from.
        """
        angles = series.tilt_angles_deg if tilt_angles_deg is None else tilt_angles_deg
        angles = None if angles is None else np.asarray(angles, dtype=np.float64).ravel()
        line = provenance_line(f"{step}; {_series_summary(series, angles)}")
        return cls(data=data, pixel_size_A=series.pixel_size_A, tilt_angles_deg=angles,
                   provenance=(*series.provenance, line))
