"""Screenshot: File > Open two reconstructions of a crystal in an unknown orientation, Plugins >
napari-irdm > Fourier inspector with the lattice preset only (orientation 'unknown': fitted to the
first volume's peaks).

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/napari_fourier_fitted_screenshot.py \\
        OUT.png VOL1.mrc VOL2.mrc [PRESET]
"""

from __future__ import annotations

import sys

from _shot import shoot, wait


def main(out: str, first: str, second: str, preset: str = "Pt (fcc, 3.924 Å)") -> int:
    import napari

    viewer = napari.Viewer(title="napari-irdm", show=True)
    viewer.window._qt_window.resize(1800, 1050)
    layers = [viewer.open(p, plugin="napari-irdm")[0] for p in (first, second)]
    _dock, w = viewer.window.add_plugin_dock_widget("napari-irdm", "Fourier inspector")
    w.layers.value = layers
    w.preset.value = preset
    w.crystal_orientation.value = "unknown"
    outcome = wait(w.run(), 1200)
    for r in getattr(w, "results", []) or []:
        rep = r.get("report")
        if rep is not None:
            print(r["name"], rep.counts("measured"), rep.counts("wedge"), rep.notes[-1])
    nat = w.table.native
    print("table:", [[nat.item(i, j).text() for j in range(nat.columnCount())] for i in range(min(4, nat.rowCount()))])
    shoot(viewer, out)
    return 0 if outcome == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
