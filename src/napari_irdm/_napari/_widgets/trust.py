"""Trust report widget: can I believe this volume? (napari_irdm.analysis.validate in a worker).

Even/odd-tilt FSC with the ½-bit threshold (overall and in cones along x, y and the beam z),
the re-projection residual per tilt and the share of spectral energy in the missing wedge —
the same report as ``napari-irdm validate``, shown as a plot and summary lines in the dock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, Label, PushButton

from napari_irdm._napari._layers import layer_angles, layer_pixel_size
from napari_irdm._napari._widgets._base import WidgetBase, device_choices, image_layers
from napari_irdm._napari._widgets._runner import RunPanel

if TYPE_CHECKING:
    import napari

__all__ = ["TrustWidget"]

AUTO = "as made (from the layer)"
METHODS = (AUTO, "wbp", "sirt", "tv", "irdm")


class TrustWidget(WidgetBase):
    """Judge a reconstructed volume against the tilt series it came from.

    Each even/odd half of the series is reconstructed by the method that made the volume
    (read from the layer's metadata and provenance, or chosen here), so the FSC is honest
    for IRDM too (the network runs separately on each half).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, labels=True)
        self.volume = self._layer_picker("volume", self._volume_layers)
        self.series = self._layer_picker("tilt series", self._series_layers)
        self.method = ComboBox(label="method", choices=METHODS, value=AUTO,
                               tooltip="how each even/odd half is reconstructed")
        self.cone = FloatSpinBox(label="cone half-angle (°)", min=5.0, max=90.0, step=5.0, value=20.0)
        self.device = ComboBox(label="device", choices=device_choices(), value="auto")
        self.run_button = PushButton(text="Trust report")
        self.panel = RunPanel(label="")
        self.summary = Label(value="")
        self.summary.visible = False
        self.extend([self.volume, self.series, self.method, self.cone, self.device, self.run_button, self.panel,
                     self.summary])
        from qtpy.QtWidgets import QLabel

        self.plot_label = QLabel()  # FSC curves and residual per tilt once a run is done
        self.plot_label.setVisible(False)
        self.native.layout().addWidget(self.plot_label)
        self.report = None
        self.run_button.changed.connect(self.run)

    def _volume_layers(self):
        layers = [lyr for lyr in image_layers(self.viewer, ndim=3)
                  if lyr.metadata.get("kind") not in ("tilt_series", "ground_truth")]
        return sorted(layers, key=lambda lyr: lyr.metadata.get("kind") != "volume")

    def _series_layers(self):
        return [lyr for lyr in image_layers(self.viewer, ndim=3) if lyr.metadata.get("kind") == "tilt_series"]

    def _settings(self, layer) -> dict:
        """Method, model and data consistency: chosen here, else what made the volume."""
        from napari_irdm.analysis.validate import settings_from_provenance

        made = settings_from_provenance(layer.metadata.get("provenance", ()))
        meta_method = str(layer.metadata.get("method", "")).lower()
        if meta_method in METHODS[1:]:
            made["method"] = meta_method
        if layer.metadata.get("model"):
            made["model"] = layer.metadata["model"]
        if "data_consistency" in layer.metadata:
            made["data_consistency"] = layer.metadata["data_consistency"]
        if self.method.value != AUTO:
            made["method"] = self.method.value
        made["model"] = made.get("model") or "general"
        return made

    def job(self):
        """Check the inputs; return ``(generator, finish)``."""
        from napari_irdm.analysis.validate import validate_iter

        vol_layer, ts_layer = self.volume.value, self.series.value
        if vol_layer is None:
            raise ValueError("no volume layer: reconstruct the series first (Plugins > Reconstruct)")
        if ts_layer is None:
            raise ValueError("no tilt-series layer: open the series the volume was reconstructed from")
        volume = np.ascontiguousarray(np.asarray(vol_layer.data), dtype=np.float32)
        series = np.ascontiguousarray(np.asarray(ts_layer.data), dtype=np.float32)
        if volume.ndim != 3 or series.ndim != 3:
            raise ValueError("the volume must be (nz, ny, nx) and the series (n_tilts, ny, nx)")
        if ts_layer.metadata.get("tilt_axis", "y") != "y":
            raise ValueError(f"layer {ts_layer.name!r} has its tilt axis along x: reconstruct it first "
                             "(the Reconstruct widget turns it into the house frame)")
        if volume.shape[1:] != series.shape[1:]:
            raise ValueError(f"volume {volume.shape} and series {series.shape} differ in (ny, nx): "
                             "pick the series the volume was reconstructed from")
        angles = layer_angles(ts_layer)
        if angles is None:
            raise ValueError(f"layer {ts_layer.name!r} has no tilt angles in its metadata")
        px = layer_pixel_size(vol_layer) or layer_pixel_size(ts_layer)
        made = self._settings(vol_layer)
        gen = validate_iter(volume, series, angles, method=made["method"], pixel_size_A=px,
                            cone_half_angle_deg=float(self.cone.value), model=made["model"],
                            data_consistency=made["data_consistency"], device=self.device.value)
        return gen, self._show

    def _show(self, report):
        """Summary lines under the button and the FSC / residual plot in the dock."""
        from qtpy.QtGui import QPixmap

        self.report = report
        self.summary.value = "\n".join(report.summary_lines())
        self.summary.visible = True
        pix = QPixmap()
        pix.loadFromData(report.plot())
        self.plot_label.setPixmap(pix.scaledToWidth(min(pix.width(), 720)))
        self.plot_label.setVisible(True)
        return report

    def run(self, *_):
        """Start the work in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch("trust report")
