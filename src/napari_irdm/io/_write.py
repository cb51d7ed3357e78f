"""Public writers: volumes and tilt series (MRC or TIFF), atomic."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_irdm.data import TiltSeries, Volume
from napari_irdm.io.angles import write_angles
from napari_irdm.io.mrc import MRC_SUFFIXES, write_mrc
from napari_irdm.io.tiff import TIFF_SUFFIXES, write_tiff

__all__ = ["write_tilt_series", "write_volume"]


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
        History lines, appended to the Volume's (lines it already has are not repeated) (MRC: ≤ 10 labels of 80 ASCII characters —
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
        own = tuple(volume.provenance)
        provenance = own + tuple(p for p in provenance if p not in own)  # passing them again adds nothing
    else:
        data = volume
    return _write_stack(path, data, pixel_size_A, provenance, tilt_angles_deg, image_stack=False)


def write_tilt_series(path: str | os.PathLike, ts: TiltSeries, *, provenance: Sequence[str] = ()) -> Path:
    """Write a tilt series (tilt axis along y) as float32 MRC + sidecar ``<stem>.rawtlt``; atomic.

    A ``.tif``/``.tiff`` path writes an ImageJ TIFF (axes ``TYX``) instead, also with the
    ``.rawtlt``. Angles and pixel size are also kept in the file's own metadata.
    """
    from napari_irdm.io._errors import as_path

    path = as_path(path, "output")
    if not isinstance(ts, TiltSeries):
        raise ValueError(f"write_tilt_series({path}) needs a TiltSeries, got {type(ts).__name__}")
    path = Path(path)
    prov = tuple(ts.provenance) + tuple(p for p in provenance if p not in ts.provenance)
    out = _write_stack(path, ts.data, ts.pixel_size_A, prov, ts.tilt_angles_deg, image_stack=True)
    write_angles(path.with_suffix(".rawtlt"), ts.tilt_angles_deg)
    return out


def _as_provenance(provenance, path) -> tuple[str, ...]:
    """Provenance lines as a tuple of str (one str is one line); a one-line ``ValueError`` otherwise."""
    if provenance is None:
        return ()
    if isinstance(provenance, str):
        return (provenance,)
    try:
        lines = tuple(provenance)
    except TypeError:
        lines = None
    if lines is None or not all(isinstance(p, str) for p in lines):
        raise ValueError(f"cannot write {path}: provenance must be a list of text lines (str), got "
                         f"{type(provenance).__name__} {str(provenance)[:40]!r}")
    return lines


def _any_finite(data: np.ndarray) -> bool:
    """Whether ``data`` holds at least one finite value (stops at the first slab that has one)."""
    for k in range(0, data.shape[0], 8):
        if np.isfinite(np.asarray(data[k:k + 8])).any():
            return True
    return False


def _write_stack(path, data, pixel_size_A, provenance, tilt_angles_deg, *, image_stack: bool) -> Path:
    from napari_irdm.io._errors import as_path

    path = as_path(path, "output")
    if getattr(data, "is_meta", False):
        raise ValueError(f"cannot write {path}: the tensor is on the 'meta' device (it holds no data)")
    if hasattr(data, "detach"):  # a torch tensor, possibly on a GPU
        data = data.detach().cpu().numpy()
    data = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if data.ndim != 3:
        raise ValueError(f"cannot write {path}: data has shape {data.shape}, need 3-D (nz, ny, nx)")
    if pixel_size_A is not None:
        px = float(pixel_size_A)
        if not np.isfinite(px) or px <= 0:
            raise ValueError(f"pixel size {pixel_size_A!r} Å for {path} must be a positive number of Ångström")
    if tilt_angles_deg is not None:
        from napari_irdm.io._raw import as_angles

        tilt_angles_deg = as_angles(tilt_angles_deg, f"tilt_angles_deg for {path}")
        bad = ~np.isfinite(tilt_angles_deg)
        if bad.any():
            raise ValueError(f"cannot write {path}: the angle of image {int(np.argmax(bad))} is NaN or Inf: "
                             "give finite tilt angles in degrees")
    provenance = _as_provenance(provenance, path)
    if "complex" in str(data.dtype):
        raise ValueError(f"cannot write {path}: the data are complex ({data.dtype}): write np.abs or .real")
    if data.size and data.dtype.kind == "f" and not _any_finite(data):
        raise ValueError(f"cannot write {path}: every value is NaN or Inf: nothing to save; check the computation")
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
