"""napari reader for tilt series and volumes (MRC family and TIFF).

The reader never raises for a file it cannot read: :func:`napari_get_reader` returns
``None`` for foreign files, and the returned reader function returns ``None`` (after a
napari warning with the one-line reason) when a supported-looking file fails to open,
so napari can try other readers (DESIGN rule 10).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from napari_irdm._napari._layers import series_layer_data, volume_layer_data

__all__ = ["EXTENSIONS", "napari_get_reader", "read_layers"]

log = logging.getLogger(__name__)

#: what napari offers us: the MRC family and TIFF (napari_irdm.io decides series vs volume
#: from the header) and the microscope formats read through RosettaSciIO (tilt series)
MICROSCOPE_EXTENSIONS = (".emd", ".dm3", ".dm4", ".ser", ".emi", ".hspy")
EXTENSIONS = (".st", ".ali", ".mrcs", ".preali", ".rec", ".mrc", ".map", ".tif", ".tiff") + MICROSCOPE_EXTENSIONS


def _one_path(path) -> str | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        return os.fspath(path)
    except TypeError:
        return None


def napari_get_reader(path) -> Callable | None:
    """npe2 ``get_reader`` hook: a reader function for our files, ``None`` otherwise.

    Never raises.
    """
    try:
        p = _one_path(path)
        if p is None or not p.lower().endswith(EXTENSIONS) or not os.path.isfile(p):
            return None
        from napari_irdm.io import is_supported

        if not is_supported(p):
            return None
        return read_layers
    except Exception:  # noqa: BLE001 -- a reader hook must never raise
        log.debug("napari-irdm: not reading %r", path, exc_info=True)
        return None


def _read(p: str) -> list[tuple]:
    """One read: :func:`napari_irdm.io.read` says from the header whether it is a series or a volume."""
    from napari_irdm import io
    from napari_irdm.data import Volume

    got = io.read(p)
    stem = Path(p).stem
    if isinstance(got, Volume):
        return [volume_layer_data(got, name=stem, metadata={"source": p})]
    return [series_layer_data(got, name=stem)]


def read_layers(path) -> list[tuple] | None:
    """Read a tilt series or a volume into napari layer-data tuples.

    Which of the two a file holds comes from its header (:func:`napari_irdm.io.read`); a
    stack without tilt angles opens as a tilt-series layer whose ``tilt_angles_deg`` is
    ``None`` (give them in the Reconstruct widget). Both get ``scale = (px, px, px)`` in Å;
    ``metadata`` holds ``kind``, ``pixel_size_A``, ``tilt_angles_deg``, ``angle_source``,
    ``tilt_axis``, ``source`` and ``provenance``. Returns ``None`` (with a napari warning
    giving the reason) when the file cannot be read.
    """
    p = _one_path(path)
    if p is None:
        return None
    try:
        return _read(p)
    except Exception as err:  # noqa: BLE001 -- never raise from a reader
        could_not_open(p, err)
        return None


def could_not_open(p: str, err: BaseException) -> None:
    """One napari warning line (else a log line) saying why ``p`` was not opened."""
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    try:
        from napari.utils.notifications import show_warning

        show_warning(f"napari-irdm could not open {Path(p).name}: {msg}")
    except Exception:  # noqa: BLE001
        log.warning("napari-irdm could not open %s: %s", p, msg)
