"""Microscope formats through RosettaSciIO: Velox / Berkeley EMD, DM3/DM4, TIA SER/EMI, HyperSpy/etspy ``.hspy``.

Also a folder of one-image files (one per tilt), sorted by the stage tilt each file records.
Angles come from, in order: the caller, the file (a navigation axis in degrees such as etspy's
``Tilt`` axis, ``metadata.Tomography.tilts`` / ``Tilt_series.tilts``, the stage ``tilt_alpha``
of each image of a folder), a sidecar ``.rawtlt`` / ``.tlt``. The pixel size comes from the
calibrated image axes (nm, Å, µm...).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = ["RSCIIO_SUFFIXES", "handles", "read_rsciio"]

#: file suffix -> RosettaSciIO plugin module
RSCIIO_SUFFIXES = {
    ".hspy": "hspy",
    ".emd": "emd",
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".ser": "tia",
    ".emi": "tia",
}
_TO_A = {"nm": 10.0, "a": 1.0, "å": 1.0, "angstrom": 1.0, "µm": 1e4, "um": 1e4, "pm": 0.01, "m": 1e10, "mm": 1e7}


def handles(path) -> bool:
    """True for a file with a RosettaSciIO suffix, or a folder holding such files."""
    p = Path(path)
    if p.is_dir():
        return any(f.suffix.lower() in RSCIIO_SUFFIXES for f in p.iterdir())
    return p.suffix.lower() in RSCIIO_SUFFIXES


def _reader(path: Path):
    name = RSCIIO_SUFFIXES[path.suffix.lower()]
    try:
        return importlib.import_module(f"rsciio.{name}").file_reader
    except ImportError as err:
        raise ValueError(
            f"reading {path.name} needs RosettaSciIO: pip install 'napari-irdm[formats]' (rosettasciio, h5py) ({err})"
        ) from err


def _signals(path: Path, *, lazy: bool = False) -> list[dict]:
    """The image signals of a file; ``lazy``: their data as Dask arrays (read when sliced)."""
    try:
        sigs = _reader(path)(str(path), lazy=lazy)
    except ValueError:
        raise
    except Exception as err:  # damaged / foreign file: one line naming it
        first = (str(err).splitlines() or [""])[0][:120]
        raise ValueError(f"{path} could not be read as {path.suffix} ({type(err).__name__}: {first}): "
                         "re-export it from the microscope software") from None
    images = [s for s in sigs if getattr(s.get("data"), "ndim", 0) in (2, 3)
              and np.dtype(s["data"].dtype).kind in "biuf"]
    if not images:
        raise ValueError(f"{path} holds no image stack (found {len(sigs)} signals, none 2-D/3-D real images)")
    return images


def _pixel_A(sig: dict) -> float | None:
    axes = sig.get("axes") or []
    if len(axes) < 2:
        return None
    ax = axes[-1]
    unit = str(ax.get("units") or "").strip().lower()
    scale = float(ax.get("scale") or 0.0)
    if unit in _TO_A and scale > 0:
        return scale * _TO_A[unit]
    return None


def _nested(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _angles(sig: dict) -> tuple[np.ndarray | None, str]:
    md = sig.get("metadata") or {}
    for keys in (("Tomography", "tilts"), ("Tilt_series", "tilts"), ("Tomography", "tilt_angles")):
        v = _nested(md, *keys)
        if v is not None and np.size(v) > 1:
            return np.asarray(v, np.float64).ravel(), f"file metadata {'.'.join(keys)}"
    data = sig["data"]
    if data.ndim == 3:
        ax = (sig.get("axes") or [{}])[0]
        unit = str(ax.get("units") or "").strip().lower()
        if unit in ("deg", "degree", "degrees", "°") and float(ax.get("scale") or 0) != 0:
            a = float(ax.get("offset") or 0) + float(ax["scale"]) * np.arange(data.shape[0])
            return a, f"file tilt axis '{ax.get('name', '')}'"
    alpha = _nested(md, "Acquisition_instrument", "TEM", "Stage", "tilt_alpha")
    if alpha is not None:
        return np.atleast_1d(np.asarray(alpha, np.float64)), "stage tilt_alpha"
    return None, "none"


def read_rsciio(path) -> tuple[np.ndarray, np.ndarray | None, str, float | None, str]:
    """``(data (n, ny, nx), angles or None, angle source, pixel size Å or None, description)``.

    The data of a single file is a lazy (Dask) array, read when sliced; a folder's is NumPy.
    """
    p = Path(path)
    if p.is_dir():
        return _read_folder(p)
    sig = max(_signals(p, lazy=True), key=lambda s: s["data"].size)
    data = sig["data"]
    if data.ndim == 2:
        data = data[None]
    angles, source = _angles(sig)
    if angles is not None and angles.size != data.shape[0]:
        angles, source = None, "none"
    return data, angles, source, _pixel_A(sig), f"{p.suffix.lstrip('.').upper()} via RosettaSciIO"


def _read_folder(folder: Path):
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in RSCIIO_SUFFIXES)
    images, angles, px = [], [], None
    for f in files:
        sig = max(_signals(f), key=lambda s: np.asarray(s["data"]).size)
        d = np.asarray(sig["data"])
        if d.ndim != 2:
            raise ValueError(f"{f} holds a {d.ndim}-D stack: a folder series needs one image per file")
        a, _ = _angles(sig)
        if a is None or a.size != 1:
            raise ParameterError(f"{f} records no stage tilt: give the angles in `angles_file` (in file-name order)",
                                 "angles_file")
        images.append(d)
        angles.append(float(a[0]))
        px = px or _pixel_A(sig)
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"images in {folder} differ in size ({sorted(shapes)}): crop them to one size first")
    order = np.argsort(angles, kind="stable")
    data = np.stack([images[i] for i in order])
    return data, np.asarray(angles)[order], f"stage tilt of {len(files)} files (sorted)", px, f"folder of {len(files)} files"
