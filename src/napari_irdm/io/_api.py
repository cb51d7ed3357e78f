"""Public readers and writers (re-exported by :mod:`napari_irdm.io`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from napari_irdm.data import TiltSeries, Volume
from napari_irdm.io._errors import missing_file
from napari_irdm.io.angles import angles_from_range, check_angles_for, find_sidecar_angles, read_angles, write_angles
from napari_irdm.io.mrc import MRC_SUFFIXES, MrcContents, header_angles, is_mrc_header, open_mrc, write_mrc
from napari_irdm.io.tiff import TIFF_SUFFIXES, TiffContents, is_tiff_header, open_tiff, write_tiff

__all__ = [
    "inspect_file",
    "is_supported",
    "normalise_offset",
    "read_tilt_series",
    "read_volume",
    "write_tilt_series",
    "write_volume",
]

SUPPORTED_SUFFIXES = MRC_SUFFIXES + TIFF_SUFFIXES
_OFFSET_PERCENTILE = 1.0
_CHUNK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------- opening


class _Raw:
    """A file opened without loading: data (memmap or array) + what the header said."""

    def __init__(self, path: Path, kind: str, contents: MrcContents | TiffContents):
        self.path = path
        self.kind = kind
        self.contents = contents
        self.data = contents.data

    @property
    def file_pixel_size(self) -> tuple[float | None, str | None]:
        c = self.contents
        if isinstance(c, MrcContents):
            px = c.pixel_size_A
            if px is not None:
                return px, "MRC header voxel size"
            meta = c.irdm_metadata
            if meta and meta.get("pixel_size_A"):
                return float(meta["pixel_size_A"]), "napari-irdm header"
            return None, None
        return c.pixel_size_A, c.pixel_source

    def header_angles(self, n: int) -> tuple[np.ndarray, float | None, str] | None:
        c = self.contents
        if isinstance(c, MrcContents):
            return header_angles(c, n)
        meta = c.irdm_metadata
        if meta and meta.get("tilt_angles_deg") is not None:
            return np.asarray(meta["tilt_angles_deg"], dtype=np.float64), meta.get("pixel_size_A"), "napari-irdm TIFF metadata"
        return None

    @property
    def file_provenance(self) -> tuple[str, ...]:
        meta = self.contents.irdm_metadata
        if meta and isinstance(meta.get("provenance"), list):
            return tuple(str(p) for p in meta["provenance"])
        if isinstance(self.contents, MrcContents):
            return tuple(lab for lab in self.contents.labels if lab)
        return ()

    def describe(self) -> str:
        if isinstance(self.contents, MrcContents):
            return f"MRC mode {self.contents.mode} ({self.data.dtype.name})"
        return f"TIFF {self.contents.axes} ({self.data.dtype.name})"


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in MRC_SUFFIXES:
        return "mrc"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    head = b""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        pass
    if is_tiff_header(head):
        return "tiff"
    if len(head) == 1024 and head[208:212] == b"MAP ":
        return "mrc"
    raise ValueError(
        f"{path}: unsupported file type {suffix or '(no extension)'!r}: "
        f"give an MRC ({' '.join(MRC_SUFFIXES)}) or TIFF ({' '.join(TIFF_SUFFIXES)}) file"
    )


def _open(path: str | os.PathLike, what: str) -> _Raw:
    path = Path(path)
    if not path.exists():
        raise missing_file(path, what)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}: give the file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): re-copy or re-export the file")
    kind = _file_kind(path)
    contents = open_mrc(path) if kind == "mrc" else open_tiff(path)
    raw = _Raw(path, kind, contents)
    if raw.data.ndim != 3:
        shape = "x".join(map(str, raw.data.shape))
        raise ValueError(f"{path} holds {raw.data.ndim}-D data ({shape}): a {what} must be a 3-D stack of images")
    if raw.data.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {raw.data.dtype} data: give real-valued images")
    return raw


def _sample(data: np.ndarray, max_values: int = 2_000_000) -> np.ndarray:
    """A strided subsample of a 3-D array (cheap on a memmap)."""
    n = data.shape[0]
    per_image = data.shape[1] * data.shape[2]
    kz = max(1, int(np.ceil(n * per_image / max_values / max(1, per_image))))
    ks = max(1, int(np.ceil(np.sqrt(per_image * ((n + kz - 1) // kz) / max_values))))
    return np.asarray(data[::kz, ::ks, ::ks])


# --------------------------------------------------------------------------- offset


def normalise_offset(data: np.ndarray, *, percentile: float = _OFFSET_PERCENTILE) -> tuple[np.ndarray, float | None]:
    """Convert to float32 and remove a large negative detector offset from integer data.

    HAADF-STEM intensities are counts on top of a detector offset. Some files (old FEI
    int16 exports) store them with a large signed offset: the vacuum sits near −31 900.
    Reconstruction needs a background near 0, so for **integer** data whose median lies
    below zero by more than 10 % of the intensity spread (``p99.9 − p1``) the
    ``percentile``-th percentile (the vacuum / darkest level) is subtracted. Float data
    and integer data without such an offset are only converted.

    Parameters
    ----------
    data : ndarray, any shape
    percentile
        Percentile taken as the background level (default 1).

    Returns
    -------
    (float32 array, offset or None)
        ``offset`` is the value subtracted (``None`` when nothing was).
    """
    data = np.asarray(data)
    offset = detect_offset(data, percentile=percentile)
    out = data.astype(np.float32)
    if offset is not None:
        out -= np.float32(offset)
    return out, offset


def detect_offset(data: np.ndarray, *, percentile: float = _OFFSET_PERCENTILE) -> float | None:
    """The offset :func:`normalise_offset` would subtract (``None``: none), from a subsample."""
    if data.dtype.kind not in "iu":
        return None
    sample = _sample(data) if data.ndim == 3 else np.asarray(data).ravel()[:: max(1, data.size // 2_000_000)]
    lo, med, hi = np.percentile(sample.astype(np.float64), [percentile, 50.0, 99.9])
    spread = hi - lo
    if med < 0 and spread > 0 and -med > 0.1 * spread:
        return float(lo)
    return None


# --------------------------------------------------------------------------- angles, pixel size


def _resolve_angles(
    raw: _Raw,
    n: int,
    *,
    tilt_angles_deg,
    tilt_range,
    tilt_step,
    angles_file,
    required: bool,
) -> tuple[np.ndarray | None, str]:
    """Angles (validated against ``n`` images) and where they came from."""
    path = raw.path
    if tilt_angles_deg is not None and (tilt_range is not None or tilt_step is not None):
        raise ValueError(f"give tilt angles for {path} either as a list or as a range with a step, not both")
    if (tilt_range is None) != (tilt_step is None):
        raise ValueError(f"a tilt range for {path} needs both the range and the step (e.g. --tilt-range -70 70 --tilt-step 2)")
    if tilt_angles_deg is not None:
        angles, source = np.asarray(tilt_angles_deg, dtype=np.float64).ravel(), "explicit"
    elif tilt_range is not None:
        try:
            start, stop = (float(v) for v in tilt_range)
        except (TypeError, ValueError):
            raise ValueError(f"tilt range {tilt_range!r} for {path} must be two numbers (start, stop) in degrees") from None
        angles = angles_from_range(start, stop, float(tilt_step))
        source = f"range {start:g}:{stop:g}:{abs(float(tilt_step)):g}"
    elif angles_file is not None:
        af = Path(angles_file)
        angles = read_angles(af)
        source = f"{af.suffix.lstrip('.').lower() or 'file'}: {af}"
    else:
        found = find_sidecar_angles(path)
        if found is not None:
            angles, source = found
        else:
            head = raw.header_angles(n)
            if head is None:
                if not required:
                    return None, "none"
                raise ValueError(
                    f"no tilt angles for {path}: give --angles FILE or --tilt-range A B --tilt-step S "
                    f"(or put {path.with_suffix('.rawtlt').name} next to it)"
                )
            angles, _, source = head
    return check_angles_for(angles, n, source=source, file=path), source


def _resolve_pixel(raw: _Raw, pixel_size_A) -> tuple[float | None, str | None]:
    if pixel_size_A is not None:
        px = float(pixel_size_A)
        if not np.isfinite(px) or px <= 0:
            raise ValueError(f"pixel size {pixel_size_A!r} Å for {raw.path} must be a positive number of Ångström")
        return px, "explicit"
    px, source = raw.file_pixel_size
    if px is not None:
        return px, source
    if raw.kind == "mrc":  # an extended header may carry a pixel size (FEI: metres)
        head = raw.header_angles(raw.data.shape[0])
        if head is not None and head[1] is not None:
            return float(head[1]), head[2]
    return None, None


def _check_axis(tilt_axis: str, path) -> str:
    axis = str(tilt_axis).strip().lower()
    if axis not in ("y", "x"):
        raise ValueError(f"tilt_axis {tilt_axis!r} for {path} must be 'y' (image rows, default) or 'x' (columns)")
    return axis


# --------------------------------------------------------------------------- reading


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
) -> TiltSeries:
    """Read a tilt series (MRC or TIFF) into the project's convention.

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
        in the sense of :func:`scipy.ndimage.rotate`: the file's images are taken to be the
        ideal ones rotated by ``rotation_deg``, and each is rotated back (linear
        interpolation, edges extended) before any transposition.
    pixel_size_A
        Pixel size in Å; default from the file (MRC voxel size, FEI header, TIFF metadata).
    offset
        ``"auto"`` (default): subtract a large negative detector offset from integer data
        (see :func:`normalise_offset`); ``None``: never; a number: subtract that value.

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
    axis = _check_axis(tilt_axis, path)
    raw = _open(path, "tilt series")
    path = raw.path
    n = raw.data.shape[0]
    angles, angle_source = _resolve_angles(
        raw, n, tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range, tilt_step=tilt_step,
        angles_file=angles_file, required=True,
    )
    px, px_source = _resolve_pixel(raw, pixel_size_A)
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
    data = _convert(raw, off, axis, rotation)
    if rotation:
        provenance.append(f"undid an in-plane tilt-axis rotation of {rotation:g} deg (linear interpolation)")
    if axis == "x":
        provenance.append("tilt axis along x in the file: images transposed so it runs along y")
    provenance.append(f"tilt angles from {angle_source}")
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


