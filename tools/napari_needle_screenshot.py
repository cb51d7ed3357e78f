"""Screenshot of what a user sees: File > Open the NIST needle, Plugins > napari-irdm > Reconstruct, tilt axis x.

Everything goes through napari's plugin machinery (``viewer.open(..., plugin="napari-irdm")``
and ``add_plugin_dock_widget``); the slider is not touched after the reconstruction.
Needs ../shared/data and a display (``xvfb-run -a``)::

    xvfb-run -a .venv/bin/python tools/napari_needle_screenshot.py docs/img/napari_reconstruct_nist.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from _shot import shoot, wait

REPO = Path(__file__).resolve().parents[1]
NEEDLE = REPO.parent / "shared" / "data" / "etspy-needle-haadf" / "HAADF_aligned.mrc"


def main(out: str, view: str | None = None) -> int:
    import napari

    viewer = napari.Viewer(title="napari-irdm", show=True)
    viewer.window._qt_window.resize(1500, 950)
    [series] = viewer.open(str(NEEDLE), plugin="napari-irdm")
    _dock, rec = viewer.window.add_plugin_dock_widget("napari-irdm", "Reconstruct")
    rec.layer.value = series
    rec.tilt_axis.value = "x"  # the needle's tilt axis runs along the image columns
    if view:
        rec.view.value = view
    if wait(rec.run(), 300) != "done":
        return 1
    vol = viewer.layers["WBP"]
    print(f"volume {vol.data.shape}, scale {tuple(round(s, 2) for s in vol.scale)}, dims order "
          f"{tuple(viewer.dims.order)}, point y = {viewer.dims.point[1]:.1f} Å of {vol.data.shape[1] * vol.scale[1]:.0f}")
    shoot(viewer, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
