"""The napari-irdm demo: gold nanocrystal ±70° -> WBP and IRDM -> comparison with spectra and Bragg circles.

Run by ``napari-irdm demo`` (interactive) and ``napari-irdm demo --screenshot OUT.png``
(headless under Xvfb: build, save a screenshot of the whole window, exit).

The demo uses the shipped IRDM model ``"general"``. While no model is shipped it says so in
the viewer and compares WBP with SIRT instead; ``--random-model`` runs an *untrained*
random U-Net++ just to exercise the pipeline, and labels its panel accordingly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from napari_irdm.progress import Progress

__all__ = ["DEMO_MODEL", "build_demo", "run_demo"]

DEMO_MODEL = "general"


def _pump(viewer, message: str = "") -> None:
    from qtpy.QtWidgets import QApplication

    if message:
        viewer.status = message
    app = QApplication.instance()
    if app is not None:
        app.processEvents()


def _drive(gen, viewer, label: str):
    """Run a progress generator in the main thread, keeping the window alive and informed."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if isinstance(event, Progress):
            _pump(viewer, f"{label}: {event.message} ({event.step}/{event.total})")


def _run_widget(widget, viewer, label: str):
    gen, finish = widget.job()
    return finish(_drive(gen, viewer, label))


def build_demo(viewer, *, model: str | None = DEMO_MODEL, random_model: Any = False, tilt_max_deg: float = 70.0,
               size_px: int | None = None, pixel_size_A: float | None = None, tilt_step_deg: float | None = None,
               sirt_iterations: int = 30, notify: bool = True) -> dict[str, Any]:
    """Fill ``viewer`` with the demo (synchronously) and return what it made.

    Parameters
    ----------
    viewer : napari.Viewer
    model : str or None
        Shipped IRDM model to use (``"general"``); when it is not shipped the demo shows
        SIRT in its place with a visible note.
    random_model : bool or nn.Module
        Use an untrained random U-Net++ instead (pipeline check only; labelled as such); an
        ``nn.Module`` is used as that untrained network (tests pass a tiny one).
    tilt_max_deg : float
        Tilt range ``±tilt_max_deg``.
    size_px : int, optional
        Box edge of the simulated sample (default: the sample-data size).
    pixel_size_A : float, optional
        Pixel size of the simulation in Å (default: the sample-data 0.25 Å).
    tilt_step_deg : float, optional
        Tilt step in degrees (default: the sample-data 2°).
    sirt_iterations : int
        Iterations of the SIRT fallback.
    notify : bool
        Also show the note as a napari notification (off for screenshots).

    Returns
    -------
    dict
        ``layers`` (name -> layer), ``widgets``, ``note`` (str or None), ``panels`` (Compare panels).
    """
    from napari_irdm._napari._sample_data import SAMPLE_PIXEL_A, SAMPLE_SIZE_PX, SAMPLE_STEP_DEG, gold_layers
    from napari_irdm._napari._widgets.inpaint import shipped_models

    _pump(viewer, "simulating a gold nanocrystal tilt series...")
    from napari.layers import Layer

    for data, kwargs, ltype in gold_layers(tilt_max_deg, size_px=size_px or SAMPLE_SIZE_PX,
                                           pixel_size_A=pixel_size_A or SAMPLE_PIXEL_A,
                                           tilt_step_deg=tilt_step_deg or SAMPLE_STEP_DEG):
        viewer.add_layer(Layer.create(data, kwargs, ltype))
    series_layer = viewer.layers[-2]

    # the widgets come through napari's plugin machinery, exactly as from Plugins > napari-irdm
    widgets, docks = {}, {}
    for name in ("Reconstruct", "IRDM inpaint", "Fourier inspector", "Compare"):
        docks[name], widgets[name] = viewer.window.add_plugin_dock_widget("napari-irdm", name, tabify=bool(docks))
    rec, inp, fourier, compare = (widgets[k] for k in ("Reconstruct", "IRDM inpaint", "Fourier inspector", "Compare"))

    rec.layer.value = series_layer
    rec.method.value = "WBP"
    _run_widget(rec, viewer, "WBP")

    note = None
    second = None
    if random_model is not False and random_model is not None:
        net = random_model
        if net is True:
            import torch

            from napari_irdm.dl.unetpp import build_generator

            with torch.random.fork_rng():  # a fixed random model without touching the caller's RNG
                torch.manual_seed(0)
                net = build_generator("cpu")
        inp.add_model("random (untrained)", net)
        note = "IRDM panel: UNTRAINED random model (--random-model), pipeline check only"
    elif model and model in shipped_models():
        inp.model.value = model
    else:
        note = f"IRDM model {model!r} not shipped yet: SIRT ({sirt_iterations} it.) shown instead"
    if note is None or random_model:
        inp.layer.value = viewer.layers["WBP"]
        _run_widget(inp, viewer, "IRDM")
        second = "IRDM"
    else:
        rec.method.value = "SIRT"
        rec.iterations.value = sirt_iterations
        _run_widget(rec, viewer, "SIRT")
        second = "SIRT"

    chosen = [viewer.layers["WBP"], viewer.layers[second], viewer.layers["ground truth"]]
    fourier.layers.value = chosen
    gen, _ = fourier.job()
    fourier.show_results(_drive(gen, viewer, "Fourier inspector"), add_layers=False)  # its table only
    compare.layers.value = chosen
    panels = _run_widget(compare, viewer, "Compare")

    _text_overlay(viewer).visible = True
    _text_overlay(viewer).font_size = 9
    _text_overlay(viewer).color = "white"
    _text_overlay(viewer).position = "bottom_left"
    px = panels[0]["pixel_size_A"] if panels else None
    lines = [f"gold nanocrystal, ±{tilt_max_deg:g}° tilts, {px:g} Å/voxel" if px else "gold nanocrystal",
             "top: xz slice (perpendicular to the tilt axis y); bottom: kx-kz power spectrum",
             "Bragg circles: green detected, red missing; yellow: missing-wedge boundary"]
    if note:
        lines.append(f"NOTE: {note}")
    _text_overlay(viewer).text = "\n".join(lines)
    if note and notify:
        from napari.utils.notifications import show_warning

        show_warning(note)
    if "Fourier inspector" in docks:
        docks["Fourier inspector"].raise_()
    _pump(viewer, "demo ready")
    return {"layers": {lyr.name: lyr for lyr in viewer.layers}, "widgets": widgets, "note": note,
            "panels": panels}


