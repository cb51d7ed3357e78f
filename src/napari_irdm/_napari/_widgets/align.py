"""Align widget: raw tilt-series layer -> aligned tilt-series layer (napari_irdm.align in a worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, LineEdit, PushButton, SpinBox

from napari_irdm._napari._layers import layer_angles, layer_pixel_size, series_layer_data
from napari_irdm._napari._widgets._base import WidgetBase, device_choices, image_layers
from napari_irdm._napari._widgets._runner import RunPanel

if TYPE_CHECKING:
    import napari

__all__ = ["AlignWidget"]


class AlignWidget(WidgetBase):
    """Align a tilt-series layer (shifts, tilt-axis angle, rotation centre, projection matching).

    Adds the aligned series as a new tilt-series layer; its metadata holds the transforms
    (``xf`` rows ``A11 A12 A21 A22 DX DY``), the refined angles and the alignment report.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, labels=True)
        self.layer = self._layer_picker("tilt series", self._series_layers)
        self.method = ComboBox(label="method", choices=("pm", "xcorr", "com"), value="pm",
                               tooltip="pm: cross-correlation + projection matching; com: centre of mass (HAADF)")
        self.levels = LineEdit(label="levels", value="4,2,1", tooltip="binning levels, coarse to fine")
        self.iterations = SpinBox(label="iterations / level", min=0, max=100, value=8)
        self.refine_rotation = CheckBox(label="refine tilt axis", value=True)
        self.refine_centre = CheckBox(label="refine rotation centre", value=True)
        self.tilt_offset = CheckBox(label="fit tilt-angle offset", value=False)
        self.device = ComboBox(label="device", choices=device_choices(), value="auto")
        self.run_button = PushButton(text="Align")
        self.panel = RunPanel(label="")
        self.extend([self.layer, self.method, self.levels, self.iterations, self.refine_rotation,
                     self.refine_centre, self.tilt_offset, self.device, self.run_button, self.panel])
        from qtpy.QtWidgets import QLabel

        self.report_label = QLabel()  # shifts, residuals and before/after slices once a run is done
        self.report_label.setVisible(False)
        self.native.layout().addWidget(self.report_label)
        self.run_button.changed.connect(self.run)

    def _series_layers(self):
        layers = image_layers(self.viewer, ndim=3)
        return sorted(layers, key=lambda lyr: lyr.metadata.get("kind") != "tilt_series")

    def job(self):
        """Check the inputs; return ``(generator, finish)``."""
        from napari_irdm.align import align_iter
        from napari_irdm.data import TiltSeries

        layer = self.layer.value
        if layer is None:
            raise ValueError("no tilt-series layer: open a raw tilt series first")
        data = np.ascontiguousarray(np.asarray(layer.data), dtype=np.float32)
        if data.ndim != 3:
            raise ValueError(f"layer {layer.name!r} is not a 3D tilt series (n_tilts, ny, nx)")
        angles = layer_angles(layer)
        if angles is None:
            raise ValueError(f"layer {layer.name!r} has no tilt angles: open it with its .rawtlt/.tlt/.mdoc")
        try:
            levels = tuple(int(v) for v in str(self.levels.value).split(",") if v.strip())
        except ValueError:
            raise ValueError(f"levels {self.levels.value!r}: give binning factors such as 4,2,1") from None
        ts = TiltSeries(data=data, tilt_angles_deg=np.asarray(angles, float), pixel_size_A=layer_pixel_size(layer),
                        angle_source=layer.metadata.get("angle_source", "layer metadata"),
                        provenance=tuple(layer.metadata.get("provenance", ()) or ()))
        gen = align_iter(ts, method=self.method.value, levels=levels, iterations=int(self.iterations.value),
                         refine_rotation=bool(self.refine_rotation.value), refine_centre=bool(self.refine_centre.value),
                         refine_tilt_offset=bool(self.tilt_offset.value), device=self.device.value)
        next_gen = _checked(gen)  # the first step validates the inputs on this (main) thread
        source = layer.name

        def work():
            from napari_irdm.align._report import preview_slices

            result = yield from next_gen
            from napari_irdm.progress import Progress

            yield Progress(1, 1, "before/after preview (WBP of 3 slices)")
            preview = preview_slices(data, result.series.data, result.series.tilt_angles_deg)
            return result, preview

        def finish(out):
            result, preview = out
            t = result.transforms
            xf = np.concatenate([t.matrices[:, 0, :2], t.matrices[:, 1, :2], t.matrices[:, :, 2]], axis=1)
            report = {k: v for k, v in result.report.items() if k != "coarse_shifts"}
            new = self.add_layer(series_layer_data(
                result.series, name=f"{source} aligned",
                metadata={**series_layer_data(result.series)[1]["metadata"], "xf": xf.tolist(),
                          "align_report": report, "source_layer": source}))
            if source in self.viewer.layers:
                self.viewer.layers[source].visible = False
            self._show_report(result, preview)
            self._draw_tilt_axis(new, t.rotation_deg)
            return new

        return work(), finish

    def _show_report(self, result, preview) -> None:
        """Shifts vs tilt, residual vs iteration and before/after slices, as a picture in the dock."""
        from qtpy.QtGui import QPixmap

        from napari_irdm.align._report import report_png

        pix = QPixmap()
        pix.loadFromData(report_png(result, preview, dpi=60))
        self.report_label.setPixmap(pix)
        self.report_label.setVisible(True)
        self.report_png = report_png  # kept for "save" from the console

    def _draw_tilt_axis(self, layer, rotation_deg: float) -> None:
        """The fitted tilt axis as a line on the aligned series' 0° image (the slider moves there)."""
        from napari.layers import Shapes

        angles = np.asarray(layer.metadata.get("tilt_angles_deg") or [0.0])
        k0 = int(np.argmin(np.abs(angles)))
        _, ny, nx = layer.data.shape
        cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
        half = 0.5 * ny
        phi = np.deg2rad(rotation_deg)  # the axis is rotated by phi from the image's y axis
        dy, dx = half * np.cos(phi), half * np.sin(phi)
        line = np.array([[k0, cy - dy, cx - dx], [k0, cy + dy, cx + dx]])
        name = f"{layer.name} tilt axis"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.viewer.add_layer(Shapes([line], shape_type="line", edge_color="yellow", edge_width=max(1.0, ny / 128),
                                     scale=layer.scale, translate=layer.translate, name=name,
                                     metadata={"kind": "tilt_axis", "source_layer": layer.name,
                                               "rotation_deg": float(rotation_deg)}))
        self.viewer.dims.order = (0, 1, 2)
        self.viewer.dims.set_point(0, float(layer.translate[0]) + k0 * float(layer.scale[0]))

    def run(self, *_):
        """Start the alignment in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch(f"align ({self.method.value})")


def _checked(gen):
    """Run the generator's first step now (input checks raise here), then hand on the rest."""
    first = next(gen)

    def rest():
        yield first
        return (yield from gen)

    return rest()
