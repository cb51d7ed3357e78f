"""Turn the core's data types into napari layer-data tuples and back (no Qt here).

Metadata keys every napari-irdm image layer carries (flat, so users can read them in the
console): ``kind`` (``"tilt_series"``, ``"volume"``, ``"spectrum"``...), ``pixel_size_A``,
``tilt_angles_deg`` (list or ``None``), ``angle_source``, ``tilt_axis`` (the image axis the
tilt axis runs along in the layer's data: ``"y"`` unless a user says otherwise),
``file_tilt_axis`` (along which it ran in the file), ``source``,
``provenance`` (tuple of str).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_irdm.data import TiltSeries, Volume

__all__ = [
    "layer_angles",
    "layer_pixel_size",
    "series_layer_data",
    "volume_from_layer",
    "volume_layer_data",
]


def _px(pixel_size_A: float | None) -> float:
    return float(pixel_size_A) if pixel_size_A and np.isfinite(pixel_size_A) and pixel_size_A > 0 else 1.0


def _angles_list(angles) -> list[float] | None:
    return None if angles is None else [float(a) for a in np.asarray(angles).ravel()]


def series_layer_data(series: TiltSeries, name: str | None = None, **extra: Any) -> tuple:
    """``(data, kwargs, "image")`` for a tilt series: scale ``(px, px, px)`` and the tilt index
    centred on a default volume's ``z`` (see :mod:`napari_irdm._napari._view`), so series and
    volumes share ``y``/``x`` exactly and never stretch each other's sliders."""
    from napari_irdm._napari._view import series_translate

    px = _px(series.pixel_size_A)
    data = np.asarray(series.data, dtype=np.float32)
    meta = {
        "kind": "tilt_series",
        "pixel_size_A": series.pixel_size_A,
        "tilt_angles_deg": _angles_list(series.tilt_angles_deg),
        "angle_source": series.angle_source,
        "tilt_axis": "y",  # in the layer's data: the reader already turned the images into the house frame
        "file_tilt_axis": series.tilt_axis,
        "source": series.source,
        "provenance": tuple(series.provenance),
    }
    kwargs = {
        "name": name or "tilt series",
        "scale": (px, px, px),
        "translate": series_translate(data.shape[0], data.shape[2], px),
        "axis_labels": ("tilt", "y", "x"),
        "metadata": meta,
        "colormap": "gray",
    }
    kwargs.update(extra)
    return (data, kwargs, "image")


def volume_layer_data(volume: Volume, name: str | None = None, *, kind: str = "volume", **extra: Any) -> tuple:
    """``(data, kwargs, "image")`` for a volume: scale ``(px, px, px)`` in Å."""
    px = _px(volume.pixel_size_A)
    meta = {
        "kind": kind,
        "pixel_size_A": volume.pixel_size_A,
        "tilt_angles_deg": _angles_list(volume.tilt_angles_deg),
        "provenance": tuple(volume.provenance),
    }
    meta.update(extra.pop("metadata", {}) or {})
    data = np.asarray(volume.data, dtype=np.float32)
    kwargs = {
        "name": name or "volume",
        "scale": (px, px, px),
        "axis_labels": ("z", "y", "x"),
        "metadata": meta,
        "colormap": "gray",
    }
    if data.size:
        lo, hi = np.percentile(data, [0.5, 99.8])
        if hi > lo:
            kwargs["contrast_limits"] = (float(lo), float(hi))
    kwargs.update(extra)
    return (data, kwargs, "image")


def layer_pixel_size(layer) -> float | None:
    """Pixel size in Å of an image layer: its metadata, else its last scale when not 1."""
    px = layer.metadata.get("pixel_size_A") if hasattr(layer, "metadata") else None
    if px:
        return float(px)
    s = float(np.asarray(layer.scale)[-1])
    return s if s != 1.0 else None


def layer_angles(layer) -> np.ndarray | None:
    """Tilt angles (degrees) in a layer's metadata, or ``None``."""
    a = layer.metadata.get("tilt_angles_deg") if hasattr(layer, "metadata") else None
    return None if a is None else np.asarray(a, dtype=np.float64)


def volume_from_layer(layer) -> Volume:
    """A :class:`~napari_irdm.data.Volume` view of a 3D image layer (no copy for float32)."""
    data = np.asarray(layer.data)
    if data.ndim != 3:
        raise ValueError(f"layer {layer.name!r} has {data.ndim} dimensions: choose a 3D volume layer")
    return Volume(
        data=data.astype(np.float32, copy=False),
        pixel_size_A=layer_pixel_size(layer),
        tilt_angles_deg=layer_angles(layer),
        provenance=tuple(layer.metadata.get("provenance", ()) or ()),
    )
