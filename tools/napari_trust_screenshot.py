"""Screenshot: File > Open Sample (gold ±50°), Plugins > Reconstruct (WBP), Plugins > Trust report, run.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python tools/napari_trust_screenshot.py docs/img/napari_trust_gold.png
"""

from __future__ import annotations

import sys

from _shot import shoot, wait


def main(out: str) -> int:
    import napari

    viewer = napari.Viewer(title="napari-irdm", show=True)
    viewer.window._qt_window.resize(1800, 1000)
    viewer.open_sample("napari-irdm", "gold_50")
    _dock, rec = viewer.window.add_plugin_dock_widget("napari-irdm", "Reconstruct")
    if wait(rec.run(), 600) != "done":
        return 1
    _dock, trust = viewer.window.add_plugin_dock_widget("napari-irdm", "Trust report")
    outcome = wait(trust.run(), 1200)
    if outcome == "done":
        print("\n".join(trust.report.summary_lines()))
    shoot(viewer, out)
    return 0 if outcome == "done" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
