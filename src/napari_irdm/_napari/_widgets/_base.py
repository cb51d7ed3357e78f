"""Small helpers shared by the widgets: layer pickers that follow the viewer, adding layers."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from magicgui.widgets import ComboBox, Container, Select
from napari.layers import Image, Layer

__all__ = ["WidgetBase", "device_choices", "image_layers"]

log = logging.getLogger(__name__)


def device_choices() -> list[str]:
    """``auto`` and ``cpu``, plus ``cuda`` / ``mps`` where this machine has them
    (:func:`napari_irdm.device.available_devices`: the one place that asks)."""
    from napari_irdm.device import available_devices

    return available_devices()


def image_layers(viewer, *, ndim: int | None = 3, kinds: tuple[str, ...] | None = None) -> list[Image]:
    """Image layers of ``viewer`` (top first) with ``ndim`` dims and, if given, a metadata kind."""
    out = []
    for layer in reversed(viewer.layers):
        if not isinstance(layer, Image) or (ndim is not None and layer.ndim != ndim):
            continue
        if kinds is not None and layer.metadata.get("kind") not in kinds:
            continue
        out.append(layer)
    return out


class WidgetBase(Container):
    """A magicgui container bound to a napari viewer, with layer pickers kept up to date."""

    def __init__(self, napari_viewer, **kwargs):
        super().__init__(**kwargs)
        self.viewer = napari_viewer
        self._pickers: list[ComboBox | Select] = []
        events = napari_viewer.layers.events
        for ev in (events.inserted, events.removed, events.reordered):
            ev.connect(self._refresh_choices)

    def _layer_picker(self, label: str, choices: Callable[[], list[Layer]], *, multiple: bool = False, **kw):
        def _choices(_widget=None):
            return [(layer.name, layer) for layer in choices()]

        cls = Select if multiple else ComboBox
        w = cls(label=label, choices=_choices, **kw)
        self._pickers.append(w)
        return w

    def _refresh_choices(self, event=None) -> None:
        for w in self._pickers:
            try:
                w.reset_choices()
            except Exception:  # noqa: BLE001 -- a removed layer may still be selected
                pass

    def launch(self, description: str):
        """Check the inputs (``self.job()``) and start the work in a worker with this widget's panel.

        Any failure while checking the inputs -- bad values, a missing or unreadable file, a
        model that does not load -- is one napari error notification (its first line), never a
        traceback toast; the traceback goes to the log at debug level. Returns the worker, or
        ``None`` when nothing was started.
        """
        from napari.utils.notifications import show_error

        from napari_irdm._napari._widgets._runner import one_line, start_worker

        try:
            gen, finish = self.job()
        except Exception as err:  # noqa: BLE001 -- a widget shows one line, whatever went wrong
            log.debug("%s: inputs refused", description, exc_info=True)
            show_error(one_line(err))
            return None
        return start_worker(gen, on_result=finish, panel=self.panel, description=description)

    def add_layer(self, layer_data: tuple) -> Layer:
        """Add a ``(data, kwargs, type)`` tuple to the viewer (main thread only)."""
        data, kwargs, ltype = layer_data
        layer = Layer.create(np.asarray(data) if ltype == "image" else data, kwargs, ltype)
        return self.viewer.add_layer(layer)
