"""The one way widgets run long work: a progress generator in napari's thread worker.

:func:`start_worker` drives a generator that yields :class:`~napari_irdm.progress.Progress`
and ``return``s its result (DESIGN rule 3) in a worker thread, and gives

- a progress bar, a message and a Cancel button (:class:`RunPanel`, embedded in the widget),
  plus napari's own activity progress bar;
- a napari error notification with the one-line message when the work fails;
- the result to ``on_result`` **in the main thread** -- the only place a widget touches the
  viewer. A cancelled or failed run never calls ``on_result``, so it leaves no half-made layer.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from magicgui.widgets import Container, Label, ProgressBar, PushButton
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error, show_info

from napari_irdm.progress import Progress

__all__ = ["RunPanel", "WorkerFailed", "one_line", "start_worker"]

#: workers kept alive until they finish (Qt would otherwise collect them mid-run)
_RUNNING: set[GeneratorWorker] = set()


class WorkerFailed(Exception):
    """Wraps a ``RuntimeError`` from the work (superqt treats a bare one as a deleted worker)."""


#: how the widgets call the core's parameter names (napari_irdm.errors.ParameterError)
WIDGET_NAMES = {
    "angles_file": "an angles file ('angles from: file')",
    "tilt_angles_deg": "tilt angles ('angles from')",
    "tilt_range": "a tilt range ('angles from: range')",
    "tilt_step": "its step",
    "pixel_size_A": "the pixel size (Å)",
    "device": "the device",
    "thickness": "a smaller slab",
    "batch_size": "a smaller batch",
    "model": "the model",
    "a_A": "the lattice constant (Å)",
    "exclude": "'exclude'",
    "crop": "'crop'",
    "bin": "'bin'",
    # reconstruction method parameters (napari_irdm.methods), by the Reconstruct widget's labels
    "filter_name": "'filter'",
    "iterations": "'iterations'",
    "relaxation": "'relaxation'",
    "nonnegative": "'non-negative'",
    "tv_weight": "'TV weight'",
}


def one_line(err: BaseException) -> str:
    """First line of an exception's message (its type name when empty), in the widgets' words."""
    from napari_irdm.errors import in_terms_of

    if isinstance(err, WorkerFailed) and err.__cause__ is not None:
        err = err.__cause__
    text = in_terms_of(err, WIDGET_NAMES).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, MemoryError) or "out of memory" in first.lower():
        first = f"out of memory ({first}): use device cpu, a smaller batch or bin the data"
    return first


class RunPanel(Container):
    """Progress bar, status message and Cancel button shared by every widget."""

    def __init__(self, **kwargs):
        self.bar = ProgressBar(value=0, min=0, max=1, label="progress", visible=False)
        self.message = Label(value="", label="")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        super().__init__(widgets=[self.bar, self.message, self.cancel_button], **kwargs)
        self.worker: GeneratorWorker | None = None
        self.cancel_button.changed.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def cancel(self) -> None:
        """Ask the running worker to stop at its next progress event."""
        if self.worker is not None:
            self.message.value = "cancelling..."
            self.worker.quit()

    # called by start_worker, main thread only
    def _begin(self, worker: GeneratorWorker, description: str) -> None:
        self.worker = worker
        self.bar.visible = True
        self.bar.max = 1
        self.bar.value = 0
        self.message.value = description
        self.cancel_button.enabled = True

    def _update(self, event: Progress) -> None:
        total = max(1, int(event.total))
        if self.bar.max != total:
            self.bar.max = total
        self.bar.value = min(max(0, int(event.step)), total)
        if event.message:
            self.message.value = str(event.message)[:80]

    def _end(self, message: str) -> None:
        self.worker = None
        self.bar.visible = False
        self.cancel_button.enabled = False
        self.message.value = message


def _drive(gen: Generator[Progress, Any, Any]) -> Generator[Progress, Any, Any]:
    """Re-yield ``gen`` in the worker thread; turn RuntimeError into WorkerFailed."""
    try:
        result = yield from gen
    except RuntimeError as err:  # torch errors (e.g. CUDA OOM) are RuntimeErrors
        raise WorkerFailed(one_line(err)) from err
    return result


def start_worker(
    gen: Generator[Progress, Any, Any],
    *,
    on_result: Callable[[Any], Any],
    panel: RunPanel | None = None,
    description: str = "working",
    on_finish: Callable[[str], Any] | None = None,
    start: bool = True,
) -> GeneratorWorker:
    """Run a progress generator in a napari thread worker.

    Parameters
    ----------
    gen
        Generator yielding :class:`~napari_irdm.progress.Progress` and returning the result.
        It must not touch the viewer.
    on_result
        Called in the main thread with the generator's return value (only when the run
        completed: never after Cancel or an error). Exceptions it raises are shown as
        napari error notifications.
    panel
        The widget's :class:`RunPanel` (progress bar + Cancel); optional.
    description
        Shown in the panel and in napari's activity progress bar.
    on_finish
        Called in the main thread at the end with ``"done"``, ``"cancelled"`` or ``"error"``.
    start
        Start the worker at once (default).

    Returns
    -------
    GeneratorWorker
        ``worker.quit()`` cancels at the next progress event. When everything is over (after
        ``on_result``), ``worker.irdm_outcome`` is set to ``"done"``, ``"cancelled"`` or ``"error"``.
    """
    if panel is not None and panel.busy:
        raise ValueError("a run is already going on in this widget: wait for it or press Cancel")
    worker: GeneratorWorker = create_worker(
        _drive, gen, _progress={"desc": description}, _ignore_errors=True
    )
    state = {"outcome": "done"}

    def _yielded(event: Any) -> None:
        if panel is not None and isinstance(event, Progress):
            panel._update(event)
        pbar = getattr(worker, "pbar", None)
        if pbar is not None and isinstance(event, Progress) and event.total > 0:
            try:  # napari's activity-dock bar; cosmetic, never fatal
                if pbar.total != event.total:
                    pbar.total = event.total
                pbar.n = min(event.step, event.total)
                if event.message:
                    pbar.set_description(f"{description}: {event.message}"[:60])
                pbar.refresh()
            except Exception:  # noqa: BLE001
                pass

    def _returned(result: Any) -> None:
        try:
            on_result(result)
        except Exception as err:  # noqa: BLE001 -- shown to the user, not lost
            state["outcome"] = "error"
            show_error(f"{description} failed: {one_line(err)}")

    def _errored(err: BaseException) -> None:
        state["outcome"] = "error"
        show_error(f"{description} failed: {one_line(err)}")

    def _aborted() -> None:
        state["outcome"] = "cancelled"

    def _finished() -> None:
        _RUNNING.discard(worker)
        gen.close()  # runs the generator's cleanup; the worker thread is done with it
        outcome = state["outcome"]
        worker.irdm_outcome = outcome  # lets callers (tests, the demo) poll for the end
        if outcome == "cancelled":
            show_info(f"{description}: cancelled")
        if panel is not None:
            panel._end({"done": "done", "cancelled": "cancelled", "error": "failed"}[outcome])
        if on_finish is not None:
            on_finish(outcome)

    worker.yielded.connect(_yielded)
    worker.returned.connect(_returned)
    worker.errored.connect(_errored)
    worker.aborted.connect(_aborted)
    worker.finished.connect(_finished)
    _RUNNING.add(worker)
    if panel is not None:
        panel._begin(worker, description)
    if start:
        worker.start()
    return worker
