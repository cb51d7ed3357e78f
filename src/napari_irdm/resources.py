"""Up-front resource estimates: refuse what cannot fit before any work (or any write) starts.

Every long job (reconstruct, inpaint, train, evaluate) estimates its peak memory and its
output size from the shapes alone and calls :func:`require_memory` /
:func:`napari_irdm.io._atomic.ensure_free_space`; a job that cannot fit ends at once with
the numbers and a hint (bin, crop, ``--thickness``, fewer slices per chunk) instead of
swapping for an hour or dying half-way. Pure Python: no torch import.
"""

from __future__ import annotations

from napari_irdm.io import format_bytes

__all__ = ["ResourceError", "check_count", "require_memory"]


class ResourceError(MemoryError):
    """A job needs more memory than there is (one-line message with both numbers and a hint)."""


def require_memory(nbytes: float, what: str, *, hint: str, available: int | None = None) -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed the memory this process can use.

    Parameters
    ----------
    nbytes
        Estimated peak bytes.
    what
        What needs it (``"reconstructing 2000x1024x1024 with wbp"``).
    hint
        How to need less (``"bin the series 2x, crop it, or give a smaller --thickness"``).
    available
        Bytes available (default :func:`napari_irdm.device.host_memory_bytes`: RAM, capped by
        ``ulimit -v`` and ``NAPARI_IRDM_MEMORY_LIMIT_MB``).
    """
    if available is None:
        from napari_irdm.device import host_memory_bytes

        available = host_memory_bytes()
    if nbytes > available:
        raise ResourceError(
            f"{what} needs about {format_bytes(nbytes)} of memory, {format_bytes(available)} available: {hint}"
        )


def check_count(value, name: str, *, low: int, high: int, hint: str = "") -> int:
    """``value`` as an int within ``[low, high]``, else a one-line ``ValueError`` naming ``name``."""
    try:
        v = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if v != value and not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not low <= v <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {v}" + (f": {hint}" if hint else ""))
    return v
