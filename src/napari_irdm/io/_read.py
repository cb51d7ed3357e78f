"""Public readers: tilt series, volumes, file summaries."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from napari_irdm.data import TiltSeries, Volume
from napari_irdm.io._errors import MissingAnglesError
from napari_irdm.io._filearray import FileArray
from napari_irdm.io._offset import detect_offset
from napari_irdm.io._raw import (
    CHUNK_BYTES,
    Raw,
    check_axis,
    decide_content,
    open_raw,
    resolve_angles,
    resolve_pixel,
    sample,
)
from napari_irdm.io.mrc import MRC_SUFFIXES, MrcContents, is_mrc_header
from napari_irdm.io.tiff import TIFF_SUFFIXES, is_tiff_header

__all__ = ["inspect_file", "is_supported", "read", "read_tilt_series", "read_volume"]


def read_tilt_series(
    path: str | os.PathLike,
    *,
    tilt_angles_deg=None,
    tilt_range: tuple[float, float] | None = None,
    tilt_step: float | None = None,
    angles_file: str | os.PathLike | None = None,
    tilt_axis: Literal["y", "x"] = "y",
    rotation_deg: float = 0.0,
    pixel_size_A: float | None = None,
    offset: Literal["auto"] | float | None = "auto",
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TiltSeries:
    """Read a tilt series (MRC, TIFF or a microscope format) into the project's convention.

    Parameters
    ----------
    path
        ``.mrc .st .ali .mrcs .preali .rec .map`` or ``.tif .tiff``, shape ``(n_tilts, ny, nx)``.
    tilt_angles_deg
        One angle per image (degrees); overrides everything else.
    tilt_range, tilt_step
        ``(start, stop)`` inclusive and step in degrees, instead of a list.
    angles_file
        ``.rawtlt`` / ``.tlt`` / ``.txt`` / ``.csv`` / ``.mdoc``.
        Without any of the above: sidecar ``<stem>.rawtlt``, ``<stem>.tlt``, ``<file>.mdoc``,
        then the extended header (FEI, SerialEM, napari-irdm).
    tilt_axis
        Image axis the tilt axis runs along in the file: ``"y"`` (rows, our convention) or
        ``"x"`` (columns; each image is transposed so that it runs along ``y``).
    rotation_deg
        In-plane rotation of the tilt axis away from ``tilt_axis`` in the file, in degrees,
        counter-clockwise from the image ``y`` axis in ``(x, y) = (column, row)``: the convention
        of ``align``'s tilt-axis angle, IMOD's rotation angle and SerialEM's ``Tilt axis angle``
        (``scipy.ndimage.rotate(ideal, −rotation_deg)`` on the ``(row, column)`` array). Each image
        is rotated back (linear interpolation, edges extended) before any transposition.
    pixel_size_A
        Pixel size in Å; default from the file (MRC voxel size, FEI header, TIFF metadata).
    offset
        ``"auto"`` (default): subtract a large negative detector offset from integer data
        (see :func:`normalise_offset`); ``None``: never; a number: subtract that value.
    prepare
        Applied to each chunk of images as it is read (float32 ``(k, ny, nx)`` in the house
        frame, after offset, rotation and transposition); it may crop or bin, but must give
        every chunk the same image shape. The full-size series is never held: this is how
        :func:`napari_irdm.align.preprocess.read_preprocessed` bins a 4k series at load. The
        caller records what it did in the provenance (and the pixel size).

    Returns
    -------
    TiltSeries
        ``data`` float32 ``(n_tilts, ny, nx)`` with the tilt axis along ``y``; angles,
        their source, pixel size (Å or ``None``) and provenance (what was done on reading).

    Raises
    ------
    ValueError
        Missing / empty / truncated / corrupt file, data not 3-D, NaN or Inf in the data,
        missing angles, wrong angle count, NaN or ``|angle| > 90°``. The one-line message
        names the file and the fix.
    """
    axis = check_axis(tilt_axis, path)
    from napari_irdm.io import _rsciio
    from napari_irdm.io._errors import as_path

    path = as_path(path, "tilt series")
    if _rsciio.handles(path):  # EMD, DM3/DM4, SER/EMI, .hspy or a folder of them (RosettaSciIO)
        return _rsciio_series(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A,
                              prepare=prepare)
    raw = open_raw(path, "tilt series")
    angles, angle_source = resolve_angles(
        raw, raw.data.shape[0], tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range, tilt_step=tilt_step,
        angles_file=angles_file, required=True,
    )
    return _series_from_raw(raw, angles, angle_source, axis=axis, rotation_deg=rotation_deg,
                            pixel_size_A=pixel_size_A, offset=offset, prepare=prepare)


def _series_from_raw(raw: Raw, angles, angle_source: str, *, axis: str, rotation_deg, pixel_size_A,
                     offset, prepare=None) -> TiltSeries:
    """The TiltSeries of an opened file: float32 in the house frame, pixel size, provenance."""
    path = raw.path
    px, px_source = resolve_pixel(raw, pixel_size_A)
    provenance = list(raw.file_provenance)
    provenance.append(f"read {path.name}: {raw.describe()}, {'x'.join(map(str, raw.data.shape))}")
    if isinstance(raw.contents, MrcContents) and not raw.contents.has_map_id:
        provenance.append("no MAP id string: MRC header read in permissive mode")
    off = _choose_offset(raw, offset)
    if off is not None:
        provenance.append(f"subtracted detector offset {off:g} (1st percentile of the {raw.data.dtype.name} data)")
    rotation = float(rotation_deg or 0.0)
    if not np.isfinite(rotation):
        raise ValueError(f"rotation_deg {rotation_deg!r} for {path} must be a finite angle in degrees")
    data = _convert(raw.data, raw.path, off, axis, rotation, prepare)
    if rotation:
        provenance.append(f"undid an in-plane tilt-axis rotation of {rotation:g} deg (linear interpolation)")
    if axis == "x":
        provenance.append("tilt axis along x in the file: images transposed so it runs along y")
    provenance.append(f"tilt angles from {angle_source}" if angles is not None else
                      "no tilt angles in the file or next to it: give them before reconstructing")
    if px is not None:
        provenance.append(f"pixel size {px:g} A from {px_source}")
    return TiltSeries(
        data=data,
        tilt_angles_deg=angles,
        pixel_size_A=px,
        angle_source=angle_source,
        tilt_axis=axis,
        source=str(path),
        provenance=tuple(provenance),
    )


def _rsciio_series(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A,
                   *, required: bool = True, prepare=None) -> TiltSeries:
    """A tilt series from a RosettaSciIO format (see :mod:`napari_irdm.io._rsciio`); without
    angles anywhere: ``MissingAnglesError``, or (``required=False``) angles ``None``."""
    from napari_irdm.geometry import angles_from_range, check_angles
    from napari_irdm.io._rsciio import read_rsciio
    from napari_irdm.io.angles import find_sidecar_angles, read_angles

    path = Path(path)
    if not path.exists():
        raise ValueError(f"tilt series {path} does not exist: check the path")
    data, angles, source, px, what = read_rsciio(path)
    n = data.shape[0]
    if tilt_angles_deg is not None:
        angles, source = np.asarray(tilt_angles_deg, np.float64).ravel(), "explicit"
    elif tilt_range is not None:
        if tilt_step is None:
            raise ValueError(f"a tilt range for {path} needs both the range and the step")
        angles = angles_from_range(float(tilt_range[0]), float(tilt_range[1]), float(tilt_step))
        source = f"range {tilt_range[0]:g}:{tilt_range[1]:g}:{abs(float(tilt_step)):g}"
    elif angles_file is not None:
        angles, source = read_angles(angles_file), f"file: {angles_file}"
    elif angles is None:
        found = find_sidecar_angles(path) if path.is_file() else None
        if found is None and required:
            raise MissingAnglesError(f"no tilt angles in {path}: give `angles_file`, or `tilt_range` with `tilt_step`")
        angles, source = found if found is not None else (None, "none")
    if angles is not None:
        angles = check_angles(angles, n, what=str(path), source=source)
    if pixel_size_A is not None:
        px = float(pixel_size_A)
    d = _convert(data, path, None, axis, 0.0, prepare)
    prov = [f"read {path.name}: {what}, {'x'.join(map(str, data.shape))}",
            f"tilt angles from {source}" if angles is not None else "no tilt angles in the file or next to it"]
    if axis == "x":
        prov.append("tilt axis along x in the file: images transposed so it runs along y")
    if px is not None:
        prov.append(f"pixel size {px:g} A")
    return TiltSeries(data=d, tilt_angles_deg=angles, pixel_size_A=px, angle_source=source, tilt_axis=axis,
                      source=str(path), provenance=tuple(prov))


def _choose_offset(raw: Raw, offset) -> float | None:
    if offset is None:
        return None
    if isinstance(offset, str):
        if offset != "auto":
            raise ValueError(f"offset {offset!r} for {raw.path} must be 'auto', None or a number")
        return detect_offset(raw.data)
    off = float(offset)
    if not np.isfinite(off):
        raise ValueError(f"offset {offset!r} for {raw.path} must be a finite number")
    return off if off != 0 else None


def _convert(src, path, off: float | None, axis: str, rotation: float, prepare=None) -> np.ndarray:
    """float32 copy in chunks (bounded memory): NaN check, offset, rotation, transposition, ``prepare``.

    ``src`` is anything sliceable along its first axis (memory map, FileArray, Dask array).
    """
    n, ny, nx = src.shape
    out: np.ndarray | None = None
    step = max(1, CHUNK_BYTES // max(1, 4 * ny * nx))
    for i0 in range(0, n, step):
        chunk = np.array(src[i0 : i0 + step], dtype=np.float32)
        if np.dtype(src.dtype).kind == "f":
            bad = ~np.isfinite(chunk)
            if bad.any():
                where = np.argwhere(bad)[0]
                count = int(bad.sum())
                raise ValueError(
                    f"{path} contains NaN or Inf ({count}+ values, first in image {i0 + int(where[0])}): "
                    "replace them (e.g. by the background) before reconstructing"
                )
        if off is not None:
            chunk -= np.float32(off)
        if rotation:
            from scipy import ndimage

            for k in range(chunk.shape[0]):
                chunk[k] = ndimage.rotate(chunk[k], rotation, reshape=False, order=1, mode="nearest")
        if axis == "x":
            chunk = chunk.transpose(0, 2, 1)
        if prepare is not None:
            chunk = np.asarray(prepare(np.ascontiguousarray(chunk)), np.float32)
        if out is None:
            out = np.empty((n,) + chunk.shape[1:], dtype=np.float32)
        if chunk.shape[1:] != out.shape[1:]:
            raise RuntimeError(f"prepare gave images of {chunk.shape[1:]} after {out.shape[1:]}: it must keep one shape")
        out[i0 : i0 + step] = chunk
    assert out is not None  # n >= 1 (checked on opening)
    return out


def read_volume(path: str | os.PathLike) -> Volume:
    """Read a volume (MRC or TIFF) as float32 ``(nz, ny, nx)``.

    The voxel size (Å) and, for files napari-irdm wrote, the tilt angles and the full
    provenance come back; for other MRC files the provenance is the header labels.

    Raises
    ------
    ValueError
        Missing / empty / truncated / corrupt file, data not 3-D.
    """
    return _volume_from_raw(open_raw(path, "volume"))


def _volume_from_raw(raw: Raw) -> Volume:
    """The Volume of an opened file: float32 copy (chunked), voxel size, our angles, provenance."""
    px, _ = raw.file_pixel_size
    meta = raw.contents.irdm_metadata
    angles = None
    if meta and meta.get("tilt_angles_deg") is not None:
        angles = np.asarray(meta["tilt_angles_deg"], dtype=np.float64)
    src = raw.data
    data = np.empty(src.shape, dtype=np.float32)
    step = max(1, CHUNK_BYTES // max(1, 4 * src.shape[1] * src.shape[2]))
    for z in range(0, src.shape[0], step):
        data[z : z + step] = src[z : z + step]
    return Volume(data=data, pixel_size_A=px, tilt_angles_deg=angles, provenance=raw.file_provenance)


def read(
    path: str | os.PathLike,
    *,
    tilt_angles_deg=None,
    tilt_range: tuple[float, float] | None = None,
    tilt_step: float | None = None,
    angles_file: str | os.PathLike | None = None,
    tilt_axis: Literal["y", "x"] = "y",
    rotation_deg: float = 0.0,
    pixel_size_A: float | None = None,
    offset: Literal["auto"] | float | None = "auto",
) -> TiltSeries | Volume:
    """Read a file as what its header says it holds: a :class:`TiltSeries` or a :class:`Volume`.

    The file is opened once. The choice (:func:`napari_irdm.io._raw.decide_content`): the
    napari-irdm metadata of a file we wrote; angles given here (a series); IMOD's suffixes
    (``.st .ali .mrcs .preali`` series, ``.rec`` volume); a header saying image stack (MRC
    space group 0, TIFF axes ``TYX``/``IYX``/``QYX``); tilt angles for every image next to the
    file or in its extended header; else a volume (MRC space group 1, TIFF ``ZYX``).
    Microscope formats (RosettaSciIO: EMD, DM3/DM4, SER, ``.hspy``) are tilt series.

    Parameters
    ----------
    path
        MRC family, TIFF or a microscope format.
    tilt_angles_deg, tilt_range, tilt_step, angles_file, tilt_axis, rotation_deg, pixel_size_A, offset
        As in :func:`read_tilt_series`; they apply to a tilt series.

    Returns
    -------
    TiltSeries or Volume
        As :func:`read_tilt_series` / :func:`read_volume` would return. A stack for which
        neither the file nor a sidecar holds angles is a TiltSeries with
        ``tilt_angles_deg=None`` and ``angle_source="none"``: give the angles before
        reconstructing.

    Raises
    ------
    ValueError
        As :func:`read_tilt_series`; also for series options given for a volume napari-irdm
        wrote (read it with :func:`read_tilt_series` to treat it as images anyway).
    """
    from napari_irdm.io import _rsciio
    from napari_irdm.io._errors import as_path

    axis = check_axis(tilt_axis, path)
    path = as_path(path, "tilt series or volume")
    if _rsciio.handles(path):
        return _rsciio_series(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A,
                              required=False)
    raw = open_raw(path, "tilt series or volume")
    given = tilt_angles_deg is not None or tilt_range is not None or tilt_step is not None or angles_file is not None
    kind, how = decide_content(raw, angles_given=given)
    if kind == "volume":
        if given:
            from napari_irdm.errors import ParameterError

            raise ParameterError(f"{raw.path} is a volume ({how}): `tilt_angles_deg`, `tilt_range` and `angles_file` "
                                 "do not apply to it; read it with read_tilt_series to take its slices as images",
                                 "tilt_angles_deg", "tilt_range", "angles_file")
        return _volume_from_raw(raw)
    angles, source = resolve_angles(
        raw, raw.data.shape[0], tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range, tilt_step=tilt_step,
        angles_file=angles_file, required=False,
    )
    return _series_from_raw(raw, angles, source, axis=axis, rotation_deg=rotation_deg,
                            pixel_size_A=pixel_size_A, offset=offset)

def inspect_file(
    path: str | os.PathLike,
    *,
    tilt_angles_deg=None,
    tilt_range: tuple[float, float] | None = None,
    tilt_step: float | None = None,
    angles_file: str | os.PathLike | None = None,
    tilt_axis: Literal["y", "x"] = "y",
    rotation_deg: float = 0.0,
    pixel_size_A: float | None = None,
    quick: bool = False,
) -> dict[str, Any]:
    """Summarise a tilt-series / volume file without loading it all (for ``napari-irdm info``).

    Returns
    -------
    dict
        ``path``, ``kind`` ("MRC"/"TIFF"), ``file_shape``, ``shape`` (as read, tilt axis
        along y), ``dtype``, ``pixel_size_A`` and ``pixel_size_source``, ``tilt_angles_deg``
        (list or None), ``n_angles``, ``angle_source``, ``tilt_range_deg`` (min, max),
        ``tilt_step_deg`` (median step of the sorted angles), ``missing_wedge_deg``,
        ``tilt_axis``, ``rotation_deg``, ``data_min``/``data_max``/``data_mean`` (file units),
        ``data_stats`` ("exact" or "subsample"), ``offset`` (what reading would subtract),
        ``labels``, ``warnings``, ``content`` (``"volume"``, ``"tilt series"`` or ``None``) and
        ``content_source`` (how we know: napari-irdm metadata, MRC space group, TIFF axes),
        ``series_tilt_angles_deg`` (a volume napari-irdm wrote: the angles of its series) and
        ``provenance`` (the full history from the napari-irdm metadata, else the labels).

    Other Parameters
    ----------------
    quick
        Take the data statistics from a strided subsample (≈ 2 M values) instead of one
        chunked pass over the whole file; NaN/Inf are then only detected in the subsample.

    Raises
    ------
    ValueError
        As :func:`read_tilt_series` (including NaN/Inf in the data), except that missing
        angles are reported as ``None``.
    """
    axis = check_axis(tilt_axis, path)
    from napari_irdm.io import _rsciio
    from napari_irdm.io._errors import as_path

    path = as_path(path)
    if _rsciio.handles(path):  # microscope formats: summarise the series as read
        return _rsciio_info(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = open_raw(path, "tilt series")
    n, ny, nx = raw.data.shape
    given = tilt_angles_deg is not None or tilt_range is not None or tilt_step is not None or angles_file is not None
    content, content_source = decide_content(raw, angles_given=given)
    meta = raw.contents.irdm_metadata
    series_angles = None
    if meta and meta.get("tilt_angles_deg") is not None:
        series_angles = [float(a) for a in meta["tilt_angles_deg"]]
    if content == "volume" and content_source == "napari-irdm metadata" and not given:
        # a volume napari-irdm wrote keeps the angles of its tilt series in the header (shown apart)
        angles, source = None, "none (a volume: its header holds the angles of the tilt series it came from)"
    else:
        angles, source = resolve_angles(
            raw, n, tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range, tilt_step=tilt_step,
            angles_file=angles_file, required=False,
        )
    px, px_source = resolve_pixel(raw, pixel_size_A)
    lo, hi, mean, bad = _data_stats(raw.data, quick=quick)
    if bad:
        raise ValueError(
            f"{raw.path} contains NaN or Inf ({bad} values): replace them (e.g. by the background) before reconstructing"
        )
    info: dict[str, Any] = {
        "path": str(raw.path),
        "kind": raw.kind.upper(),
        "file_shape": (n, ny, nx),
        "shape": (n, nx, ny) if axis == "x" else (n, ny, nx),
        "dtype": raw.data.dtype.name,
        "pixel_size_A": px,
        "pixel_size_source": px_source,
        "tilt_angles_deg": None if angles is None else [float(a) for a in angles],
        "n_angles": 0 if angles is None else int(angles.size),
        "angle_source": source,
        "tilt_range_deg": None,
        "tilt_step_deg": None,
        "missing_wedge_deg": None,
        "tilt_axis": axis,
        "rotation_deg": float(rotation_deg or 0.0),
        "data_min": lo,
        "data_max": hi,
        "data_mean": mean,
        "data_stats": "subsample" if quick else "exact",
        "offset": detect_offset(raw.data),
        "labels": list(raw.contents.labels) if isinstance(raw.contents, MrcContents) else [],
        "content": content,
        "content_source": content_source,
        "series_tilt_angles_deg": series_angles if content == "volume" else None,
        "provenance": list(raw.file_provenance),
        "warnings": [str(w.message) for w in caught],
    }
    info.update(_angle_summary(angles))
    return info


def _rsciio_info(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A) -> dict[str, Any]:
    ts = _rsciio_series(path, tilt_angles_deg, tilt_range, tilt_step, angles_file, axis, pixel_size_A, required=False)
    angles, source, data = ts.tilt_angles_deg, ts.angle_source, ts.data
    n, ny, nx = data.shape
    info: dict[str, Any] = {
        "path": str(path), "kind": Path(path).suffix.lstrip(".").upper() or "folder", "file_shape": (n, ny, nx),
        "shape": (n, ny, nx), "dtype": str(data.dtype), "pixel_size_A": ts.pixel_size_A,
        "pixel_size_source": "file axes" if ts.pixel_size_A else None,
        "tilt_angles_deg": None if angles is None else [float(a) for a in angles],
        "n_angles": 0 if angles is None else int(len(angles)), "angle_source": source,
        "tilt_range_deg": None, "tilt_step_deg": None, "missing_wedge_deg": None, "tilt_axis": axis,
        "rotation_deg": 0.0, "data_min": float(np.min(data)), "data_max": float(np.max(data)),
        "data_mean": float(np.mean(data)), "data_stats": "exact", "offset": None, "labels": [], "warnings": [],
    }
    info.update(_angle_summary(angles))
    return info


def _data_stats(data: np.ndarray | FileArray, *, quick: bool) -> tuple[float, float, float, int]:
    """(min, max, mean, number of NaN/Inf) over finite values, chunked or from a subsample."""
    step = max(1, CHUNK_BYTES // max(1, 8 * data[0].size))
    chunks = [sample(data)] if quick else (data[i : i + step] for i in range(0, data.shape[0], step))
    lo, hi, total, count, bad = np.inf, -np.inf, 0.0, 0, 0
    for chunk in chunks:
        c = np.asarray(chunk)
        if c.dtype.kind == "f":
            finite = np.isfinite(c)
            nbad = int(c.size - np.count_nonzero(finite))
            if nbad:
                bad += nbad
                c = c[finite]
        if c.size:
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
            total += float(c.sum(dtype=np.float64))
            count += c.size
    mean = total / count if count else float("nan")
    return lo, hi, mean, bad


def is_supported(path) -> bool:
    """True when ``path`` looks like a file these readers open (suffix + a cheap header check).

    Never raises.
    """
    try:
        p = Path(path)
        if not p.is_file():
            return False
        suffix = p.suffix.lower()
        with open(p, "rb") as fh:
            head = fh.read(1024)
        if suffix in TIFF_SUFFIXES:
            return is_tiff_header(head)
        if suffix in MRC_SUFFIXES:
            return is_mrc_header(head)
        from napari_irdm.io._rsciio import RSCIIO_SUFFIXES

        if suffix in (".hspy", ".emd"):
            return head[:8] == b"\x89HDF\r\n\x1a\n"
        return suffix in RSCIIO_SUFFIXES
    except Exception:  # a reader probe must never raise
        return False


def _angle_summary(angles) -> dict[str, Any]:
    """``tilt_range_deg``, ``missing_wedge_deg`` and ``tilt_step_deg`` (median step) of the angles."""
    from napari_irdm.geometry import missing_wedge_deg, tilt_range_deg

    if angles is None:
        return {}
    out: dict[str, Any] = {"tilt_range_deg": tilt_range_deg(angles), "missing_wedge_deg": missing_wedge_deg(angles)}
    uniq = np.unique(angles)
    if uniq.size > 1:
        out["tilt_step_deg"] = float(np.median(np.diff(uniq)))
    return out
