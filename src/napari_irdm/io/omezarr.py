"""OME-Zarr volumes: written slab by slab (by many processes at once), read lazily and multiscale.

A volume ``(nz, ny, nx)`` is stored as an OME-NGFF 0.4 multiscale image (zarr format 2,
written with the ``ome-zarr`` package): level ``"0"`` at full resolution and levels
``"1" … "L-1"`` each a 2×2×2 mean of the one before, with axes ``z, y, x`` of type space in
unit ``"angstrom"`` and per level a ``scale`` (voxel size × 2^k) and a ``translation`` (so the
levels overlay). The tilt angles, the voxel size and the provenance are kept in the group's
attributes under ``"napari_irdm"``.

Writing is atomic: :func:`create_omezarr` makes the store under a temporary name in the
target's folder; the slabs are written into it (:meth:`OmeZarrTarget.write_slab`, safe from
several processes as long as the slabs are whole chunks along ``y``, which the slab engine
guarantees); :meth:`OmeZarrTarget.commit` renames it into place, :meth:`OmeZarrTarget.abort`
deletes it. An interrupted run leaves the target as it was.

Importing this module loads NumPy only; ``zarr`` / ``ome-zarr`` / ``dask`` are imported on use.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

__all__ = ["OmeZarrTarget", "OmeZarrVolume", "create_omezarr", "downsample2", "is_omezarr", "open_omezarr",
           "read_omezarr", "write_omezarr"]

#: the key of our metadata in the group attributes
ATTRS_KEY = "napari_irdm"
#: smallest edge kept in the coarsest pyramid level
MIN_LEVEL_EDGE = 32
#: at most this many levels (full resolution included)
MAX_LEVELS = 6
#: chunk edge along z and x (y follows the slabs)
CHUNK_ZX = 256


def is_omezarr(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding an OME-Zarr multiscale image (v2 or v3 zarr)."""
    p = Path(path)
    if not p.is_dir():
        return False
    for name in (".zattrs", "zarr.json"):
        f = p / name
        if f.is_file():
            try:
                meta = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return False
            attrs = meta.get("attributes", meta) if name == "zarr.json" else meta
            return "multiscales" in attrs or "multiscales" in attrs.get("ome", {})
    return False


def _ngff_version(path: Path) -> str | None:
    """The OME-NGFF version a store declares (``"0.4"``, ``"0.5"``...), ``None`` if unknown."""
    for name in (".zattrs", "zarr.json"):
        f = path / name
        if f.is_file():
            try:
                meta = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            attrs = meta.get("attributes", meta) if name == "zarr.json" else meta
            if "ome" in attrs:
                return attrs["ome"].get("version")
            ms = attrs.get("multiscales") or [{}]
            return ms[0].get("version")
    return None


def n_levels_for(shape: tuple[int, int, int], slab: int | None = None) -> int:
    """Pyramid levels for ``shape``.

    Halve until the smallest edge would drop below
    :data:`MIN_LEVEL_EDGE` (at least 1, at most :data:`MAX_LEVELS`); with ``slab``, also
    ``2^(L-1)`` must divide it (so every slab maps onto whole chunks of every level).
    """
    levels = 1
    while levels < MAX_LEVELS and min(shape) // 2**levels >= MIN_LEVEL_EDGE:
        levels += 1
    if slab is not None:
        while levels > 1 and slab % 2 ** (levels - 1):
            levels -= 1
    return levels


def downsample2(block: np.ndarray) -> np.ndarray:
    """2×2×2 mean of a 3-D block; odd edges are padded by repeating the last voxel."""
    pad = [(0, s % 2) for s in block.shape]
    if any(p[1] for p in pad):
        block = np.pad(block, pad, mode="edge")
    z, y, x = (s // 2 for s in block.shape)
    return block.reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5), dtype=np.float32).astype(np.float32, copy=False)