def _choose_offset(raw: _Raw, offset) -> float | None:
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


def _convert(raw: _Raw, off: float | None, axis: str, rotation: float) -> np.ndarray:
    """float32 copy in chunks (bounded memory): NaN check, offset, rotation, transposition."""
    src = raw.data
    n, ny, nx = src.shape
    out = np.empty((n, nx, ny) if axis == "x" else (n, ny, nx), dtype=np.float32)
    step = max(1, _CHUNK_BYTES // max(1, 4 * ny * nx))
    for i0 in range(0, n, step):
        chunk = np.array(src[i0 : i0 + step], dtype=np.float32)
        if chunk.dtype.kind == "f" and src.dtype.kind == "f":
            bad = ~np.isfinite(chunk)
            if bad.any():
                where = np.argwhere(bad)[0]
                count = int(bad.sum())
                raise ValueError(
                    f"{raw.path} contains NaN or Inf ({count}+ values, first in image {i0 + int(where[0])}): "
                    "replace them (e.g. by the background) before reconstructing"
                )
        if off is not None:
            chunk -= np.float32(off)
        if rotation:
            from scipy import ndimage

            for k in range(chunk.shape[0]):
                chunk[k] = ndimage.rotate(chunk[k], -rotation, reshape=False, order=1, mode="nearest")
        out[i0 : i0 + step] = chunk.transpose(0, 2, 1) if axis == "x" else chunk
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
    raw = _open(path, "volume")
    px, _ = raw.file_pixel_size
    meta = raw.contents.irdm_metadata
    angles = None
    if meta and meta.get("tilt_angles_deg") is not None:
        angles = np.asarray(meta["tilt_angles_deg"], dtype=np.float64)
    src = raw.data
    data = np.empty(src.shape, dtype=np.float32)
    step = max(1, _CHUNK_BYTES // max(1, 4 * src.shape[1] * src.shape[2]))
    for z in range(0, src.shape[0], step):
        data[z : z + step] = src[z : z + step]
    return Volume(data=data, pixel_size_A=px, tilt_angles_deg=angles, provenance=raw.file_provenance)


# --------------------------------------------------------------------------- writing


def write_volume(
    path: str | os.PathLike,
    volume: Volume | np.ndarray,
    *,
    pixel_size_A: float | None = None,
    provenance: Sequence[str] = (),
    tilt_angles_deg=None,
) -> Path:
    """Write a volume as float32 MRC (``.mrc .rec .map ...``) or ImageJ TIFF (``.tif .tiff``); atomic.

    Parameters
    ----------
    path
        Target file; the suffix picks the format. A failed write leaves an existing file untouched.
    volume : Volume or ndarray, shape (nz, ny, nx)
    pixel_size_A
        Voxel size in Å (default: the Volume's).
    provenance
        History lines, appended to the Volume's (MRC: ≤ 10 labels of 80 ASCII characters —
        version and date, tilt range, then the lines — and everything in the extended header).
    tilt_angles_deg
        Angles of the series (default: the Volume's).

    Returns
    -------
    Path
    """
    if isinstance(volume, Volume):
        data = volume.data
        pixel_size_A = volume.pixel_size_A if pixel_size_A is None else pixel_size_A
        tilt_angles_deg = volume.tilt_angles_deg if tilt_angles_deg is None else tilt_angles_deg
        provenance = tuple(volume.provenance) + tuple(provenance)
    else:
        data = volume
    return _write_stack(path, data, pixel_size_A, provenance, tilt_angles_deg, image_stack=False)


def write_tilt_series(path: str | os.PathLike, ts: TiltSeries, *, provenance: Sequence[str] = ()) -> Path:
    """Write a tilt series (tilt axis along y) as float32 MRC + sidecar ``<stem>.rawtlt``; atomic.

    A ``.tif``/``.tiff`` path writes an ImageJ TIFF (axes ``TYX``) instead, also with the
    ``.rawtlt``. Angles and pixel size are also kept in the file's own metadata.
    """
    if not isinstance(ts, TiltSeries):
        raise ValueError(f"write_tilt_series({path}) needs a TiltSeries, got {type(ts).__name__}")
    path = Path(path)
    prov = tuple(ts.provenance) + tuple(provenance)
    out = _write_stack(path, ts.data, ts.pixel_size_A, prov, ts.tilt_angles_deg, image_stack=True)
    write_angles(path.with_suffix(".rawtlt"), ts.tilt_angles_deg)
    return out


def _write_stack(path, data, pixel_size_A, provenance, tilt_angles_deg, *, image_stack: bool) -> Path:
    path = Path(path)
    data = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if data.ndim != 3:
        raise ValueError(f"cannot write {path}: data has shape {data.shape}, need 3-D (nz, ny, nx)")
    if pixel_size_A is not None:
        px = float(pixel_size_A)
        if not np.isfinite(px) or px <= 0:
            raise ValueError(f"pixel size {pixel_size_A!r} Å for {path} must be a positive number of Ångström")
    if tilt_angles_deg is not None:
        tilt_angles_deg = np.asarray(tilt_angles_deg, dtype=np.float64).ravel()
    suffix = path.suffix.lower()
    if suffix in TIFF_SUFFIXES:
        return write_tiff(path, data, pixel_size_A=pixel_size_A, provenance=provenance,
                          tilt_angles_deg=tilt_angles_deg, axes="TYX" if image_stack else "ZYX")
    if suffix in MRC_SUFFIXES:
        return write_mrc(path, data, pixel_size_A=pixel_size_A, provenance=provenance,
                         tilt_angles_deg=tilt_angles_deg, image_stack=image_stack)
    raise ValueError(
        f"cannot write {path}: unknown suffix {path.suffix or '(none)'!r}; use .mrc (or {' '.join(MRC_SUFFIXES[1:])}) or .tif"
    )


# --------------------------------------------------------------------------- inspection


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
) -> dict[str, Any]:
    """Summarise a tilt-series / volume file without loading it all (for ``napari-irdm info``).

    Returns
    -------
    dict
        ``path``, ``kind`` ("MRC"/"TIFF"), ``file_shape``, ``shape`` (as read, tilt axis
        along y), ``dtype``, ``pixel_size_A`` and ``pixel_size_source``, ``tilt_angles_deg``
        (list or None), ``n_angles``, ``angle_source``, ``tilt_range_deg`` (min, max),
        ``tilt_step_deg`` (median step of the sorted angles), ``missing_wedge_deg``,
        ``tilt_axis``, ``rotation_deg``, ``data_min``/``data_max``/``data_mean`` (file units,
        from a subsample), ``offset`` (what reading would subtract), ``labels`` and ``warnings``.

    Raises
    ------
    ValueError
        As :func:`read_tilt_series`, except that missing angles are reported as ``None``.
    """
    axis = _check_axis(tilt_axis, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = _open(path, "tilt series")
    n, ny, nx = raw.data.shape
    angles, source = _resolve_angles(
        raw, n, tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range, tilt_step=tilt_step,
        angles_file=angles_file, required=False,
    )
    px, px_source = _resolve_pixel(raw, pixel_size_A)
    sample = _sample(raw.data).astype(np.float64)
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
        "data_min": float(np.min(sample)),
        "data_max": float(np.max(sample)),
        "data_mean": float(np.mean(sample)),
        "nonfinite": bool(not np.all(np.isfinite(sample))),
        "offset": detect_offset(raw.data),
        "labels": list(raw.contents.labels) if isinstance(raw.contents, MrcContents) else [],
        "warnings": [str(w.message) for w in caught],
    }
    if angles is not None:
        lo, hi = float(angles.min()), float(angles.max())
        info["tilt_range_deg"] = (lo, hi)
        info["missing_wedge_deg"] = max(0.0, 180.0 - (hi - lo))
        uniq = np.unique(angles)
        if uniq.size > 1:
            info["tilt_step_deg"] = float(np.median(np.diff(uniq)))
    return info


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
        return False
    except Exception:  # a reader probe must never raise
        return False
