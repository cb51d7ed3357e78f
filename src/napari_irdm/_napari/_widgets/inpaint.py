"""IRDM inpaint widget: a volume layer + model -> an "IRDM" volume layer (missing wedge recovered)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, Label, PushButton, SpinBox

from napari_irdm._napari._layers import volume_from_layer, volume_layer_data
from napari_irdm._napari._view import VIEWS, show_volume
from napari_irdm._napari._widgets._base import WidgetBase, device_choices, image_layers
from napari_irdm._napari._widgets._runner import RunPanel
from napari_irdm.methods import SERIES_CONSISTENCY

if TYPE_CHECKING:
    import napari

__all__ = ["FROM_FILE", "InpaintWidget", "shipped_models"]

#: the model choice that reads a .pt file chosen in the file box
FROM_FILE = "model file..."
#: data-consistency choices: shown text -> the layer metadata / ``validate`` value
CONSISTENCY = {"none": False, "fourier": True, "iterative (SIRT)": "iterative",
               "tv (network prior; real data)": "tv"}
#: the choice once a tilt-series layer is open (methods.SERIES_CONSISTENCY), else "none"
RECOMMENDED = next(k for k, v in CONSISTENCY.items() if v == SERIES_CONSISTENCY)


def shipped_models() -> list[str]:
    """Names of the IRDM models shipped with the package (empty when none are)."""
    try:
        from napari_irdm.dl.registry import list_models

        return list(list_models())
    except Exception:  # noqa: BLE001 -- the dl package may be missing its weights folder
        return []


class InpaintWidget(WidgetBase):
    """Recover the missing wedge of a volume layer with an IRDM generator, slice by slice.

    The model list holds the shipped models, any added with :meth:`add_model` (a name and an
    ``nn.Module`` or a path), and "model file..." to load a ``.pt`` exported with
    :func:`napari_irdm.dl.registry.save_model`.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, labels=True)
        self._extra_models: dict[str, Any] = {}
        self.layer = self._layer_picker("volume", self._volume_layers)
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.model_file = FileEdit(label="model file", mode="r", filter="*.pt")
        self.note = Label(value="")
        self.data_consistency = ComboBox(
            label="data consistency", choices=list(CONSISTENCY), value=RECOMMENDED if self._series_layers() else "none",
            tooltip="the default is tv once a tilt series is open, else none. fourier: keep the input's measured Fourier data, the network only in the missing wedge; "
                    "iterative: SIRT on the tilt series from the network's output; tv (recommended for real, "
                    "noisy series): TV on the tilt series with the network's output as a prior, both weights "
                    "chosen on held-out tilts. iterative and tv need the tilt-series layer")
        self.series = self._layer_picker("tilt series", self._series_layers)
        self.nonnegative = CheckBox(label="non-negative", value=False,
                                    tooltip="clip the result at 0 (densities are >= 0). Only for series whose vacuum "
                                            "level is 0, not for zero-mean normalised series")
        self.tta = CheckBox(label="test-time augmentation", value=False,
                            tooltip="average the model over the flips that keep the missing wedge in place "
                                    "(2-4x the time, slightly better)")
        self.batch_size = SpinBox(label="batch size (0: auto)", min=0, max=1024, value=0)
        self.device = ComboBox(label="device", choices=device_choices(), value="auto")
        self.view = ComboBox(label="show", choices=list(VIEWS), value=next(iter(VIEWS)),
                             tooltip="what the viewer shows when the result is ready")
        self.run_button = PushButton(text="Inpaint missing wedge")
        self.panel = RunPanel(label="")
        self.extend([self.layer, self.model, self.model_file, self.note, self.data_consistency, self.series,
                     self.nonnegative, self.tta, self.batch_size, self.device, self.view, self.run_button, self.panel])
        self.model.changed.connect(self._model_changed)
        self.data_consistency.changed.connect(self._consistency_changed)
        self._dc_chosen = False  # the user picked a data consistency: opening a series no longer changes it
        self.data_consistency.changed.connect(self._consistency_chosen)
        self.viewer.layers.events.inserted.connect(self._layer_added)
        self.run_button.changed.connect(self.run)
        self._model_changed()
        self._consistency_changed()

    def _series_layers(self):
        return [lyr for lyr in image_layers(self.viewer, ndim=3) if lyr.metadata.get("kind") == "tilt_series"]

    def _consistency_chosen(self, *_):
        self._dc_chosen = True

    def _layer_added(self, *_):
        """A tilt series opened: the recommended consistency, unless the user already chose one."""
        if self._dc_chosen or self.data_consistency.value != "none" or not self._series_layers():
            return
        self.data_consistency.value = RECOMMENDED
        self._dc_chosen = False  # set here, not by the user

    def _consistency_changed(self, *_):
        self.series.visible = CONSISTENCY[self.data_consistency.value] in ("iterative", "tv")

    def _volume_layers(self):
        layers = [lyr for lyr in image_layers(self.viewer, ndim=3) if lyr.metadata.get("kind") != "tilt_series"]
        return sorted(layers, key=lambda lyr: lyr.metadata.get("kind") not in ("volume",))

    def _model_choices(self, _widget=None) -> list[str]:
        return [*shipped_models(), *self._extra_models, FROM_FILE]

    def _model_changed(self, *_):
        self.model_file.visible = self.model.value == FROM_FILE
        if not shipped_models():
            self.note.value = "no trained IRDM model is shipped yet: load a .pt file"
        else:
            self.note.value = ""

    def add_model(self, name: str, model: Any) -> None:
        """Offer ``model`` (an ``nn.Module`` or a ``.pt`` path) under ``name`` and select it."""
        self._extra_models[name] = model
        self.model.reset_choices()
        self.model.value = name

    def _model_arg(self) -> tuple[Any, str]:
        choice = self.model.value
        if choice is None:
            raise ValueError("no model chosen: pick a shipped model or 'model file...'")
        if choice == FROM_FILE:
            path = str(self.model_file.value or "")
            if not path or path == "." or not path.endswith(".pt"):
                raise ValueError("no model file chosen: pick a .pt file exported with save_model")
            return path, path
        if choice in self._extra_models:
            return self._extra_models[choice], choice
        return choice, choice

    def job(self):
        """Check the inputs and return ``(generator, finish)``."""
        from napari_irdm.dl import inference

        layer = self.layer.value
        if layer is None:
            raise ValueError("no volume layer: reconstruct a tilt series first (Reconstruct widget)")
        volume = volume_from_layer(layer)
        model, model_name = self._model_arg()
        dc = CONSISTENCY[self.data_consistency.value]
        if dc is not False and volume.tilt_angles_deg is None:
            raise ValueError(f"data consistency needs tilt angles but layer {layer.name!r} has none: "
                             "reconstruct it with the Reconstruct widget or switch data consistency off")
        series = self._series_for(volume) if dc in ("iterative", "tv") else None
        nn = bool(self.nonnegative.value)
        volume = volume.replace(data=np.ascontiguousarray(volume.data, dtype=np.float32))
        modes: dict[str, Any] = ({"data_consistency": dc} if series is None else
                                 {"consistency": dc, "tilt_series": series})

        def work():
            # the core takes the Volume and returns one: its pixel size, angles and provenance + one line
            return (yield from inference.inpaint_iter(
                volume, model=model, batch_size=int(self.batch_size.value) or None, device=self.device.value,
                nonnegative=nn, tta=bool(self.tta.value), **modes))

        def finish(new):
            out = self.add_layer(volume_layer_data(new, name="IRDM", metadata={
                "method": "IRDM", "model": model_name, "data_consistency": dc, "nonnegative": nn,
                "source_layer": layer.name}))
            show_volume(self.viewer, out, self.view.value)
            return out

        return work(), finish

    def _series_for(self, volume) -> np.ndarray:
        """The picked tilt-series layer's images, checked against the volume (one-line errors)."""
        from napari_irdm._napari._layers import layer_angles

        ts = self.series.value
        if ts is None:
            raise ValueError("iterative and tv data consistency need the tilt series the volume was reconstructed "
                             "from: open it (File > Open) or choose data consistency none or fourier")
        if ts.metadata.get("tilt_axis", "y") != "y":
            raise ValueError(f"layer {ts.name!r} has its tilt axis along x: reconstruct it first "
                             "(the Reconstruct widget turns it into the house frame)")
        data = np.ascontiguousarray(np.asarray(ts.data), dtype=np.float32)
        angles = layer_angles(ts)
        if data.ndim != 3 or data.shape[1:] != tuple(volume.data.shape[1:]):
            raise ValueError(f"series {data.shape} does not fit the volume {tuple(volume.data.shape)}: "
                             "pick the series the volume was reconstructed from")
        if angles is None or len(angles) != data.shape[0] or not np.allclose(angles, volume.tilt_angles_deg,
                                                                             atol=1e-3):
            raise ValueError(f"the angles of layer {ts.name!r} differ from the volume's: pick the series the "
                             "volume was reconstructed from")
        return data

    def run(self, *_):
        """Start the work in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch("IRDM inpainting")
