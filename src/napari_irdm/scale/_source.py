"""A tilt series that stays on disk: slabs of y-slices read on demand (by any worker process)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = ["LazySeries", "as_dask", "open_series"]

#: suffixes read as Zarr arrays / groups
ZARR_SUFFIXES = (".zarr",)


@lru_cache(maxsize=8)
def _open_data(path: str, kind: str, mtime_ns: int):
    """The file's data array without loading it, opened once per process (memmap / zarr)."""
    if kind == "zarr":
        import zarr

        node = zarr.open(path, mode="r")
        return node if hasattr(node, "shape") else node["0"]
    from napari_irdm.io._raw import open_raw

    raw = open_raw(path, "tilt series")
    data = raw.data
    if not isinstance(data, np.memmap) and kind == "tiff":
        # a compressed or tiled TIFF cannot be memory-mapped: keep it in this process once
        data = np.asarray(data)
    return data


@dataclass(frozen=True)
class LazySeries:
    """A tilt series read slab by slab; picklable (a worker reopens the file by its path).

    Indexing ``series[:, y0:y1, :]`` returns a float32 array ``(n_tilts, y1 - y0, nx)`` in the
    project's convention (tilt axis along ``y``), with the file's detector offset subtracted.

    Attributes
    ----------
    path : str
        MRC, TIFF (memory-mappable for true laziness) or Zarr array.
    kind : {"mrc", "tiff", "zarr"}
    shape : (n_tilts, ny, nx)
        In the project's convention (after transposition when the file's tilt axis is ``x``).
    tilt_angles_deg : ndarray
    pixel_size_A : float or None
    transpose : bool
        The file's tilt axis runs along ``x``: images are transposed on reading.
    offset : float or None
        Subtracted from every value (integer detectors; see :func:`napari_irdm.io.detect_offset`).
    angle_source : str
    provenance : tuple of str
    """

    path: str
    kind: str
    shape: tuple[int, int, int]
    tilt_angles_deg: np.ndarray = field(repr=False)
    pixel_size_A: float | None = None
    transpose: bool = False
    offset: float | None = None
    angle_source: str = "unknown"
    provenance: tuple[str, ...] = ()
    mtime_ns: int = 0

    dtype = np.dtype(np.float32)
    ndim = 3

    def _data(self):
        return _open_data(self.path, self.kind, self.mtime_ns)

    def read(self, y0: int, y1: int, tilts=slice(None)) -> np.ndarray:
        """Slices ``y0:y1`` (of the images ``tilts``) as float32 ``(n_tilts, y1 - y0, nx)``."""
        data = self._data()
        block = data[tilts, :, y0:y1].transpose(0, 2, 1) if self.transpose else data[tilts, y0:y1, :]
        out = np.array(block, dtype=np.float32)
        if self.offset is not None:
            out -= np.float32(self.offset)
        return out

    def read_rows(self, rows) -> np.ndarray:
        """The y-slices ``rows`` (any list of indices) as float32 ``(n_tilts, len(rows), nx)``."""
        rows = [int(r) for r in rows]
        return np.concatenate([self.read(r, r + 1) for r in rows], axis=1)

    def __getitem__(self, key):
        # what dask.array.from_array and the tomo functions ask for: (all, slice, all) or more
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        ky = key[1]
        if isinstance(ky, slice) and ky.step in (None, 1):
            y0, y1, _ = ky.indices(self.shape[1])
            kt = key[0] if isinstance(key[0], slice) else slice(None)
            block = self.read(y0, max(y0, y1), kt)
            return block[:, :, key[2]] if kt is key[0] else block[key[0], :, key[2]]
        ys = np.arange(self.shape[1])[ky]
        return self.read_rows(np.atleast_1d(ys))[key[0], :, key[2]].reshape(
            np.empty(self.shape, dtype=bool)[key].shape)

    def __len__(self) -> int:
        return self.shape[0]


