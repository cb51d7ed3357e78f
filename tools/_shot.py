"""Shared by the screenshot tools: wait for a widget's worker with Qt events flowing, let the canvas settle."""

from __future__ import annotations

import time


def settle(n: int = 20) -> None:
    """Process Qt events for a moment so docks and the canvas are drawn."""
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()
        time.sleep(0.02)


def wait(worker, timeout_s: float = 600.0) -> str:
    """Block until a ``start_worker`` worker is over; return its outcome ("done", "cancelled", "error")."""
    from qtpy.QtWidgets import QApplication

    t0 = time.time()
    while getattr(worker, "irdm_outcome", None) is None and time.time() - t0 < timeout_s:
        QApplication.processEvents()
        time.sleep(0.02)
    outcome = getattr(worker, "irdm_outcome", None) or "timeout"
    print(f"worker ended with {outcome} after {time.time() - t0:.0f} s")
    settle()
    return outcome


def shoot(viewer, out: str) -> None:
    """Save the whole window (docks included) to ``out`` and close the viewer."""
    viewer.screenshot(out, canvas_only=False, flash=False)
    viewer.close()
    print(f"wrote {out}")
