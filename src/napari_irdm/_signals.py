"""SIGINT, SIGTERM and SIGHUP handled alike: as an exception, so every ``finally`` runs.

- :func:`signals_as_exceptions` (used by the CLI around a whole run): SIGTERM and SIGHUP
  raise :class:`Terminated`, a ``KeyboardInterrupt`` subclass, exactly where Ctrl-C would
  raise ``KeyboardInterrupt``; temp files are then removed by the same code paths and the
  exit code is ``128 + signal`` (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
- :func:`deferred_signals` (used around one training step): a signal arriving inside the
  block is remembered and raised when the block ends, so a checkpoint can be saved at the
  last finished step; a second signal inside the block raises at once.

Both only act in the main thread (signal handlers can only be set there) and restore the
previous handlers on exit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "deferred_signals", "exit_code_for", "signals_as_exceptions"]

_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                             getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = int(signum)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def exit_code_for(err: BaseException) -> int:
    """128 + the signal number for :class:`Terminated`, 130 for a plain ``KeyboardInterrupt``."""
    return 128 + err.signum if isinstance(err, Terminated) else 130


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Within the block, SIGTERM / SIGHUP raise :class:`Terminated` (SIGINT: ``KeyboardInterrupt``)."""
    if not _main_thread():
        yield
        return
    with _handlers(lambda signum, frame: _raise_for(signum), skip=(signal.SIGINT,)):
        yield


@contextlib.contextmanager
def _handlers(handler, skip=()) -> Iterator[None]:
    """``handler`` for SIGINT / SIGTERM / SIGHUP (less ``skip``) inside the block, the old ones after."""
    old = {}
    for sig in _SIGNALS:
        if sig in skip:
            continue
        try:
            old[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):  # pragma: no cover
            pass
    try:
        yield
    finally:
        for sig, old_handler in old.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, old_handler)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT / SIGTERM / SIGHUP until the block ends, then raise (see module docstring)."""
    if not _main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum, frame):
        if pending:  # asked twice: stop now
            _raise_for(signum)
        pending.append(signum)

    with _handlers(hold):
        yield
    if pending:
        _raise_for(pending[0])
