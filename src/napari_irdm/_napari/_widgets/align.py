"""Align widget: raw tilt-series layer -> aligned tilt-series layer (napari_irdm.align in a worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, LineEdit, PushButton, SpinBox

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
        self.axis_range = FloatSpinBox(label="axis search ±°", min=0.0, max=90.0, value=3.0, step=1.0,
                                       tooltip="search the tilt axis within ± this many degrees; 90: every direction")
        self.refine_centre = CheckBox(label="refine rotation centre", value=True)
        self.tilt_offset = CheckBox(label="fit tilt-angle offset", value=False)
        self.device = ComboBox(label="device", choices=device_choices(), value="auto")
        # preprocessing: the same steps and order as the CLI's --exclude ... --bin (align.preprocess)
        self.exclude = LineEdit(label="exclude images", value="", tooltip="0-based indices, e.g. 0,5,70-76")
        self.crop = LineEdit(label="crop", value="", tooltip="Y0:Y1,X0:X1 of the images (empty: none)")
        self.hot_pixels = CheckBox(label="remove hot pixels", value=False)
        self.background = CheckBox(label="subtract background", value=False)
        self.normalise = CheckBox(label="normalise intensity", value=False)
        self.bin = SpinBox(label="bin", min=1, max=16, value=1)
        self.axis_warning = ""  # the last run's warning of a better tilt axis elsewhere (empty: none)
        self.image_warning = ""  # the last run's warning of images that fit badly (empty: none)
        self.run_button = PushButton(text="Align")
        self.panel = RunPanel(label="")
        self.extend([self.layer, self.method, self.levels, self.iterations, self.refine_rotation, self.axis_range,
                     self.refine_centre, self.tilt_offset, self.device, Label(value="preprocessing"), self.exclude,
                     self.crop, self.hot_pixels, self.background, self.normalise, self.bin, self.run_button,
                     self.panel])
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
        from napari_irdm.align.preprocess import preprocess_series

        ts, excluded = preprocess_series(ts, exclude=self.exclude.value.strip() or None,
                                         crop=self.crop.value.strip() or None, remove_hot_pixels=self.hot_pixels.value,
                                         subtract_background=self.background.value,
                                         normalise_intensity=self.normalise.value, bin=int(self.bin.value))
        frame = _Frame(np.setdiff1d(np.arange(data.shape[0]), excluded), self.crop.value.strip() or None,
                       int(self.bin.value), data.shape[1:])
        data = ts.data  # the preview's "before": the preprocessed series
        gen = align_iter(ts, method=self.method.value, levels=levels, iterations=int(self.iterations.value),
                         refine_rotation=bool(self.refine_rotation.value), refine_centre=bool(self.refine_centre.value),
                         refine_tilt_offset=bool(self.tilt_offset.value),
                         rotation_range_deg=float(self.axis_range.value), device=self.device.value)
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
            new.visible = False  # the raw layer stays in view with its fitted tilt axis
            from napari.utils.notifications import show_warning

            if "axis_elsewhere_deg" in report:
                self.axis_warning = (f"the tilt axis fits much better {report['axis_elsewhere_deg']:+.0f}° from the "
                                     f"start (common-line spread {report['axis_elsewhere_ratio']:.0%} of the best "
                                     "near it): if the images are rotated, set 'axis search ±°' to 90 and align again")
                show_warning(self.axis_warning)
            if report.get("suspect_images"):
                bad = ", ".join(str(int(frame.kept[i])) for i in report["suspect_images"])
                self.image_warning = (f"image(s) {bad} of {source} re-project far worse than their neighbours "
                                      "after alignment (a jump, blank or damaged frame?): check them, or list them "
                                      "under 'exclude images' and align again")
                show_warning(self.image_warning)
            self._show_report(result, preview)
            if source in self.viewer.layers:
                self._draw_tilt_axis(self.viewer.layers[source], t, frame)
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

    def _draw_tilt_axis(self, raw_layer, t, frame: _Frame) -> None:
        """The fitted tilt axis on the raw layer's 0° image (the slider moves there).

        In the aligned frame the axis is the centre column; mapped back through the 0° image's
        transform (``x = A⁻¹ (x' − d)``) and the preprocessing (crop, bin) it is the line the
        raw specimen turns about, including the rotation-centre offset.
        """
        from napari.layers import Shapes

        k = int(np.argmin(np.abs(t.tilt_angles_deg)))
        ny, nx = frame.shape_after
        half = 0.5 * ny
        a, d = t.matrices[k, :, :2], t.matrices[k, :, 2]
        ends = [np.linalg.solve(a, np.array([0.0, v]) - d) for v in (-half, half)]  # (x, y) from the centre
        line = np.array([[frame.kept[k], *frame.to_raw(e[1] + (ny - 1) / 2, e[0] + (nx - 1) / 2)] for e in ends])
        name = f"{raw_layer.name} tilt axis"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.viewer.add_layer(Shapes([line], shape_type="line", edge_color="yellow", edge_width=max(1.0, ny / 128),
                                     scale=raw_layer.scale, translate=raw_layer.translate, name=name,
                                     metadata={"kind": "tilt_axis", "source_layer": raw_layer.name,
                                               "rotation_deg": float(t.rotation_deg)}))
        raw_layer.visible = True
        self.viewer.dims.order = (0, 1, 2)
        self.viewer.dims.set_point(0, float(raw_layer.translate[0]) + frame.kept[k] * float(raw_layer.scale[0]))

    def run(self, *_):
        """Start the alignment in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch(f"align ({self.method.value})")


class _Frame:
    """Where the preprocessed images lie in the raw layer: kept image indices, crop, binning."""

    def __init__(self, kept, crop: str | None, binning: int, shape):
        from napari_irdm.align.preprocess import parse_crop

        ny, nx = shape
        self.kept = [int(i) for i in kept]
        self.y0, y1, self.x0, x1 = parse_crop(crop, ny, nx) if crop else (0, ny, 0, nx)
        self.b = int(binning)
        h, w = y1 - self.y0, x1 - self.x0
        self.ry, self.rx = (h % self.b) // 2, (w % self.b) // 2  # bin_images crops the remainder evenly
        self.shape_after = (h // self.b, w // self.b)

    def to_raw(self, row: float, col: float) -> tuple[float, float]:
        """Pixel ``(row, col)`` of a preprocessed image → raw layer pixel coordinates."""
        c = (self.b - 1) / 2.0
        return self.y0 + self.ry + self.b * row + c, self.x0 + self.rx + self.b * col + c


def _checked(gen):
    """Run the generator's first step now (input checks raise here), then hand on the rest."""
    first = next(gen)

    def rest():
        yield first
        return (yield from gen)

    return rest()
