"""Screenshot: File > Open Sample (gold ±50°), Plugins > Reconstruct (WBP), Plugins > IRDM inpaint with
data consistency "tv (network prior; real data)" on the sample's tilt-series layer, run.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/napari_inpaint_tv_screenshot.py OUT.png
"""

from __future__ import annotations

import sys

from _shot import shoot, wait


def main(out: str) -> int:
    import napari

    viewer = napari.Viewer(title="napari-irdm", show=True)
    viewer.window._qt_window.resize(1800, 1000)
    viewer.open_sample("napari-irdm", "gold_50")
    series = next(lyr for lyr in viewer.layers if lyr.metadata.get("kind") == "tilt_series")
    _dock, rec = viewer.window.add_plugin_dock_widget("napari-irdm", "Reconstruct")
    if wait(rec.run(), 600) != "done":
        return 1
    _dock, inp = viewer.window.add_plugin_dock_widget("napari-irdm", "IRDM inpaint")
    inp.data_consistency.value = "tv (network prior; real data)"
    inp.series.value = series
    inp.nonnegative.value = True
    outcome = wait(inp.run(), 1200)
    if outcome == "done":
        print(viewer.layers[-1].name, viewer.layers[-1].metadata["provenance"][-1])
    shoot(viewer, out)
    return 0 if outcome == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
