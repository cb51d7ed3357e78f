"""Reconstruct widget: tilt-series layer + angles + method -> a volume layer named after the method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, PushButton, SpinBox

from napari_irdm._napari._layers import layer_angles, layer_pixel_size, volume_layer_data
from napari_irdm._napari._view import VIEWS, series_translate, show_volume
from napari_irdm._napari._widgets._base import WidgetBase, device_choices, image_layers
from napari_irdm._napari._widgets._runner import RunPanel
from napari_irdm.data import TiltSeries, Volume, format_choices, provenance_line, recording_choices
from napari_irdm.io.angles import ANGLE_SUFFIXES
from napari_irdm.methods import FILTERS, MAX_ITERATIONS, PARAMS, TV_FIXED_WEIGHT, method_params

if TYPE_CHECKING:
    import napari

__all__ = ["METHODS", "ReconstructWidget"]

#: the classical methods of napari_irdm.methods (IRDM has its own widget), as this widget names them
METHODS = ("WBP", "SIRT", "SART", "TV")
ANGLE_SOURCES = ("layer metadata", "file", "range")


class ReconstructWidget(WidgetBase):
    """Reconstruct a tilt-series layer with WBP, SIRT, SART or TV.

    The result is a volume layer named after the method, with ``scale = (px, px, px)`` in Å
    and metadata holding the tilt angles, the pixel size and the provenance.
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, labels=True)
        self.layer = self._layer_picker("tilt series", self._series_layers)
        self.angles_from = ComboBox(label="angles from", choices=ANGLE_SOURCES, value="layer metadata")
        self.angles_file = FileEdit(label="angles file", mode="r", filter=" ".join(f"*{e}" for e in ANGLE_SUFFIXES))
        self.tilt_start = FloatSpinBox(label="first tilt (°)", min=-90, max=90, step=0.5, value=-70)
        self.tilt_stop = FloatSpinBox(label="last tilt (°)", min=-90, max=90, step=0.5, value=70)
        self.tilt_step = FloatSpinBox(label="tilt step (°)", min=0.01, max=90, step=0.5, value=2)
        self.tilt_axis = ComboBox(label="tilt axis", choices=("y", "x"), value="y",
                                  tooltip="image axis the tilt axis runs along in the layer (x: images are transposed)")
        # every initial value is the default of napari_irdm.methods (as the core's and the CLI's)
        wbp, sirt, tv = PARAMS["wbp"](), PARAMS["sirt"](), PARAMS["tv"]()
        self.method = ComboBox(label="method", choices=METHODS, value="WBP")
        self.filter_name = ComboBox(label="filter", choices=FILTERS, value=wbp.filter_name)
        self.iterations = SpinBox(label="iterations", min=1, max=MAX_ITERATIONS, value=sirt.iterations)
        self.relaxation = FloatSpinBox(label="relaxation", min=0.01, max=1.99, step=0.05, value=sirt.relaxation,
                                       tooltip="step in (0, 2)")
        self.tv_auto = CheckBox(label="automatic TV weight", value=tv.auto,
                                tooltip="choose the TV weight by cross-validation on held-out tilts (no ground "
                                        "truth), as the CLI's default --tv-weight auto")
        self.tv_weight = FloatSpinBox(label="TV weight", min=0.0, max=1.0, step=1e-7,
                                      value=tv.tv_weight if not tv.auto else TV_FIXED_WEIGHT)
        self.nonnegative = CheckBox(label="non-negative", value=sirt.nonnegative)
        self.thickness = SpinBox(label="thickness (0 = width)", min=0, max=100000, value=0)
        self.device = ComboBox(label="device", choices=device_choices(), value="auto")
        self.view = ComboBox(label="show", choices=list(VIEWS), value=next(iter(VIEWS)),
                             tooltip="what the viewer shows when the volume is ready: its middle slice "
                                     "perpendicular to the tilt axis, or a 3D rendering")
        self.run_button = PushButton(text="Reconstruct")
        self.panel = RunPanel(label="")
        self.extend([
            self.layer, self.angles_from, self.angles_file, self.tilt_start, self.tilt_stop, self.tilt_step,
            self.tilt_axis, self.method, self.filter_name, self.iterations, self.relaxation, self.tv_auto, self.tv_weight,
            self.nonnegative, self.thickness, self.device, self.view, self.run_button, self.panel,
        ])
        self.method.changed.connect(self._method_changed)
        self.tv_auto.changed.connect(self._update_visibility)
        self.angles_from.changed.connect(self._update_visibility)
        self.layer.changed.connect(self._layer_changed)
        self.run_button.changed.connect(self.run)
        self._update_visibility()
        self._layer_changed()

    def _series_layers(self):
        layers = image_layers(self.viewer, ndim=3)
        # tilt series first: they are what this widget is for
        return sorted(layers, key=lambda lyr: lyr.metadata.get("kind") != "tilt_series")

    def _layer_changed(self, *_):
        layer = self.layer.value
        if layer is None:
            return
        self.angles_from.value = "layer metadata" if layer_angles(layer) is not None else "range"
        self.tilt_axis.value = "x" if layer.metadata.get("tilt_axis") == "x" else "y"

    def _method_changed(self, *_):
        """Show the chosen method's defaults (napari_irdm.methods: iterations, relaxation):
        the widget, the CLI and the library then run the same reconstruction."""
        defaults = PARAMS[self.method.value.lower()]()
        for name, box in (("iterations", self.iterations), ("relaxation", self.relaxation)):
            if hasattr(defaults, name):
                box.value = getattr(defaults, name)
        self._update_visibility()

    def _update_visibility(self, *_):
        m = self.method.value
        src = self.angles_from.value
        self.angles_file.visible = src == "file"
        for w in (self.tilt_start, self.tilt_stop, self.tilt_step):
            w.visible = src == "range"
        self.filter_name.visible = m == "WBP"
        self.iterations.visible = m != "WBP"
        self.relaxation.visible = m in ("SIRT", "SART")
        self.tv_auto.visible = m == "TV"
        self.tv_weight.visible = m == "TV" and not self.tv_auto.value
        self.nonnegative.visible = m != "WBP"

    # -- main thread: collect parameters ------------------------------------------------
    def _angles(self, layer, n_tilts: int) -> tuple[np.ndarray, str]:
        src = self.angles_from.value
        if src == "layer metadata":
            a = layer_angles(layer)
            if a is None:
                raise ValueError(f"layer {layer.name!r} has no tilt angles in its metadata: choose 'file' or 'range'")
            return a, layer.metadata.get("angle_source", "layer metadata")
        if src == "file":
            path = str(self.angles_file.value or "")
            if not path or path == ".":
                raise ValueError("no angles file chosen: pick a .rawtlt/.tlt/.mdoc file or use 'range'")
            from napari_irdm.io import read_angles

            return np.asarray(read_angles(path), dtype=np.float64), f"file: {path}"
        from napari_irdm.geometry import angles_from_range

        start, stop, step = self.tilt_start.value, self.tilt_stop.value, self.tilt_step.value
        return angles_from_range(start, stop, step), f"range {start:g}..{stop:g} step {step:g}"

    def job(self):
        """Check the inputs and return ``(generator, finish)``: the work and its main-thread ending."""
        from napari_irdm import tomo
        from napari_irdm.geometry import check_angles

        layer = self.layer.value
        if layer is None:
            raise ValueError("no tilt-series layer: open a tilt series (File > Open) or a sample first")
        data = np.asarray(layer.data)
        if data.ndim != 3:
            raise ValueError(f"layer {layer.name!r} is not a 3D tilt series (n_tilts, ny, nx)")
        transpose = self.tilt_axis.value == "x"
        if transpose:
            data = np.swapaxes(data, 1, 2)
        data = np.ascontiguousarray(data, dtype=np.float32)
        angles, angle_source = self._angles(layer, data.shape[0])
        angles = check_angles(angles, data.shape[0], what=f"layer {layer.name!r}")
        method = self.method.value
        px = layer_pixel_size(layer)
        run: dict[str, Any] = {"thickness": int(self.thickness.value) or None, "device": self.device.value}
        params = self._params()
        series = TiltSeries(data=data, tilt_angles_deg=angles, pixel_size_A=px, angle_source=angle_source,
                            source=f"layer {layer.name!r}",
                            provenance=tuple(layer.metadata.get("provenance", ()) or ()))
        made = {"params": params}

        def work():
            p = params
            if method == "TV" and p.auto:  # chosen here so that the provenance records the weight used
                from napari_irdm.progress import Progress

                yield Progress(0, 1, "choosing the TV weight on held-out tilts")
                p = made["params"] = tomo.resolve_tv_weight(p, data, angles, digits=3, **run)
            with recording_choices() as made["chosen"]:  # e.g. where SIRT's discrepancy rule stopped
                vol = yield from tomo.reconstruct_iter(data, angles, p, **run)
            if hasattr(vol, "detach"):  # a tensor from a device run
                vol = vol.detach().cpu().numpy()
            return np.asarray(vol, dtype=np.float32)

        def finish(vol: np.ndarray):
            if transpose and layer in self.viewer.layers:
                _to_tilt_axis_y(layer)
            step = tomo.describe_step(made["params"], thickness=run["thickness"],  # as the CLI and the core say it
                                      auto_weight=method == "TV" and params.auto)
            volume = Volume.from_series(series, vol, step=format_choices(step, made.get("chosen", {})))
            new = self.add_layer(
                volume_layer_data(volume, name=method, metadata={"method": method, "source_layer": layer.name,
                                                                 "angle_source": angle_source})
            )
            show_volume(self.viewer, new, self.view.value)
            return new

        return work(), finish

    def _params(self):
        """The chosen method's parameters from the controls (checked by the core's rules; an error is
        shown with the control's label, _runner.WIDGET_NAMES)."""
        method = self.method.value
        opts: dict[str, Any] = {}
        if method == "WBP":
            opts["filter_name"] = self.filter_name.value
        else:
            opts.update(iterations=int(self.iterations.value), nonnegative=bool(self.nonnegative.value))
            if method == "TV":
                opts["tv_weight"] = "auto" if self.tv_auto.value else float(self.tv_weight.value)
            else:
                opts["relaxation"] = float(self.relaxation.value)
        return method_params(method.lower(), **opts)

    def run(self, *_):
        """Start the work in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch(f"{self.method.value} reconstruction")


def _to_tilt_axis_y(layer) -> None:
    """Turn a tilt-series layer whose tilt axis runs along x into the house frame (a view, no copy).

    After a reconstruction with tilt axis x the volume is in the house frame (tilt axis along
    y); the series follows, so both share one world and the series' images line up with the
    volume's projections.
    """
    data = np.swapaxes(np.asarray(layer.data), 1, 2)
    px = float(np.asarray(layer.scale)[-1])
    meta = dict(layer.metadata)
    meta["tilt_axis"] = "y"
    meta["provenance"] = (*tuple(meta.get("provenance", ()) or ()),
                          provenance_line("napari: images transposed (tilt axis x -> y) for the house frame"))
    layer.data = data
    layer.translate = series_translate(data.shape[0], data.shape[2], px)
    layer.metadata = meta
