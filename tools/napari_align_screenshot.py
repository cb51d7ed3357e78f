"""Screenshot: File > Open the raw (unaligned) NIST needle, Plugins > napari-irdm > Align, run.

    xvfb-run -a .venv/bin/python tools/napari_align_screenshot.py docs/img/napari_align_nist.png [METHOD LEVELS]
"""

from __future__ import annotations

import sys
from pathlib import Path

from _shot import shoot, wait

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "etspy-needle-haadf" / "HAADF.mrc"


def main(out: str, method: str = "pm", levels: str = "4,2") -> int:
    import napari

    viewer = napari.Viewer(title="napari-irdm", show=True)
    viewer.window._qt_window.resize(1700, 1000)
    [series] = viewer.open(str(RAW), plugin="napari-irdm")
    # the needle's tilt axis runs along x in the file: put the series in the house frame first
    from napari_irdm._napari._widgets.reconstruct import _to_tilt_axis_y

    _to_tilt_axis_y(series)
    _dock, w = viewer.window.add_plugin_dock_widget("napari-irdm", "Align")
    w.layer.value = series
    w.method.value = method
    w.levels.value = levels
    outcome = wait(w.run(), 1200)
    shoot(viewer, out)
    return 0 if outcome == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