def _level_shape(shape, k: int) -> tuple[int, ...]:
    return tuple(-(-int(s) // 2**k) for s in shape)


@dataclass(frozen=True)
class OmeZarrTarget:
    """A volume store being written (picklable: workers reopen it by path).

    Attributes
    ----------
    path : str
        Final location (``*.zarr`` folder).
    tmp : str
        Temporary store the slabs go into (same folder as ``path``).
    shape : (nz, ny, nx)
    chunk_y : int
        Slices per chunk along ``y`` at level 0 (slabs must start at multiples of it).
    n_levels : int
    """

    path: str
    tmp: str
    shape: tuple[int, int, int]
    chunk_y: int
    n_levels: int

    def write_slab(self, y0: int, y1: int, block: np.ndarray) -> None:
        """Write ``volume[:, y0:y1, :] = block`` into every pyramid level.

        ``y0`` must be a multiple of :attr:`chunk_y` and ``y1 - y0`` equal to it (or the
        rest of the volume), so that no chunk is shared with another slab.
        """
        import zarr

        block = np.asarray(block, dtype=np.float32)
        if y0 % self.chunk_y or (y1 - y0 != self.chunk_y and y1 != self.shape[1]):
            raise ValueError(f"slab {y0}:{y1} does not fall on the {self.chunk_y}-slice chunks of {self.path}")
        if tuple(block.shape) != (self.shape[0], y1 - y0, self.shape[2]):
            raise ValueError(f"slab {y0}:{y1} has shape {block.shape}, expected "
                             f"{(self.shape[0], y1 - y0, self.shape[2])}")
        if not Path(self.tmp).is_dir():  # aborted (cancelled run): never recreate the store
            raise FileNotFoundError(f"the temporary store of {self.path} is gone (run cancelled)")
        for k in range(self.n_levels):
            arr = zarr.open_array(os.path.join(self.tmp, str(k)), mode="r+")
            arr[:, y0 // 2**k : y0 // 2**k + block.shape[1], :] = block
            if k + 1 < self.n_levels:
                block = downsample2(block)

    def commit(self) -> Path:
        """Rename the finished store into place (an existing OME-Zarr there is replaced)."""
        final, tmp = Path(self.path), Path(self.tmp)
        old = None
        if final.exists():
            if not is_omezarr(final):
                raise ValueError(f"cannot replace {final}: it exists and is not an OME-Zarr image; "
                                 "remove it or choose another name")
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except OSError:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def abort(self) -> None:
        """Delete the temporary store (the target is left as it was)."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def _check_target(path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".zarr":
        raise ValueError(f"OME-Zarr output {path} must end in .zarr")
    if path.exists() and not is_omezarr(path):
        raise ValueError(f"{path} exists and is not an OME-Zarr image: remove it or choose another name")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {path}: folder {path.parent} does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"cannot write {path}: folder {path.parent} is not writable")
    return path


def create_omezarr(
    path: str | os.PathLike,
    shape,
    *,
    pixel_size_A: float | None = None,
    tilt_angles_deg=None,
    provenance=(),
    chunk_y: int = 16,
    n_levels: int | None = None,
    extra_attrs: dict[str, Any] | None = None,
) -> OmeZarrTarget:
    """Create an empty OME-Zarr volume store under a temporary name.

    Fill it with :meth:`OmeZarrTarget.write_slab`, then :meth:`~OmeZarrTarget.commit` (or ``abort``).

    Parameters
    ----------
    path : path
        Final ``*.zarr`` folder (created at commit; an existing OME-Zarr is replaced then).
    shape : (nz, ny, nx)
        Volume shape.
    pixel_size_A : float, optional
        Voxel size in Å (``None``: unknown; the metadata then carries scale 1 and no unit).
    tilt_angles_deg : array_like, optional
        Angles of the series the volume came from (kept in the attributes).
    provenance : sequence of str
        History lines (kept in the attributes).
    chunk_y : int
        Slices per chunk along ``y`` (the slab size of the writer).
    n_levels : int, optional
        Pyramid levels (default :func:`n_levels_for`).
    extra_attrs : dict, optional
        More JSON-able entries for the ``napari_irdm`` attributes.

    Returns
    -------
    OmeZarrTarget
    """
    import zarr
    from ome_zarr.format import FormatV04

    with warnings.catch_warnings():  # ome-zarr 0.18 warns about its own default Scaler on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_multiscales_metadata

    path = _check_target(Path(path))
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"cannot create {path} with shape {shape}: give a positive 3-D shape (nz, ny, nx)")
    chunk_y = int(chunk_y)
    if chunk_y < 1:
        raise ValueError(f"chunk_y must be a positive number of slices, got {chunk_y}")
    if pixel_size_A is not None and not (np.isfinite(float(pixel_size_A)) and float(pixel_size_A) > 0):
        raise ValueError(f"pixel size {pixel_size_A!r} Å for {path} must be a positive number of Ångström")
    levels = n_levels_for(shape, chunk_y) if n_levels is None else int(n_levels)
    if levels < 1 or chunk_y % 2 ** (levels - 1):
        raise ValueError(f"{levels} pyramid levels need chunk_y a multiple of {2 ** (levels - 1)}, got {chunk_y}")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        px = float(pixel_size_A) if pixel_size_A is not None else 1.0
        datasets = []
        for k in range(levels):
            lshape = _level_shape(shape, k)
            chunks = (min(lshape[0], CHUNK_ZX), max(1, chunk_y // 2**k), min(lshape[2], CHUNK_ZX))
            root.create_array(str(k), shape=lshape, chunks=chunks, dtype="<f4", fill_value=0.0)
            f = float(2**k)
            datasets.append({"path": str(k), "coordinateTransformations": [
                {"type": "scale", "scale": [px * f] * 3},
                {"type": "translation", "translation": [px * (f - 1) / 2] * 3}]})
        unit = {"unit": "angstrom"} if pixel_size_A is not None else {}
        axes = [{"name": a, "type": "space", **unit} for a in ("z", "y", "x")]
        write_multiscales_metadata(root, datasets, fmt=FormatV04(), axes=axes, name=path.stem)
        meta = {
            "kind": "volume",
            "pixel_size_A": float(pixel_size_A) if pixel_size_A is not None else None,
            "tilt_angles_deg": None if tilt_angles_deg is None else [float(a) for a in np.ravel(tilt_angles_deg)],
            "provenance": [str(p) for p in provenance],
            "complete": False,
        }
        meta.update(extra_attrs or {})
        root.attrs[ATTRS_KEY] = meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return OmeZarrTarget(path=str(path), tmp=str(tmp), shape=shape, chunk_y=chunk_y, n_levels=levels)


def mark_complete(target: OmeZarrTarget, **more) -> None:
    """Set ``complete: true`` (and ``more``) in the attributes of the temporary store."""
    import zarr

    root = zarr.open_group(target.tmp, mode="r+")
    meta = dict(cast(dict[str, Any], root.attrs.get(ATTRS_KEY, {})))  # our own attrs: a JSON object
    meta.update(more)
    meta["complete"] = True
    root.attrs[ATTRS_KEY] = meta


def write_omezarr(path, volume, *, pixel_size_A=None, tilt_angles_deg=None, provenance=(), chunk_y: int = 16,
                  n_levels: int | None = None) -> Path:
    """Write an in-memory (or dask / memory-mapped) volume ``(nz, ny, nx)`` as OME-Zarr, atomically."""
    shape = tuple(int(s) for s in volume.shape)
    if len(shape) != 3:
        raise ValueError(f"cannot write {path}: data has shape {shape}, need 3-D (nz, ny, nx)")
    target = create_omezarr(path, shape, pixel_size_A=pixel_size_A, tilt_angles_deg=tilt_angles_deg,
                            provenance=provenance, chunk_y=chunk_y, n_levels=n_levels)
    try:
        for y0 in range(0, shape[1], chunk_y):
            y1 = min(shape[1], y0 + chunk_y)
            target.write_slab(y0, y1, np.asarray(volume[:, y0:y1, :], dtype=np.float32))
        mark_complete(target)
        return target.commit()
    except BaseException:
        target.abort()
        raise


@dataclass(frozen=True)
class OmeZarrVolume:
    """A lazily opened OME-Zarr volume.

    Attributes
    ----------
    levels : list of dask arrays, each ``(nz_k, ny_k, nx_k)``
        Full resolution first.
    scales : list of (3,) tuples
        Voxel size of each level along ``z, y, x`` (Å when ``unit`` is ``"angstrom"``).
    translations : list of (3,) tuples
        Offset of each level's first voxel centre.
    unit : str or None
    pixel_size_A : float or None
    tilt_angles_deg : ndarray or None
    provenance : tuple of str
    complete : bool or None
        ``False`` for a store whose writer did not finish (never committed by us).
    """

    levels: list
    scales: list
    translations: list
    unit: str | None
    pixel_size_A: float | None
    tilt_angles_deg: np.ndarray | None
    provenance: tuple[str, ...]
    complete: bool | None = None

    @property
    def data(self):
        """The full-resolution level."""
        return self.levels[0]

    def volume(self):
        """The full-resolution level as a :class:`napari_irdm.data.Volume` (data stays lazy)."""
        from napari_irdm.data import Volume

        return Volume(data=self.levels[0], pixel_size_A=self.pixel_size_A, tilt_angles_deg=self.tilt_angles_deg,
                      provenance=self.provenance)


_UNIT_TO_A = {"angstrom": 1.0, "nanometer": 10.0, "micrometer": 1e4, "millimeter": 1e7, "meter": 1e10,
              "picometer": 0.01}


def open_omezarr(path: str | os.PathLike) -> OmeZarrVolume:
    """Open an OME-Zarr image (ours or any 3-D ``z, y, x`` one) lazily, all pyramid levels.

    Raises
    ------
    ValueError
        Not an OME-Zarr image, not 3-D, or axes that are not ``z, y, x``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Multiscales, Reader

    p = Path(path)
    if not is_omezarr(p):
        raise ValueError(f"{p} is not an OME-Zarr image (no multiscales metadata): give a .zarr folder "
                         "written by napari-irdm or another OME-Zarr writer")
    from ome_zarr.format import CurrentFormat, format_from_version

    version = _ngff_version(p)
    try:
        fmt = format_from_version(version) if version else CurrentFormat()
    except ValueError:
        fmt = CurrentFormat()
    loc = parse_url(str(p), mode="r", fmt=fmt)
    if loc is None:
        raise ValueError(f"{p} cannot be opened as OME-Zarr")
    nodes = [n for n in Reader(loc)() if n.first(Multiscales) is not None]
    if not nodes:
        raise ValueError(f"{p} holds no multiscale image")
    node = nodes[0]
    axes = [a["name"] if isinstance(a, dict) else a for a in node.metadata.get("axes", [])]
    levels = list(node.data)
    if levels[0].ndim != 3 or (axes and [str(a).lower() for a in axes] != ["z", "y", "x"]):
        raise ValueError(f"{p} holds a {levels[0].ndim}-D image with axes {axes}: a volume needs axes z, y, x")
    unit = None
    for a in node.metadata.get("axes", []):
        if isinstance(a, dict) and a.get("unit"):
            unit = str(a["unit"])
    scales, translations = [], []
    for k, trans in enumerate(node.metadata.get("coordinateTransformations") or [None] * len(levels)):
        s: tuple[float, ...] = (1.0,) * 3
        t: tuple[float, ...] = (0.0,) * 3
        for tr in trans or []:
            if tr.get("type") == "scale":
                s = tuple(float(v) for v in tr["scale"])
            elif tr.get("type") == "translation":
                t = tuple(float(v) for v in tr["translation"])
        if k == 0 and not trans:
            s = (1.0,) * 3
        scales.append(s)
        translations.append(t)
    import zarr

    attrs: dict = {}
    with contextlib.suppress(OSError, ValueError, KeyError):  # foreign stores may lack our attributes
        attrs = dict(zarr.open_group(str(p), mode="r").attrs)
    meta = attrs.get(ATTRS_KEY) or {}
    px = meta.get("pixel_size_A")
    if px is None and unit in _UNIT_TO_A and scales:
        px = scales[0][-1] * _UNIT_TO_A[unit]
    angles = meta.get("tilt_angles_deg")
    return OmeZarrVolume(
        levels=levels, scales=scales, translations=translations, unit=unit,
        pixel_size_A=float(px) if px else None,
        tilt_angles_deg=None if angles is None else np.asarray(angles, dtype=np.float64),
        provenance=tuple(str(v) for v in meta.get("provenance", ())),
        complete=meta.get("complete"),
    )


def read_omezarr(path: str | os.PathLike):
    """The full-resolution level of an OME-Zarr volume as a lazy :class:`napari_irdm.data.Volume`."""
    return open_omezarr(path).volume()
