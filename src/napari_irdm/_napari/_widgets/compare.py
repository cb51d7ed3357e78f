"""Compare widget: volumes side by side in napari's grid, each with its power spectrum beneath.

One click lays out ``WBP | IRDM (| SIRT | TV | ground truth)`` in napari's grid (one shared
camera and one set of dimension sliders, so panning, zooming and slicing are linked): the
top row holds the volumes, the bottom row their 3D log power spectra on the same pixel grid.
The plane selector gives the orthogonal views; the default ``xz`` plane (perpendicular to the
tilt axis) shows the missing-wedge artefacts in real space and, at the central ``y`` slice,
the central kx-kz section with the wedge boundary and the Bragg circles in the spectrum row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, PushButton

from napari_irdm._napari._layers import layer_angles, layer_pixel_size
from napari_irdm._napari._widgets._base import WidgetBase, image_layers
from napari_irdm._napari._widgets._runner import RunPanel
from napari_irdm._napari._widgets._spectra import section_spots, spot_indices, wedge_lines, with_friedel_mates
from napari_irdm._napari._widgets.fourier import (
    DETECTED_COLOR,
    MISSING_COLOR,
    WEDGE_COLOR,
    attach_d_status,
    family_text,
)
from napari_irdm.analysis.fourier import spectra_iter

if TYPE_CHECKING:
    import napari

__all__ = ["PLANES", "CompareWidget", "default_order"]

#: plane -> napari dims order for (z, y, x) volumes (last two axes are displayed)
PLANES = {"xz (perpendicular to tilt axis)": (1, 0, 2), "xy": (0, 1, 2), "yz": (2, 0, 1)}
#: which axis the slider runs along for each plane
_SLIDER_AXIS = {k: v[0] for k, v in PLANES.items()}
_PREFERRED = ("WBP", "IRDM", "SIRT", "SART", "TV", "ground truth")
NO_BRAGG = "none"


def default_order(names: list[str]) -> list[str]:
    """Names in the comparison order WBP, IRDM, SIRT, SART, TV, (others), ground truth."""
    def key(n: str):
        for i, p in enumerate(_PREFERRED):
            if n == p or n.startswith(p + " "):
                return (i if p != "ground truth" else 99, n)
        return (50, n)

    return sorted(names, key=key)


class CompareWidget(WidgetBase):
    """Lay out volumes and their spectra in napari's grid with linked views."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(napari_viewer, labels=True)
        self.layers = self._layer_picker("volumes", self._volume_layers, multiple=True)
        self.bragg = ComboBox(label="Bragg circles from", choices=self._bragg_choices)
        self._pickers.append(self.bragg)
        self.plane = ComboBox(label="plane", choices=list(PLANES), value="xz (perpendicular to tilt axis)")
        self.run_button = PushButton(text="Compare side by side")
        self.grid_off = PushButton(text="Back to single view")
        self.panel = RunPanel(label="")
        self.extend([self.layers, self.bragg, self.plane, self.run_button, self.grid_off, self.panel])
        self.run_button.changed.connect(self.run)
        self.grid_off.changed.connect(self.ungrid)
        self.plane.changed.connect(self._apply_plane)
        self.panels: list[dict] = []

    def _volume_layers(self):
        skip = ("tilt_series", "spectrum", "spectrum_section")
        layers = [lyr for lyr in image_layers(self.viewer, ndim=3) if lyr.metadata.get("kind") not in skip]
        order = default_order([lyr.name for lyr in layers])
        return sorted(layers, key=lambda lyr: order.index(lyr.name))

    def _bragg_choices(self, _widget=None):
        truths = [(f"ground truth: {lyr.name}", lyr) for lyr in self.viewer.layers
                  if "ground_truth" in getattr(lyr, "metadata", {})]
        return [*truths, (NO_BRAGG, NO_BRAGG)]

    def chosen(self) -> list:
        layers = list(self.layers.value or [])
        if not layers:
            layers = self._volume_layers()
        order = default_order([lyr.name for lyr in layers])
        return sorted(layers, key=lambda lyr: order.index(lyr.name))

    # -- run -------------------------------------------------------------------------------
    def job(self):
        layers = self.chosen()
        if not layers:
            raise ValueError("no volumes to compare: reconstruct (and inpaint) a tilt series first")
        ref = self.bragg.value
        reference = None if ref in (None, NO_BRAGG) else {"truth": ref.metadata["ground_truth"]}
        volumes = []
        for lyr in layers:
            px = layer_pixel_size(lyr)
            if px is None:
                raise ValueError(f"layer {lyr.name!r} has no pixel size: set its scale (Å per voxel)")
            volumes.append({"name": lyr.name, "data": np.asarray(lyr.data, np.float32), "pixel_size_A": px,
                            "tilt_angles_deg": layer_angles(lyr), "layer": lyr})
        return spectra_iter(volumes, reference), self.show

    def run(self, *_):
        """Start the work in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch("comparison spectra")

    # -- main thread -------------------------------------------------------------------------
    def _remove_previous(self) -> None:
        for p in self.panels:
            for key in ("label", "spectrum", "overlay"):
                lyr = p.get(key)
                if lyr is not None and lyr in self.viewer.layers:
                    self.viewer.layers.remove(lyr)
        self.panels = []

    def show(self, results: list[dict]) -> list[dict]:
        """Add spectra and overlays for ``results``, order the layers and switch the grid on."""
        from napari.layers import Image, Points, Shapes

        self._remove_previous()
        viewer = self.viewer
        panels = []
        for r in results:
            name, px, freqs = r["name"], r["pixel_size_A"], r["freqs"]
            lo, hi = np.percentile(r["spec"], [50.0, 99.95])
            spec = Image(r["spec"], name=f"{name} spectrum", scale=(px,) * 3, colormap="magma",
                         contrast_limits=(float(lo), float(max(hi, lo + 1e-6))),
                         metadata={"kind": "spectrum", "source_layer": name, "pixel_size_A": px, "freqs": freqs})
            attach_d_status(spec, freqs)
            label = Points(np.zeros((0, 3)), name=f"{name} label", scale=(px,) * 3, size=0.1,
                           features={"label": np.array([], dtype=object)},
                           text={"string": "{label}", "color": "white", "size": 12, "anchor": "upper_left"},
                           metadata={"kind": "label", "text": name})
            overlay = self._overlay(r, Shapes)
            panels.append({"name": name, "volume": r["layer"], "spectrum": spec, "label": label,
                           "overlay": overlay, "shape": r["data"].shape, "pixel_size_A": px})
        # layer order = grid order (stride 2, row-major from the bottom of the layer list):
        # [volume, label] per column, then [spectrum, overlay]; every other layer hidden, after them
        chosen = [p["volume"] for p in panels]
        for lyr in viewer.layers:
            if lyr not in chosen:
                lyr.visible = False
        for p in panels:
            p["volume"].visible = True
            viewer.add_layer(p["label"])
        for p in panels:
            viewer.add_layer(p["spectrum"])
            viewer.add_layer(p["overlay"])
        desired = [lyr for p in panels for lyr in (p["volume"], p["label"])]
        desired += [lyr for p in panels for lyr in (p["spectrum"], p["overlay"])]
        for k, lyr in enumerate(desired):
            viewer.layers.move(viewer.layers.index(lyr), k)
        self.panels = panels
        grid = viewer.grid if not hasattr(viewer, "canvas") else viewer.canvas.grid
        grid.stride = 2
        grid.shape = (2, len(panels))
        grid.spacing = 0.02
        grid.enabled = True
        self._apply_plane()
        return panels

    def _overlay(self, r: dict, Shapes) -> Any:
        """Bragg circles and wedge lines on the central kx-kz plane (y = centre) of the 3D spectrum."""
        name, px, freqs = r["name"], r["pixel_size_A"], r["freqs"]
        yc = len(freqs[1]) // 2
        shapes, types, colors, labels = [], [], [], []
        if r["tilt_angles_deg"] is not None:
            for line in wedge_lines(r["tilt_angles_deg"], freqs, "kx-kz"):
                shapes.append(np.array([[line[0, 0], yc, line[0, 1]], [line[1, 0], yc, line[1, 1]]]))
                types.append("line")
                colors.append(WEDGE_COLOR)
                labels.append("")
        report = r["report"]
        spots = list(getattr(report, "spots", []) or []) if report is not None else []
        if spots:
            idx, spots = with_friedel_mates(spot_indices(spots, freqs), spots, freqs)
            pos, keep = section_spots(idx, "kx-kz", freqs)
            rad = max(2.0, 0.035 * len(freqs[2]))
            kept = [s for s, k in zip(spots, keep) if k]
            # circles that would cross the panel's edge (near Nyquist) spill into the next panel
            nz, nx = len(freqs[0]), len(freqs[2])
            inside = [rad - 0.5 <= zr <= nz - 0.5 - rad and rad - 0.5 <= xc <= nx - 0.5 - rad for zr, xc in pos]
            pos = [p for p, ok in zip(pos, inside) if ok]
            kept = [s for s, ok in zip(kept, inside) if ok]
            for (zr, xc), s, text in zip(pos, kept, family_text(kept, positions=pos)):
                shapes.append(np.array([[zr - rad, yc, xc - rad], [zr - rad, yc, xc + rad],
                                        [zr + rad, yc, xc + rad], [zr + rad, yc, xc - rad]]))
                types.append("ellipse")
                colors.append(DETECTED_COLOR if bool(s.detected) else MISSING_COLOR)
                labels.append(text)
        kwargs = dict(name=f"{name} Bragg + wedge", scale=(px,) * 3, face_color="transparent", edge_width=0.6,
                      metadata={"kind": "bragg_overlay", "source_layer": name}, ndim=3)
        if shapes:
            return Shapes(shapes, shape_type=types, edge_color=colors, features={"label": labels},
                          text={"string": "{label}", "color": "white", "size": 8, "anchor": "upper_right"}, **kwargs)
        return Shapes(**kwargs)

    def _apply_plane(self, *_):
        """Show the chosen plane; slice through the centre; place the panel labels on the slice axis."""
        viewer = self.viewer
        plane = self.plane.value
        viewer.dims.order = PLANES[plane]
        if not self.panels:
            return
        axis = _SLIDER_AXIS[plane]
        for p in self.panels:
            n = p["shape"][axis]
            pts = np.zeros((n, 3))
            pts[:, axis] = np.arange(n)
            lbl = p["label"]
            lbl.data = pts
            lbl.features = {"label": np.array([p["name"]] * n, dtype=object)}
            lbl.text = {"string": "{label}", "color": "white", "size": 12, "anchor": "upper_left"}
        p0 = self.panels[0]
        centre = (p0["shape"][axis] // 2) * p0["pixel_size_A"]
        viewer.dims.set_point(axis, centre)
        # fit the panels only (hidden layers elsewhere in the world would shrink them)
        viewer.reset_view(layers=[p["volume"] for p in self.panels], margin=0.02)

    def ungrid(self, *_):
        """Switch napari's grid off again (layers stay)."""
        grid = self.viewer.grid if not hasattr(self.viewer, "canvas") else self.viewer.canvas.grid
        grid.enabled = False
