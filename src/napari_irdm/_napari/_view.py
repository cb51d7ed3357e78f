"""One world for tilt series and volumes, and what the viewer shows after a widget adds a volume.

napari has one set of world axes and one slider per axis. napari-irdm places its layers so
that they never collide there:

- a **volume** ``(nz, ny, nx)`` has ``scale = (px, px, px)`` (Å) and no translation, so
  ``(z, y, x)`` in Å start at 0;
- a **tilt series** ``(n_tilts, ny, nx)`` shares the volume's ``y`` and ``x`` exactly; its tilt
  index runs along world axis 0 in steps of ``px``, centred on the centre of the default
  volume (``nz = nx``), so the tilt slider stays inside the volume's ``z`` range instead of
  stretching it to thousands of steps.

After a reconstruction or an inpainting, :func:`show_volume` hides the tilt series, shows
the new volume's **middle slice perpendicular to the tilt axis** (the ``xz`` plane: dims
order ``(1, 0, 2)``, slider on ``y`` at the volume's middle) and fits the camera to it, or a
3D rendering (attenuated MIP or iso-surface). No Qt here: only the viewer model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VIEWS", "series_translate", "show_volume"]

#: choices offered by the widgets' "show" box -> (ndisplay, rendering)
VIEWS = {
    "slice ⟂ tilt axis (xz)": (2, None),
    "3D attenuated MIP": (3, "attenuated_mip"),
    "3D iso-surface": (3, "iso"),
}
#: dims order that displays (z, x) with the slider on y: the plane perpendicular to the tilt axis
XZ_ORDER = (1, 0, 2)


def series_translate(n_tilts: int, nx: int, pixel_size: float) -> tuple[float, float, float]:
    """World translation of a tilt-series layer: tilt index centred on a default volume's ``z``.

    With ``scale = (px, px, px)``, tilt ``k`` sits at world ``z = (nx - n_tilts) / 2 * px + k * px``,
    so the middle tilt is at the centre ``(nx - 1) / 2 * px`` of a volume of thickness ``nx``.
    """
    return (0.5 * (int(nx) - int(n_tilts)) * float(pixel_size), 0.0, 0.0)


def _layers_of_kind(viewer, kind: str) -> list:
    return [lyr for lyr in viewer.layers if getattr(lyr, "metadata", {}).get("kind") == kind]


def _iso_threshold(data: np.ndarray) -> float:
    """An iso level between background and object: Otsu's threshold on a subsample."""
    from skimage.filters import threshold_otsu

    sub = np.asarray(data[:: max(1, data.shape[0] // 64)], dtype=np.float32).ravel()
    sub = sub[np.isfinite(sub)]
    if sub.size == 0 or float(sub.max()) <= float(sub.min()):
        return 0.0
    return float(threshold_otsu(sub))


def show_volume(viewer, layer, view: str = "slice ⟂ tilt axis (xz)") -> None:
    """Show ``layer`` (a volume) as the user expects right after it was made.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image
        A 3D volume layer ``(z, y, x)`` placed as described in this module.
    view : str
        One of :data:`VIEWS`: the middle ``xz`` slice (perpendicular to the tilt axis) in 2D,
        or a 3D rendering of the whole volume.
    """
    if view not in VIEWS:
        raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
    ndisplay, rendering = VIEWS[view]
    for series in _layers_of_kind(viewer, "tilt_series"):
        series.visible = False
    layer.visible = True
    viewer.layers.selection.active = layer
    viewer.dims.ndisplay = ndisplay
    viewer.dims.order = XZ_ORDER
    ny = np.asarray(layer.data.shape)[1]
    y_mid = float(layer.translate[1]) + float(layer.scale[1]) * (int(ny) // 2)
    viewer.dims.set_point(1, y_mid)
    if rendering is not None:
        level = _iso_threshold(np.asarray(layer.data))
        layer.rendering = rendering
        if rendering == "iso":
            layer.iso_threshold = level
        else:
            # background (vacuum and its streaks) below the object/background split is dark
            hi = float(layer.contrast_limits[1])
            if hi > level:
                layer.contrast_limits = (level, hi)
            layer.attenuation = 0.05
    viewer.reset_view(layers=[layer])
    if ndisplay == 3:
        # tipped views of the whole box, so that its depth reads
        viewer.scene.camera.angles = (0.0, 20.0, 90.0)
        viewer.scene.camera.zoom = 0.8 * float(viewer.scene.camera.zoom)
