"""Multi-page TIFF and ImageJ hyperstacks through ``tifffile``.

Pixel size is read from, in order: the JSON block napari-irdm writes in the ImageJ
``Info`` property (exact), else the ImageJ ``unit`` with the ``XResolution`` tag
(pixels per unit). Plain TIFF resolution (dots per inch) is ignored: it is almost
always a 72/96/300 dpi placeholder, not a physical size.

Writing is atomic and ImageJ-compatible: float32, axes ``ZYX`` (volumes) or ``TYX``
(tilt series), ``unit = nm``, ``XResolution = YResolution = 1 / pixel size`` and
``spacing`` (Fiji shows the voxel size in Properties).
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_irdm.io._atomic import atomic_path
from napari_irdm.io._errors import missing_file

__all__ = ["TIFF_SUFFIXES", "TiffContents", "is_tiff_header", "open_tiff", "write_tiff"]

TIFF_SUFFIXES = (".tif", ".tiff")

#: ImageJ unit strings -> Ångström per unit
_UNIT_A = {
    "a": 1.0, "å": 1.0, "\u212b": 1.0, "angstrom": 1.0, "angstroms": 1.0, "ang": 1.0,
    "pm": 0.01, "nm": 10.0, "nanometer": 10.0, "nanometers": 10.0, "nanometre": 10.0,
    "micron": 1e4, "microns": 1e4, "um": 1e4, "µm": 1e4, "μm": 1e4, "\\u00b5m": 1e4,
    "mm": 1e7, "cm": 1e8, "m": 1e10,
}


@dataclass
class TiffContents:
    """What :func:`open_tiff` found: data (loaded), pixel size, axes, napari-irdm metadata."""

    path: Path
    data: np.ndarray
    axes: str
    pixel_size_A: float | None
    pixel_source: str | None
    irdm_metadata: dict | None
    warnings: list[str] = field(default_factory=list)


def is_tiff_header(head: bytes) -> bool:
    """True when ``head`` starts with a TIFF or BigTIFF byte-order mark and magic number."""
    return head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def open_tiff(path: str | os.PathLike) -> TiffContents:
    """Read a multi-page TIFF / ImageJ hyperstack as a 3-D array (singleton axes dropped).

    Raises
    ------
    ValueError
        Missing, empty, corrupt or colour file, or data that is not a 3-D stack.
    """
    import tifffile

    path = Path(path)
    if not path.exists():
        raise missing_file(path, "TIFF file")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a TIFF file: give the file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): re-copy or re-export the file")
    with open(path, "rb") as fh:
        if not is_tiff_header(fh.read(4)):
            raise ValueError(f"{path} is not a TIFF file (bad magic number): check the file or its format")
    import logging

    tiff_log = logging.getLogger("tifffile")
    old_level, old_prop = tiff_log.level, tiff_log.propagate
    tiff_log.setLevel(logging.CRITICAL + 1)  # tifffile logs damage itself; our one-line error says it once
    tiff_log.propagate = False
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes = series.axes
            data = series.asarray()
            ij = tif.imagej_metadata or {}
            page = typing.cast(tifffile.TiffPage, tif.pages[0])  # the first page is never a TiffFrame
            photometric = int(page.photometric)
            xres = page.tags.get("XResolution")
            xres = xres.value if xres is not None else None
    except Exception as err:  # tifffile raises many types for damaged files
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a readable TIFF file ({text}): re-copy or re-export the file") from None
    finally:
        tiff_log.setLevel(old_level)
        tiff_log.propagate = old_prop
    if photometric == 3:  # PALETTE: the values are indices into a colour map, not intensities
        raise ValueError(f"{path} is a palette-colour (indexed) TIFF: its values are colour indices, not "
                         "intensities; save the stack as grey-scale (e.g. Fiji: Image > Type > 32-bit)")
    if data.dtype.kind == "c":
        raise ValueError(f"{path} holds complex data: give real-valued images")
    if data.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {data.dtype} data: give grey-scale images")
    # Grey-scale writers (tifffile, ImageJ without axes metadata) may label the stack axis
    # "S" (samples) or "C" (channels); only real colour (RGB, palette, YCbCr...) is refused.
    colour = photometric not in (0, 1)  # MINISWHITE, MINISBLACK
    for colour_axis in "SC":
        if colour and colour_axis in axes and data.shape[axes.index(colour_axis)] > 1:
            raise ValueError(f"{path} has colour channels (axes {axes}, shape {data.shape}): save a grey-scale stack")
    keep = [i for i, s in enumerate(data.shape) if s > 1 or axes[i] in "YX"]
    data = data.reshape([data.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    meta = _irdm_meta(ij.get("Info"), path)
    px, source = None, None
    if meta is not None and meta.get("pixel_size_A"):
        px, source = float(meta["pixel_size_A"]), "napari-irdm TIFF metadata"
    else:
        unit = str(ij.get("unit", "")).strip().lower()
        if unit in _UNIT_A and xres is not None and xres[0] > 0 and xres[1] > 0:
            px = float(f"{xres[1] / xres[0] * _UNIT_A[unit]:.6g}")
            source = f"ImageJ resolution ({unit})"
    return TiffContents(path=path, data=data, axes=axes, pixel_size_A=px, pixel_source=source, irdm_metadata=meta)


def _irdm_meta(info, path) -> dict | None:
    from napari_irdm.io.mrc import check_irdm_metadata

    if not isinstance(info, str) or '"napari_irdm"' not in info:
        return None
    try:
        meta = json.loads(info)
    except json.JSONDecodeError:
        return None
    return check_irdm_metadata(meta, path, "TIFF metadata") if isinstance(meta, dict) else None


def write_tiff(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    pixel_size_A: float | None = None,
    provenance: Sequence[str] = (),
    tilt_angles_deg=None,
    axes: str = "ZYX",
) -> Path:
    """Write a 3-D array as an ImageJ-compatible float32 TIFF; atomic.

    Parameters
    ----------
    data : ndarray, shape (nz, ny, nx)
    pixel_size_A
        Voxel size in Å (stored in nm, ImageJ's unit, and exactly in the ``Info`` JSON).
    provenance, tilt_angles_deg
        Kept in the ImageJ ``Info`` property as JSON.
    axes
        ``"ZYX"`` (volume) or ``"TYX"`` (tilt series).
    """
    import tifffile

    from napari_irdm import __version__

    path = Path(path)
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"cannot write {path}: data has shape {data.shape}, need 3-D (nz, ny, nx)")
    meta_json = json.dumps(
        {
            "napari_irdm": __version__,
            "kind": "tilt series" if axes.upper().startswith("T") else "volume",
            "pixel_size_A": None if pixel_size_A is None else float(pixel_size_A),
            "tilt_angles_deg": None if tilt_angles_deg is None else [float(v) for v in np.ravel(tilt_angles_deg)],
            "provenance": [str(p) for p in provenance],
        },
        ensure_ascii=True,
    )
    metadata: dict = {"axes": axes, "Info": meta_json}
    kwargs: dict = {}
    if pixel_size_A is not None:
        px_nm = float(pixel_size_A) / 10.0
        metadata.update(unit="nm", spacing=px_nm)
        kwargs["resolution"] = (1.0 / px_nm, 1.0 / px_nm)
    from napari_irdm.io._atomic import ensure_free_space, format_bytes

    nbytes = 4 * int(data.size) + 65536
    ensure_free_space(path, nbytes, what=f"the {'x'.join(map(str, data.shape))} float32 TIFF ({format_bytes(nbytes)})")
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data.astype(np.float32, copy=False), imagej=True, metadata=metadata, **kwargs)
    return path
