"""Screenshot: File > Open the raw (unaligned) NIST needle, Plugins > napari-irdm > Align, run.

    xvfb-run -a .venv/bin/python tools/napari_align_screenshot.py docs/img/napari_align_nist.png [METHOD LEVELS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "etspy-needle-haadf" / "HAADF.mrc"


def main(out: str, method: str = "pm", levels: str = "4,2") -> int:
    from qtpy.QtWidgets import QApplication

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
    worker = w.run()
    t0 = time.time()
    while getattr(worker, "irdm_outcome", None) is None and time.time() - t0 < 1200:
        QApplication.processEvents()
        time.sleep(0.05)
    print(f"align ended with {worker.irdm_outcome} after {time.time() - t0:.0f} s")
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.screenshot(out, canvas_only=False, flash=False)
    viewer.close()
    print(f"wrote {out}")
    return 0 if worker.irdm_outcome == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
