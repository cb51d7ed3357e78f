"""Progress events shared by every long-running operation (DESIGN rule 3).

Long operations are generators that ``yield`` :class:`Progress` events and
``return`` their result. The napari worker, the CLI progress bar and the tests
all drive the same generator; stopping the generator cancels the work.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["Progress", "run_to_completion"]


@dataclass(frozen=True)
class Progress:
    """One progress event: ``step`` of ``total`` done, with a short message."""

    step: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Share of the work done, in [0, 1] (0 while the total is unknown)."""
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)


def run_to_completion(
    gen: Generator[Progress, Any, T],
    callback: Callable[[Progress], Any] | None = None,
) -> T:
    """Drive a progress generator to its end and return its result.

    Parameters
    ----------
    gen
        A generator yielding :class:`Progress` and returning a value.
    callback
        Called with every event (e.g. to update a tqdm bar).
    """
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(event)
