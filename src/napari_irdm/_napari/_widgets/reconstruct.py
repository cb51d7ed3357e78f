"""Reconstruct widget: tilt-series layer + angles + method -> a volume layer named after the method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, PushButton, SpinBox

from napari_irdm._napari._layers import layer_angles, layer_pixel_size, volume_layer_data
from napari_irdm._napari._view import VIEWS, series_translate, show_volume
from napari_irdm._napari._widgets._base import WidgetBase, device_choices, image_layers
from napari_irdm._napari._widgets._runner import RunPanel
from napari_irdm.data import Volume

if TYPE_CHECKING:
    import napari

__all__ = ["METHODS", "ReconstructWidget"]

METHODS = ("WBP", "SIRT", "SART", "TV")
FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
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
        self.angles_file = FileEdit(label="angles file", mode="r", filter="*.rawtlt *.tlt *.txt *.csv *.mdoc")
        self.tilt_start = FloatSpinBox(label="first tilt (°)", min=-90, max=90, step=0.5, value=-70)
        self.tilt_stop = FloatSpinBox(label="last tilt (°)", min=-90, max=90, step=0.5, value=70)
        self.tilt_step = FloatSpinBox(label="tilt step (°)", min=0.01, max=90, step=0.5, value=2)
        self.tilt_axis = ComboBox(label="tilt axis", choices=("y", "x"), value="y",
                                  tooltip="image axis the tilt axis runs along in the layer (x: images are transposed)")
        self.method = ComboBox(label="method", choices=METHODS, value="WBP")
        self.filter_name = ComboBox(label="filter", choices=FILTERS, value="ramp")
        self.iterations = SpinBox(label="iterations", min=1, max=100000, value=50)
        self.relaxation = FloatSpinBox(label="relaxation", min=0.01, max=2.0, step=0.05, value=1.0)
        self.tv_auto = CheckBox(label="automatic TV weight", value=True,
                                tooltip="choose the TV weight by cross-validation on held-out tilts (no ground "
                                        "truth), as the CLI's default --tv-weight auto")
        self.tv_weight = FloatSpinBox(label="TV weight", min=0.0, max=1.0, step=1e-7, value=1e-4)
        self.nonnegative = CheckBox(label="non-negative", value=True)
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
        """Show the core's own defaults for the chosen method (iterations, relaxation, TV weight):
        the widget, the CLI and the library then run the same reconstruction."""
        fn = _core_function(self.method.value)
        if fn is not None:
            for name, box in (("iterations", self.iterations), ("relaxation", self.relaxation),
                              ("tv_weight", self.tv_weight)):
                default = _default_of(fn, name)
                if isinstance(default, (int, float)) and not isinstance(default, bool):
                    box.value = default
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
        from napari_irdm import __version__, tomo
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
        opts: dict[str, Any] = {
            "thickness": int(self.thickness.value) or None,
            "device": self.device.value,
        }
        if method == "WBP":
            fn = tomo.wbp_iter
            opts["filter_name"] = self.filter_name.value
            detail = f"filter={self.filter_name.value}"
        else:
            fn = _core_function(method)
            opts.update(iterations=int(self.iterations.value), nonnegative=bool(self.nonnegative.value))
            if method == "TV":
                opts["tv_weight"] = "auto" if self.tv_auto.value else float(self.tv_weight.value)
                detail = f"iterations={opts['iterations']}, tv_weight={{tv_weight}}"
            else:
                opts["relaxation"] = float(self.relaxation.value)
                detail = f"iterations={opts['iterations']}, relaxation={opts['relaxation']:g}"
        line = (f"{method} by napari-irdm {__version__} ({detail}) from layer {layer.name!r}, "
                f"{len(angles)} tilts {angles.min():g}..{angles.max():g}° (angles: {angle_source})")
        base = tuple(layer.metadata.get("provenance", ()) or ())
        made = {}

        def work():
            if opts.get("tv_weight") == "auto":  # chosen here so that the provenance records the weight used
                from napari_irdm.progress import Progress
                from napari_irdm.tomo.tv_cp import choose_tv_weight

                yield Progress(0, 1, "choosing the TV weight on held-out tilts")
                w = choose_tv_weight(data, angles, iterations=opts["iterations"], thickness=opts["thickness"],
                                     nonnegative=opts["nonnegative"], device=opts["device"])
                opts["tv_weight"] = float(f"{w:.3g}")
                made["tv_weight"] = f"{opts['tv_weight']:g} (auto: cross-validated on held-out tilts)"
            elif "tv_weight" in opts:
                made["tv_weight"] = f"{opts['tv_weight']:g}"
            vol = yield from fn(data, angles, **opts)
            if hasattr(vol, "detach"):  # a tensor from a device run
                vol = vol.detach().cpu().numpy()
            return np.asarray(vol, dtype=np.float32)

        def finish(vol: np.ndarray):
            if transpose and layer in self.viewer.layers:
                _to_tilt_axis_y(layer)
            provenance = (*base, line.replace("{tv_weight}", made.get("tv_weight", "")))
            volume = Volume(data=vol, pixel_size_A=px, tilt_angles_deg=angles, provenance=provenance)
            new = self.add_layer(
                volume_layer_data(volume, name=method, metadata={"method": method, "source_layer": layer.name,
                                                                 "angle_source": angle_source})
            )
            show_volume(self.viewer, new, self.view.value)
            return new

        return work(), finish

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
                          "napari: images transposed (tilt axis x -> y) for the house frame")
    layer.data = data
    layer.translate = series_translate(data.shape[0], data.shape[2], px)
    layer.metadata = meta


def _core_function(method: str):
    """The core's progress generator for a method name of this widget (``None`` if unknown)."""
    from napari_irdm import tomo

    return {"WBP": tomo.wbp_iter, "SIRT": tomo.sirt_iter, "SART": tomo.sart_iter, "TV": tomo.tv_iter}.get(method)


def _default_of(fn, name: str):
    """Default value of parameter ``name`` of ``fn`` (``None`` when it has none)."""
    import inspect

    p = inspect.signature(fn).parameters.get(name)
    return None if p is None or p.default is inspect.Parameter.empty else p.default