def _zarr_series(path: Path, tilt_angles_deg, pixel_size_A, tilt_axis: str) -> LazySeries:
    import zarr

    node = zarr.open(str(path), mode="r")
    arr = node if isinstance(node, zarr.Array) else node["0"]
    if not isinstance(arr, zarr.Array):
        raise ValueError(f"{path}/0 is a zarr group, not an array: give the store of a (n_tilts, ny, nx) array")
    attrs = dict(getattr(node, "attrs", {}))
    meta = attrs.get("napari_irdm", attrs)
    if arr.ndim != 3:
        raise ValueError(f"{path} holds a {arr.ndim}-D array: a tilt series must be (n_tilts, ny, nx)")
    angles = tilt_angles_deg if tilt_angles_deg is not None else meta.get("tilt_angles_deg")
    if angles is None:
        raise ParameterError(f"no tilt angles for {path}: give `tilt_angles_deg` (or store 'tilt_angles_deg' in its "
                             "attrs)", "tilt_angles_deg")
    from napari_irdm.geometry import check_angles

    angles = check_angles(np.asarray(angles, np.float64), arr.shape[0], what=str(path),
                          source="explicit" if tilt_angles_deg is not None else "zarr attributes")
    px = pixel_size_A if pixel_size_A is not None else meta.get("pixel_size_A")
    n, ny, nx = (int(s) for s in arr.shape)
    shape = (n, nx, ny) if tilt_axis == "x" else (n, ny, nx)
    return LazySeries(str(path), "zarr", shape, angles, float(px) if px else None, tilt_axis == "x", None,
                      "explicit" if tilt_angles_deg is not None else "zarr attributes",
                      (f"read {path.name}: zarr {arr.dtype}",), path.stat().st_mtime_ns)


def open_series(path: str | os.PathLike, *, tilt_angles_deg=None, tilt_range=None, tilt_step=None,
                angles_file=None, tilt_axis: str = "y", pixel_size_A: float | None = None,
                offset="auto") -> LazySeries:
    """Open a tilt series on disk without reading it (MRC memmap, TIFF, Zarr).

    Angles, pixel size and offset are found exactly as :func:`napari_irdm.io.read_tilt_series`
    finds them (sidecar ``.rawtlt``/``.tlt``/``.mdoc``, extended header, ...). An in-plane
    rotation needs whole images and is not supported here: align first (``napari-irdm align``).

    Returns
    -------
    LazySeries
    """
    from napari_irdm.io._errors import as_path
    from napari_irdm.io._raw import check_axis, open_raw, resolve_angles, resolve_pixel

    axis = check_axis(tilt_axis, path)
    path = as_path(path, "tilt series")
    if path.suffix.lower() in ZARR_SUFFIXES:
        if not path.exists():
            raise ValueError(f"tilt series {path} does not exist: check the path")
        return _zarr_series(path, tilt_angles_deg, pixel_size_A, axis)
    raw = open_raw(path, "tilt series")
    n, ny, nx = (int(s) for s in raw.data.shape)
    angles, source = resolve_angles(raw, n, tilt_angles_deg=tilt_angles_deg, tilt_range=tilt_range,
                                    tilt_step=tilt_step, angles_file=angles_file, required=True)
    assert angles is not None  # required=True raises instead of returning None
    px, _ = resolve_pixel(raw, pixel_size_A)
    off = None
    if offset == "auto":
        from napari_irdm.io import detect_offset

        off = detect_offset(raw.data)
    elif offset is not None:
        off = float(offset) or None
    shape = (n, nx, ny) if axis == "x" else (n, ny, nx)
    prov = [f"read {raw.path.name}: {raw.describe()}, {n}x{ny}x{nx} (lazily, slab by slab)",
            f"tilt angles from {source}"]
    if off is not None:
        prov.append(f"subtracted detector offset {off:g}")
    return LazySeries(str(raw.path), raw.kind, shape, angles, px, axis == "x", off, source, tuple(prov),
                      raw.path.stat().st_mtime_ns)


def as_dask(series, *, slab: int | None = None):
    """A tilt series (``LazySeries``, ``TiltSeries``, array) as a dask array chunked in slabs along ``y``."""
    import dask.array as da

    from napari_irdm.data import TiltSeries

    if isinstance(series, TiltSeries):
        series = series.data
    if isinstance(series, da.Array):
        arr = series
    else:
        arr = da.from_array(series, chunks=(series.shape[0], slab or 16, series.shape[2]),
                            asarray=False if isinstance(series, LazySeries) else None,
                            meta=np.empty((0, 0, 0), np.float32))
    if slab:
        arr = arr.rechunk((arr.shape[0], slab, arr.shape[2]))
    return arr