def _text_overlay(viewer):
    """The viewer's canvas text overlay (napari >= 0.9: ``viewer.canvas.overlays.text``)."""
    return viewer.canvas.overlays.text


def _close_notifications(viewer) -> None:
    """Close napari's notification pop-ups (e.g. Qt-backend deprecation warnings) before a screenshot."""
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification

        for w in viewer.window._qt_window.findChildren(NapariQtNotification):
            w.close()
    except Exception:  # noqa: BLE001 -- cosmetic only
        pass


def _require_qt() -> None:
    """One line instead of napari's long traceback when no Qt binding is installed."""
    try:
        import qtpy  # noqa: F401 -- raises when none of PyQt6/PySide6/PyQt5/PySide2 imports
    except ImportError as err:
        raise ValueError("napari needs a Qt binding and none is installed: "
                         "pip install 'napari-irdm[all]' (adds PyQt6)") from err


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_demo(*, screenshot: str | os.PathLike | None = None, viewer=None, window_size: tuple[int, int] = (1900, 900),
             **demo_options: Any) -> int:
    """Open napari with the demo; with ``screenshot``, save the whole window to that PNG and exit.

    Parameters
    ----------
    screenshot : path, optional
        PNG to write (atomically); the viewer is closed afterwards unless it was passed in.
    viewer : napari.Viewer, optional
        Build the demo in this (shown) viewer instead of a new one.
    window_size : (width, height)
        Window size in screen pixels for a new viewer.
    **demo_options
        Passed to :func:`build_demo` (``model``, ``random_model``, ``tilt_max_deg``, ``size_px``...).

    Returns
    -------
    int
        Exit code (0).
    """
    _require_qt()
    if not _has_display():
        raise ValueError("the demo needs a display: run it under Xvfb, e.g. "
                         "`xvfb-run -a napari-irdm demo --screenshot demo.png`")
    if screenshot is not None:
        out = Path(screenshot)
        if out.suffix.lower() != ".png":
            raise ValueError(f"screenshot {out} must be a .png file")
        if not out.parent.exists():
            raise ValueError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    import napari

    own = viewer is None
    if own:
        viewer = napari.Viewer(title="napari-irdm demo", show=True)
        viewer.window._qt_window.resize(*window_size)
    demo_options.setdefault("notify", screenshot is None)
    build_demo(viewer, **demo_options)
    if screenshot is None:
        if own:
            napari.run()
        return 0
    from napari_irdm.io import atomic_path

    _close_notifications(viewer)
    for _ in range(5):
        _pump(viewer)
    with atomic_path(screenshot, suffix=".png") as tmp:
        viewer.screenshot(str(tmp), canvas_only=False, flash=False)
    if own:
        viewer.close()
    print(f"napari-irdm: demo screenshot written to {screenshot}")
    return 0
