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

#: extensions of tilt series (always read as such)
SERIES_EXTENSIONS = (".st", ".ali", ".mrcs", ".preali")
#: microscope formats read through RosettaSciIO (always tilt series)
MICROSCOPE_EXTENSIONS = (".emd", ".dm3", ".dm4", ".ser", ".emi", ".hspy")
#: extensions of reconstructed volumes
VOLUME_EXTENSIONS = (".rec",)
#: extensions read as a tilt series when angles are found, else as a volume
EITHER_EXTENSIONS = (".mrc", ".tif", ".tiff", ".map")
EXTENSIONS = SERIES_EXTENSIONS + MICROSCOPE_EXTENSIONS + VOLUME_EXTENSIONS + EITHER_EXTENSIONS


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


def _written_as_volume(p: str) -> bool:
    """True for a file napari-irdm wrote as a volume (MRC space group 1, TIFF axes ZYX)."""
    try:
        if p.lower().endswith((".tif", ".tiff")):
            import tifffile

            with tifffile.TiffFile(p) as tf:
                return tf.series[0].axes.upper().startswith("Z")
        import mrcfile

        with mrcfile.open(p, header_only=True, permissive=True) as mrc:
            return int(mrc.header.ispg) == 1
    except Exception:  # noqa: BLE001
        return False


def _read(p: str) -> list[tuple]:
    from napari_irdm import io

    ext = Path(p).suffix.lower()
    stem = Path(p).stem
    if ext in VOLUME_EXTENSIONS:
        return [volume_layer_data(io.read_volume(p), name=stem, metadata={"source": p})]
    try:
        series = io.read_tilt_series(p)
    except ValueError:
        if ext in SERIES_EXTENSIONS + MICROSCOPE_EXTENSIONS:
            raise
        # no tilt angles anywhere: a volume (or a stack the user gives angles for in the widget)
        return [volume_layer_data(io.read_volume(p), name=stem, metadata={"source": p})]
    # angles from our own header/metadata (not a sidecar file): a volume we wrote keeps the
    # angles of its series there too, and says it is a volume (MRC ispg 1, TIFF axes ZYX)
    if ext in EITHER_EXTENSIONS and str(series.angle_source).startswith("napari-irdm") and _written_as_volume(p):
        return [volume_layer_data(io.read_volume(p), name=stem, metadata={"source": p})]
    return [series_layer_data(series, name=stem)]


def read_layers(path) -> list[tuple] | None:
    """Read a tilt series or a volume into napari layer-data tuples.

    Tilt series get ``scale = (1, px, px)`` and volumes ``(px, px, px)`` with ``px`` in Å;
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
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        try:
            from napari.utils.notifications import show_warning

            show_warning(f"napari-irdm could not open {Path(p).name}: {msg}")
        except Exception:  # noqa: BLE001
            log.warning("napari-irdm could not open %s: %s", p, msg)
        return None
