"""Fourier inspector: power spectra of volumes with a Bragg overlay and a per-family table.

For each chosen volume the worker runs :func:`napari_irdm.analysis.fourier.spectra_iter` (the
3D log power spectrum, its central sections and a Bragg report); the main thread then adds

- ``"<vol> spectrum"``: the 3D log spectrum (hidden; same pixel grid as the volume),
- ``"<vol> kx-kz"`` and ``"<vol> kx-ky"``: central sections, side by side to the right of
  the volumes (one row per volume),
- ``"<vol> Bragg <section>"``: Points at the expected reflections near each section,
  coloured detected (green) / missing (red) and labelled by family,
- ``"<vol> rings <section>"``: circles at the family d-spacings when the orientation is unknown,
- ``"<vol> wedge"``: the missing-wedge boundary drawn from the tilt angles on kx-kz,

fills a table (spots per family, detected in the measured region / in the wedge) with the
information limit per volume, and shows ``|k|`` and ``d`` under the cursor in the status bar.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, LineEdit, PushButton, Table

from napari_irdm._napari._layers import layer_angles, layer_pixel_size
from napari_irdm._napari._widgets._base import WidgetBase, image_layers
from napari_irdm._napari._widgets._runner import RunPanel
from napari_irdm._napari._widgets._spectra import (
    SECTION_AXES,
    d_spacing_at,
    section_spots,
    spot_indices,
    wedge_lines,
    with_friedel_mates,
)
from napari_irdm.analysis.fourier import spectra_iter

if TYPE_CHECKING:
    import napari

__all__ = ["DETECTED_COLOR", "LATTICE_PRESETS", "MISSING_COLOR", "FourierInspectorWidget", "attach_d_status",
           "family_text"]

DETECTED_COLOR = "#3ce05a"
MISSING_COLOR = "#ff4040"
RING_COLOR = "#5ab4ff"
WEDGE_COLOR = "#ffd23c"
SECTIONS = ("kx-kz", "kx-ky")
#: the per-family table: detected/expected spots in each missing-wedge region
TABLE_COLUMNS = ("volume", "family", "d (Å)", "measured", "wedge")

#: label -> (lattice name for :func:`~napari_irdm.crystallography.get_lattice`, lattice constant a in Å);
#: ``None``: the structure is read from the CIF file chosen below
LATTICE_PRESETS = OrderedDict([
    ("Au (fcc, 4.078 Å)", ("Au", 4.078)),
    ("Pt (fcc, 3.924 Å)", ("Pt", 3.924)),
    ("Ag (fcc, 4.086 Å)", ("Ag", 4.086)),
    ("Pd (fcc, 3.891 Å)", ("Pd", 3.891)),
    ("Cu (fcc, 3.615 Å)", ("Cu", 3.615)),
    ("Fe (bcc, 2.866 Å)", ("Fe", 2.8665)),
    ("W (bcc, 3.165 Å)", ("W", 3.165)),
    ("Co (hcp, 2.507 / 4.070 Å)", ("Co", 2.507)),
    ("Ru (hcp, 2.706 / 4.282 Å)", ("Ru", 2.706)),
    ("Si (diamond, 5.431 Å)", ("Si", 5.431)),
    ("CeO2 (fluorite, 5.411 Å)", ("CeO2", 5.411)),
    ("TiO2 (rutile, 4.594 / 2.959 Å)", ("TiO2", 4.594)),
    ("ZnO (wurtzite, 3.250 / 5.207 Å)", ("ZnO", 3.250)),
    ("SrTiO3 (perovskite, 3.905 Å)", ("SrTiO3", 3.905)),
    ("from a CIF file", None),
])
PRESET = "lattice preset"


def _family_label(spot) -> str:
    fam = getattr(spot, "family", None)
    if fam is None:
        fam = getattr(spot, "hkl", "")
    if isinstance(fam, (tuple, list, np.ndarray)):
        return "".join(str(abs(int(v))) for v in fam)
    return str(fam)


def family_text(spots, n: int = 5, positions=None) -> list[str]:
    """Text label per spot: the family name on one spot of each of the ``n`` lowest-order
    families (largest d), empty elsewhere -- readable at atomic resolution, where dozens of
    families and symmetry-equivalent spots are tested.

    With ``positions`` (``(row, col)`` per spot in the section), the labelled spot of a family
    is the one furthest right and nearest the horizontal axis, so that labels sit beside
    their own circles, fanned out along the +kx axis instead of piled at the centre.
    """
    ds: dict[str, float] = {}
    for s in spots:
        ds.setdefault(_family_label(s), float(s.d_A))
    named = sorted(ds, key=lambda f: -ds[f])[:n]
    chosen: dict[str, int] = {}
    if positions is not None and len(positions) == len(spots):
        pos = np.asarray(positions, dtype=float)
        centre = pos.mean(axis=0) if len(pos) else np.zeros(2)
        for fam in named:
            idx = [i for i, s in enumerate(spots) if _family_label(s) == fam]
            chosen[fam] = max(idx, key=lambda i: (pos[i, 1] - centre[1]) - 2.0 * abs(pos[i, 0] - centre[0]))
    else:
        for fam in named:
            chosen[fam] = next(i for i, s in enumerate(spots) if _family_label(s) == fam)
    by_index = {i: fam for fam, i in chosen.items()}
    return [by_index.get(i, "") for i in range(len(spots))]


def attach_d_status(layer, freqs, section: str | None = None) -> None:
    """Make ``layer``'s status-bar text end with ``|k|`` (1/Å) and ``d`` (Å) under the cursor.

    ``section`` names the central section a 2D layer shows (``None`` for the 3D spectrum).
    """
    original = layer.get_status
    centre = [len(f) // 2 for f in freqs]

    def get_status(position=None, *, view_direction=None, dims_displayed=None, world=False, value=None):
        status = original(position, view_direction=view_direction, dims_displayed=dims_displayed,
                          world=world, value=value)
        if position is None:
            return status
        try:
            pos = np.asarray(layer.world_to_data(position) if world else position, dtype=np.float64)
            idx = np.array(centre, dtype=np.float64)
            if section is None:
                idx[:] = pos[-3:]
            else:
                r, c, _ = SECTION_AXES[section]
                idx[r], idx[c] = pos[-2], pos[-1]
            k, d = d_spacing_at(idx, freqs)
            extra = f"  |k| = {k:.3f} 1/Å, d = {d:.3f} Å"
            status = dict(status)
            status["coordinates"] = status.get("coordinates", "") + extra
            status["value"] = (status.get("value", "") or "") + extra
        except Exception:  # noqa: BLE001 -- the status bar must never break
            pass
        return status

    layer.get_status = get_status


class FourierInspectorWidget(WidgetBase):
    """Power spectra, Bragg circles (detected / missing), wedge boundary and a per-family table."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        # the inputs in a labelled form; the table below it at the dock's full width
        super().__init__(napari_viewer, labels=False)
        self.layers = self._layer_picker("volumes", self._volume_layers, multiple=True)
        self.reference = ComboBox(label="reflections from", choices=self._reference_choices)
        self.preset = ComboBox(label="lattice", choices=list(LATTICE_PRESETS), value="Au (fcc, 4.078 Å)")
        self.a_A = FloatSpinBox(label="lattice constant a (Å)", min=1.0, max=40.0, step=0.001, value=4.078,
                                tooltip="a of the preset; other cell edges scale with it (c / a kept)")
        self.cif = FileEdit(label="CIF file", mode="r", filter="*.cif", visible=False)
        self.crystal_orientation = LineEdit(label="orientation", value="unknown",
                                    tooltip="'unknown' (fitted to the detected peaks; rings at the family d-spacings when no fit "
                                            "explains them), 'zone:[110]' "
                                            "(that direction along the tilt axis y), 'identity' or Euler 'φ,θ,ψ'")
        self.snr = FloatSpinBox(label="SNR threshold", min=0.5, max=100.0, step=0.5, value=3.0)
        self.region = LineEdit(label="sub-volume", value="", tooltip="voxels 'z0:z1, y0:y1, x0:x1' of the full "
                               "resolution (empty: all); only that part of a lazy (OME-Zarr) volume is loaded")
        self.run_button = PushButton(text="Compute spectra")
        self.panel = RunPanel(label="")
        self.table = Table(value={"data": [], "index": [], "columns": list(TABLE_COLUMNS)})
        self.table.min_height = 180
        self.form = Container(labels=True, widgets=[self.layers, self.reference, self.preset, self.a_A,
                                                     self.cif, self.crystal_orientation, self.snr, self.region])
        self.extend([self.form, self.run_button, self.panel, self.table])
        self._pickers.append(self.reference)
        self.preset.changed.connect(self._preset_changed)
        self.reference.changed.connect(self._reference_changed)
        self.run_button.changed.connect(self.run)
        self.results: list[dict] = []
        self._reference_changed()

    # -- choices ---------------------------------------------------------------------------
    def _volume_layers(self):
        skip = ("tilt_series", "spectrum", "spectrum_section")
        return [lyr for lyr in image_layers(self.viewer, ndim=3) if lyr.metadata.get("kind") not in skip]

    def _reference_choices(self, _widget=None):
        truths = [(f"ground truth: {lyr.name}", lyr) for lyr in self.viewer.layers
                  if "ground_truth" in getattr(lyr, "metadata", {})]
        return [*truths, (PRESET, PRESET)]

    def _preset_changed(self, *_):
        entry = LATTICE_PRESETS[self.preset.value]
        self._reference_changed()
        if entry is not None:
            self.a_A.value = entry[1]

    def _reference_changed(self, *_):
        preset = self.reference.value in (None, PRESET)
        from_cif = LATTICE_PRESETS[self.preset.value] is None
        self.preset.visible = preset
        self.a_A.visible = preset and not from_cif
        self.cif.visible = preset and from_cif
        self.crystal_orientation.visible = preset

    def _reference_kwargs(self) -> dict:
        ref = self.reference.value
        if ref is None or ref == PRESET:
            entry = LATTICE_PRESETS[self.preset.value]
            text = str(self.crystal_orientation.value or "").strip()
            orientation = None if text.lower() in ("", "unknown", "none", "?") else text
            if entry is None:
                path = str(self.cif.value or "").strip()
                if not path or not path.lower().endswith(".cif"):
                    raise ValueError("no CIF file chosen: pick the crystal's .cif file, or a lattice preset")
                return {"lattice": path, "a_A": None, "orientation": orientation}
            return {"lattice": entry[0], "a_A": float(self.a_A.value), "orientation": orientation}
        return {"truth": ref.metadata["ground_truth"]}

    # -- run ---------------------------------------------------------------------------------
    def job(self):
        layers = list(self.layers.value or [])
        if not layers:
            layers = self._volume_layers()[:1]
        if not layers:
            raise ValueError("no volume layer: reconstruct a tilt series first, then choose the volumes here")
        volumes = []
        for lyr in layers:
            px = layer_pixel_size(lyr)
            if px is None:
                raise ValueError(f"layer {lyr.name!r} has no pixel size: set its scale (Å per voxel) or reopen the file")
            angles = layer_angles(lyr)
            from napari_irdm.scale._region import take_region

            data = lyr.data[0] if getattr(lyr, "multiscale", False) else lyr.data  # full resolution
            volumes.append({"name": lyr.name, "data": take_region(data, self.region.value), "pixel_size_A": px,
                            "tilt_angles_deg": angles})
        return spectra_iter(volumes, self._reference_kwargs(), float(self.snr.value)), self.show_results

    def run(self, *_):
        """Start the work in a worker; returns the worker (``None`` on bad input: one-line notification)."""
        return self.launch("power spectra")

    # -- main thread: show -------------------------------------------------------------------
    def show_results(self, results: list[dict], *, add_layers: bool = True) -> list:
        """Add spectrum, section and overlay layers for ``results`` and fill the table.

        Returns the layers added (none with ``add_layers=False``: table only).
        """
        self.results = results
        added = []
        if not results:
            return added
        h = max(r["data"].shape[1] * r["pixel_size_A"] for r in results)
        w = max(r["data"].shape[2] * r["pixel_size_A"] for r in results)
        gap = 1.1
        rows = []
        for i, r in enumerate(results):
            if add_layers:
                self._remove_previous(r["name"])
                new = self._show_one(r, row_offset=i * h * gap, col_offset=w * gap, col_step=w * gap)
                for lyr in new:
                    lyr.metadata["made_by"] = "fourier inspector"
                added += new
            rows += self._table_rows(r)
        self.table.value = {"data": rows, "index": list(range(len(rows))), "columns": list(TABLE_COLUMNS)}
        self._fit_table()
        if added:
            self._frame(added, results)
        return added

    def _fit_table(self) -> None:
        """Columns as wide as their contents, no row numbers: the counts fit the dock, no side scrolling."""
        from qtpy.QtWidgets import QHeaderView, QStyledItemDelegate

        native = self.table.native
        native.verticalHeader().setVisible(False)
        # magicgui's delegate shows number-like text as a number: family "002" would read "2"
        if not getattr(self, "_text_delegate", None):
            self._text_delegate = QStyledItemDelegate(native)
            for col in (1, 2):
                native.setItemDelegateForColumn(col, self._text_delegate)
        header = native.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def _frame(self, added: list, results: list[dict]) -> None:
        """Show the spectra: the sections lie in the (y, x) plane of the world, beside the volumes."""
        viewer = self.viewer
        viewer.dims.ndisplay = 2
        viewer.dims.order = (0, 1, 2)
        nz = results[0]["data"].shape[0]
        viewer.dims.set_point(0, (nz // 2) * results[0]["pixel_size_A"])
        # the fit needs a layer with the viewer's full dimensionality (napari indexes the
        # extent by the displayed world axes): the source volumes, beside the 2D sections
        sources = [lyr for lyr in viewer.layers if lyr.name in {r["name"] for r in results} and lyr.ndim == 3]
        viewer.reset_view(layers=sources + [lyr for lyr in added if lyr.visible])

    def _remove_previous(self, name: str) -> None:
        """Drop this widget's layers from an earlier run on the same volume (re-run = refresh)."""
        old = [lyr for lyr in self.viewer.layers
               if lyr.metadata.get("made_by") == "fourier inspector" and lyr.metadata.get("source_layer") == name]
        for lyr in old:
            self.viewer.layers.remove(lyr)

    def _show_one(self, r: dict, *, row_offset: float, col_offset: float, col_step: float) -> list:
        from napari.layers import Image, Points, Shapes

        name, px, freqs = r["name"], r["pixel_size_A"], r["freqs"]
        added = []
        lo, hi = np.percentile(r["spec"], [50.0, 99.95])
        spec3 = Image(r["spec"], name=f"{name} spectrum", scale=(px, px, px), colormap="magma", visible=False,
                      contrast_limits=(float(lo), float(max(hi, lo + 1e-6))),
                      metadata={"kind": "spectrum", "source_layer": name, "pixel_size_A": px, "freqs": freqs})
        attach_d_status(spec3, freqs)
        added.append(self.viewer.add_layer(spec3))
        report = r["report"]
        spots = list(getattr(report, "spots", []) or []) if report is not None else []
        idx, spots = with_friedel_mates(spot_indices(spots, freqs), spots, freqs)
        orientation_known = bool(getattr(report, "orientation_known", True)) if report is not None else False
        for j, section in enumerate(SECTIONS):
            img = r["sections"][section]
            translate = (row_offset, col_offset + j * col_step)
            lo, hi = np.percentile(img, [50.0, 99.95])
            layer = Image(img, name=f"{name} {section}", scale=(px, px), translate=translate, colormap="magma",
                          contrast_limits=(float(lo), float(max(hi, lo + 1e-6))),
                          metadata={"kind": "spectrum_section", "section": section, "source_layer": name,
                                    "pixel_size_A": px, "freqs": freqs})
            attach_d_status(layer, freqs, section)
            added.append(self.viewer.add_layer(layer))
            if section == "kx-kz" and r["tilt_angles_deg"] is not None:
                lines = wedge_lines(r["tilt_angles_deg"], freqs, section)
                if lines:
                    added.append(self.viewer.add_layer(Shapes(
                        lines, shape_type="line", edge_color=WEDGE_COLOR, edge_width=0.6, scale=(px, px),
                        translate=translate, name=f"{name} wedge", opacity=0.9,
                        metadata={"kind": "wedge", "source_layer": name,
                                  "tilt_angles_deg": list(map(float, r["tilt_angles_deg"]))})))
            if spots:
                pos, keep = section_spots(idx, section, freqs)
                kept = [s for s, k in zip(spots, keep) if k]
                if len(kept):
                    detected = np.array([bool(s.detected) for s in kept])
                    features = {"family": [_family_label(s) for s in kept], "label": family_text(kept, positions=pos),
                                "detected": detected,
                                "d_A": [float(s.d_A) for s in kept],
                                "snr": [float(getattr(s, "snr", np.nan)) for s in kept]}
                    colors = [DETECTED_COLOR if d else MISSING_COLOR for d in detected]
                    added.append(self.viewer.add_layer(Points(
                        pos, name=f"{name} Bragg {section}", scale=(px, px), translate=translate, size=7,
                        face_color="transparent", border_color=colors, border_width=0.18,
                        border_width_is_relative=True, features=features,
                        text={"string": "{label}", "color": "white", "size": 7, "anchor": "upper_left",
                              "translation": (-2.5, 2.5)},
                        metadata={"kind": "bragg", "section": section, "source_layer": name})))
            if report is not None and not orientation_known:
                added += self._rings(r, section, translate)
        return added

    def _rings(self, r: dict, section: str, translate) -> list:
        from napari.layers import Shapes

        report = r["report"]
        d_by_family = OrderedDict()
        for f in list(getattr(report, "families", []) or []):
            d_by_family.setdefault(str(f.family), float(f.d_A))
        for s in list(getattr(report, "spots", []) or []):
            d_by_family.setdefault(_family_label(s), float(s.d_A))
        freqs, px = r["freqs"], r["pixel_size_A"]
        rr, cc, _ = SECTION_AXES[section]
        dkr = abs(freqs[rr][1] - freqs[rr][0])
        dkc = abs(freqs[cc][1] - freqs[cc][0])
        centre = (len(freqs[rr]) // 2, len(freqs[cc]) // 2)
        shapes, labels = [], []
        for fam, d in d_by_family.items():
            k = 1.0 / d
            if k / dkr > centre[0] and k / dkc > centre[1]:
                continue  # beyond Nyquist: not in the section
            shapes.append(np.array([[centre[0], centre[1]], [k / dkr, k / dkc]]))
            labels.append(fam)
        if not shapes:
            return []
        return [self.viewer.add_layer(Shapes(
            shapes, shape_type="ellipse", edge_color=RING_COLOR, face_color="transparent", edge_width=0.5,
            scale=(px, px), translate=translate, name=f"{r['name']} rings {section}",
            features={"family": labels},
            text={"string": "{family}", "color": RING_COLOR, "size": 7, "anchor": "upper_right"},
            metadata={"kind": "rings", "section": section, "source_layer": r["name"]}))]

    @staticmethod
    def _table_rows(r: dict) -> list[list]:
        """Rows ``[volume, family, d, measured, wedge]``: detected/expected spots per region, then
        the information limit (smallest d detected) of each region -- the missing-wedge story."""
        report = r["report"]
        if report is None:
            return [[r["name"], "(no angles: no report)", "", "", ""]]

        def cell(f, region):
            e, d = f.expected.get(region), int(f.detected.get(region, 0) or 0)
            return f"{d}/{e}" if e is not None else f"{d}/?"

        rows = [[r["name"], str(f.family), f"{float(f.d_A):.3f}", cell(f, "measured"), cell(f, "wedge")]
                for f in list(getattr(report, "families", []) or [])]

        def limit(region):
            v = report.information_limit(region) if hasattr(report, "information_limit") else None
            return "none" if v is None else f"{float(v):.2f} Å"

        rows.append([r["name"], "info limit", "", limit("measured"), limit("wedge")])
        return rows
