"""Private helpers shared by the reconstruction algorithms: input checks, chunking and the
:class:`~napari_irdm.data.TiltSeries` → :class:`~napari_irdm.data.Volume` entry wrapper."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from napari_irdm.data import recording_choices
from napari_irdm.device import available_memory_bytes, resolve_device
from napari_irdm.errors import ParameterError
from napari_irdm.geometry import check_angles
from napari_irdm.progress import run_to_completion

__all__ = ["RUNTIME_PARAMETERS", "Setup", "accepts_series", "as_series", "check_out", "check_positive", "check_series",
           "chunk_ranges", "eager", "recorded_parameters", "release_pages", "safe_inverse", "slices_per_chunk"]


def check_series(tilt_series, tilt_angles_deg, *, what: str = "tilt series") -> np.ndarray:
    """Check shape / finiteness of a tilt series and its angles; return the angles."""
    shape = tuple(getattr(tilt_series, "shape", ()))
    if len(shape) != 3:
        raise ValueError(
            f"{what} must be 3-D (n_tilts, ny, nx), got shape {shape}: stack the projections into one array"
        )
    if min(shape) < 1:
        raise ValueError(f"{what} is empty (shape {shape})")
    dtype = getattr(tilt_series, "dtype", None)
    if dtype is not None and (getattr(dtype, "is_complex", False) or "complex" in str(dtype)):
        raise ValueError(f"{what} has complex values ({dtype}): pass real intensities (e.g. np.abs or .real)")
    if shape[2] < MIN_WIDTH:
        raise ValueError(f"{what} images are {shape[2]} pixels wide (shape {shape}): at least {MIN_WIDTH} pixels "
                         "across the tilt axis are needed; do not bin so far")
    a = check_angles(tilt_angles_deg, shape[0], what=what)
    if np.unique(a).size < 2:
        raise ParameterError(f"all {a.size} tilt angles of {what} are {a[0]:g}°: a reconstruction needs at least 2 "
                             "distinct angles; check `tilt_angles_deg`", "tilt_angles_deg")
    return a


#: narrowest image (pixels across the tilt axis) a reconstruction accepts
MIN_WIDTH = 4


def is_float32(dtype) -> bool:
    """Whether ``dtype`` (NumPy, either byte order, or torch) is 32-bit float."""
    if isinstance(dtype, torch.dtype):
        return dtype == torch.float32
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return False
    return dt.kind == "f" and dt.itemsize == 4


def check_out(out, shape: tuple[int, ...], *, name: str = "out") -> None:
    """``ValueError`` unless ``out`` is a float32 NumPy array / tensor of ``shape``."""
    if out is None:
        return
    oshape = getattr(out, "shape", None)
    if oshape is None:
        raise ValueError(f"{name} must be a float32 array of shape {tuple(shape)}, got {type(out).__name__}")
    if tuple(oshape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(oshape)}, expected {tuple(shape)}")
    dt = getattr(out, "dtype", None)
    if not is_float32(dt):
        raise ValueError(f"{name} has dtype {dt}: pass a float32 array of shape {tuple(shape)} "
                         "(results are float32)")
    if getattr(out, "flags", None) is not None and not out.flags.writeable:
        raise ValueError(f"{name} is read-only: pass a writable float32 array")


def as_series(block, device: torch.device) -> torch.Tensor:
    """A chunk of a NumPy / memmap / torch series as a float32 tensor on ``device``; rejects NaN/Inf."""
    if isinstance(block, torch.Tensor):
        t = block.to(device=device, dtype=torch.float32)
    else:
        t = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)).to(device)
    # one reduction instead of a boolean mask: a NaN / Inf anywhere makes the sum non-finite;
    # only then (or on float32 overflow of the sum) is the exact check run
    if not math.isfinite(float(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError("tilt series contains NaN or Inf values: replace them (e.g. np.nan_to_num) before reconstructing")
    return t


def release_pages(arr) -> None:
    """Write back and unmap the pages of a memory-mapped output (keeps RSS bounded).

    The slabs ``out[:, y0:y1, :]`` of a volume touch pages all over the file; without
    this, every page written stays mapped in the process and counts towards its RSS.
    The data stays in the file / page cache. A no-op for anything that is not a memmap.
    """
    import mmap

    base = arr
    for _ in range(8):
        base = getattr(base, "base", None)
        if base is None:
            return
        if isinstance(base, mmap.mmap):
            try:
                base.flush()
                base.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError, AttributeError):  # closed map or platform without madvise
                pass
            return


def slices_per_chunk(bytes_per_slice: int, n_slices: int, device: Any = None, *, fraction: float = 0.25,
                     cap_bytes: int = 1 << 30) -> int:
    """How many slices fit in a chunk given free memory on ``device`` (DESIGN rule 6)."""
    dev = resolve_device(device)
    budget = min(int(available_memory_bytes(dev) * fraction), cap_bytes if dev.type == "cpu" else 8 * cap_bytes)
    return int(max(1, min(n_slices, budget // max(1, bytes_per_slice))))


def chunk_ranges(n: int, size: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into chunks of at most ``size``, balanced (no small tail chunk)."""
    size = max(1, int(size))
    n_chunks = max(1, -(-n // size))
    size = -(-n // n_chunks)
    return [(s, min(n, s + size)) for s in range(0, n, size)]


class Setup:
    """Everything an iterative method needs to know about its input, checked up front.

    Attributes: ``angles`` (float64 degrees), ``device``, ``is_tensor`` (tensor in → tensor out),
    ``n_tilts, ny, nx, nz``.
    """

    def __init__(self, tilt_series, tilt_angles_deg, *, thickness=None, device=None, x0=None, out=None):
        self.angles = check_series(tilt_series, tilt_angles_deg)
        self.is_tensor = isinstance(tilt_series, torch.Tensor)
        if device is None and self.is_tensor:
            device = tilt_series.device
        self.device = resolve_device(device)
        self.n_tilts, self.ny, self.nx = (int(s) for s in tilt_series.shape)
        if thickness is not None and (int(thickness) != thickness or int(thickness) < 1):
            raise ValueError(f"thickness must be a positive whole number of voxels, got {thickness}")
        self.nz = int(thickness) if thickness is not None else self.nx
        shape = (self.nz, self.ny, self.nx)
        if x0 is not None and tuple(x0.shape) != shape:
            raise ValueError(f"x0 has shape {tuple(x0.shape)}, expected the volume shape {shape}")
        check_out(out, shape)

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        return (self.nz, self.ny, self.nx)

    def new_out(self, out=None):
        if out is not None:
            return out
        if self.is_tensor:
            return torch.empty(self.volume_shape, dtype=torch.float32, device=self.device)
        return np.empty(self.volume_shape, np.float32)

    def series_cols(self, tilt_series, y0: int, y1: int) -> torch.Tensor:
        """Slices ``y0:y1`` of the series, slice-last: ``(n_tilts·nx, B)`` float32 on the device."""
        s = as_series(tilt_series[:, y0:y1, :], self.device)
        return s.transpose(1, 2).reshape(self.n_tilts * self.nx, y1 - y0).contiguous()

    def volume_cols(self, volume, y0: int, y1: int) -> torch.Tensor:
        """Slices ``y0:y1`` of a volume, slice-last: ``(nz·nx, B)``."""
        block = volume[:, y0:y1, :]
        if isinstance(block, torch.Tensor):
            v = block.to(device=self.device, dtype=torch.float32)
        else:
            v = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)).to(self.device)
        if not bool(torch.isfinite(v).all()):
            raise ValueError("the starting volume x0 contains NaN or Inf values")
        return v.transpose(1, 2).reshape(self.nz * self.nx, y1 - y0).contiguous()

    def start_cols(self, x0, y0: int, y1: int, *, nonnegative: bool, scale: float | None = None) -> torch.Tensor:
        """The starting columns of slices ``y0:y1``: ``x0``'s (divided by ``scale``) or zeros, clipped if asked."""
        if x0 is not None:
            x = self.volume_cols(x0, y0, y1)
            if scale is not None:
                x.div_(scale)
        else:
            x = torch.zeros((self.nz * self.nx, y1 - y0), device=self.device)
        if nonnegative:
            x.clamp_(min=0.0)
        return x

    def store_cols(self, out, cols: torch.Tensor, y0: int, y1: int) -> None:
        """Write slice-last columns ``(nz·nx, B)`` into ``out[:, y0:y1, :]``."""
        v = cols.reshape(self.nz, self.nx, y1 - y0).transpose(1, 2)
        if isinstance(out, torch.Tensor):
            out[:, y0:y1, :] = v.to(out.device)
        else:
            out[:, y0:y1, :] = v.cpu().numpy()
            release_pages(out)

    def chunks(self, per_slice_bytes: int, chunk_slices: int | None, cpu_cap_bytes: int) -> list[tuple[int, int]]:
        if chunk_slices is not None and (isinstance(chunk_slices, bool) or int(chunk_slices) != chunk_slices
                                         or int(chunk_slices) < 1):
            raise ValueError(f"chunk_slices must be a positive number of slices, got {chunk_slices}")
        # at least ~32 slices per product where memory allows: the sparse kernels need the width
        cap = max(cpu_cap_bytes, 32 * per_slice_bytes)
        size = int(chunk_slices) if chunk_slices else slices_per_chunk(per_slice_bytes, self.ny, self.device,
                                                                       cap_bytes=cap)
        return chunk_ranges(self.ny, size)


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False) -> None:
    """``ValueError`` unless ``value`` is a finite positive number (an integer if asked)."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        ok = np.isfinite(float(value)) and (float(value) >= 0 if allow_zero else float(value) > 0)
    except (TypeError, ValueError):
        ok = False
    if ok and integer:
        ok = float(value) == int(value)
    if not ok:
        kind = "whole number" if integer else "number"
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} {kind}, got {value!r}")


def safe_inverse(t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``1 / t`` where ``t > eps``, else 0 (rays or pixels the geometry never touches)."""
    return torch.where(t > eps, 1.0 / t.clamp_min(eps), torch.zeros_like(t))


#: keyword arguments that change how a result is computed, not what it is (left out of provenance)
RUNTIME_PARAMETERS = frozenset({"device", "out", "chunk_slices", "projector", "batch_size", "return_residuals",
                                "return_info"})


def recorded_parameters(sig: inspect.Signature, kwargs: dict) -> dict:
    """The parameters a result depends on (after the first two), with the defaults filled in."""
    params = list(sig.parameters.values())[2:]
    return {p.name: kwargs.get(p.name, p.default) for p in params
            if p.name not in RUNTIME_PARAMETERS and p.kind is p.KEYWORD_ONLY}


def _unpack(series, tilt_angles_deg):
    """``(data, angles)`` of a TiltSeries; explicit angles win over the series' own."""
    from napari_irdm.errors import ParameterError

    angles = series.tilt_angles_deg if tilt_angles_deg is None else tilt_angles_deg
    if angles is None:
        what = f"tilt series {series.source}" if series.source else "the tilt series"
        raise ParameterError(f"{what} has no tilt angles: give `tilt_angles_deg` (one angle per image)",
                             "tilt_angles_deg")
    return series.data, angles


def _no_angles() -> ValueError:
    from napari_irdm.errors import ParameterError

    return ParameterError("`tilt_angles_deg` is missing: give one angle per image, or a TiltSeries that "
                          "carries them", "tilt_angles_deg")


def accepts_series(label: str) -> Callable[[Callable], Callable]:
    """Let a reconstruction ``fn(tilt_series, tilt_angles_deg, **kw)`` also take a TiltSeries.

    Arrays and tensors go through unchanged (same result, bit for bit). A
    :class:`~napari_irdm.data.TiltSeries` is unpacked (its angles unless ``tilt_angles_deg``
    is given) and the result comes back as a :class:`~napari_irdm.data.Volume` made by
    :meth:`~napari_irdm.data.Volume.from_series`: the series' pixel size, the angles used,
    and its provenance plus one line ``"<label> key=value ..."`` (the parameters the result
    depends on, defaults included). Works for eager functions and progress generators; a
    tuple result (e.g. SIRT's ``return_info``) gets the Volume in its first place.
    The wrapper's ``describe(**kw)`` returns that step text without running anything.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        def describe(**kwargs) -> str:
            from napari_irdm.data import format_step

            return format_step(label, recorded_parameters(sig, kwargs))

        def wrap(series, angles, result, kwargs, chosen):
            from napari_irdm.data import Volume, format_choices

            first = result[0] if isinstance(result, tuple) else result
            vol = Volume.from_series(series, first, step=format_choices(describe(**kwargs), chosen),
                                     tilt_angles_deg=angles)
            return (vol, *result[1:]) if isinstance(result, tuple) else vol

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def wrapper(tilt_series, tilt_angles_deg=None, **kwargs):
                from napari_irdm.data import TiltSeries

                if not isinstance(tilt_series, TiltSeries):
                    if tilt_angles_deg is None:
                        raise _no_angles()
                    return (yield from fn(tilt_series, tilt_angles_deg, **kwargs))
                data, angles = _unpack(tilt_series, tilt_angles_deg)
                with recording_choices() as chosen:
                    result = yield from fn(data, angles, **kwargs)
                return wrap(tilt_series, angles, result, kwargs, chosen)
        else:
            @functools.wraps(fn)
            def wrapper(tilt_series, tilt_angles_deg=None, **kwargs):
                from napari_irdm.data import TiltSeries

                if not isinstance(tilt_series, TiltSeries):
                    if tilt_angles_deg is None:
                        raise _no_angles()
                    return fn(tilt_series, tilt_angles_deg, **kwargs)
                data, angles = _unpack(tilt_series, tilt_angles_deg)
                with recording_choices() as chosen:
                    result = fn(data, angles, **kwargs)
                return wrap(tilt_series, angles, result, kwargs, chosen)

        wrapper.describe = describe  # type: ignore[attr-defined]
        return wrapper

    return decorate
def eager(gen_fn: Callable, summary: str) -> Callable:
    """The eager form of a progress generator ``gen_fn``: same parameters, returns its result.

    The signature (``inspect.signature``) is ``gen_fn``'s; the docstring is ``summary`` plus a
    pointer to ``gen_fn`` for the parameters.
    """

    @functools.wraps(gen_fn)
    def run(*args, **kwargs):
        return run_to_completion(gen_fn(*args, **kwargs))

    name = gen_fn.__name__.removesuffix("_iter")
    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"{summary} (eager wrapper of :func:`{gen_fn.__name__}`); see there for parameters."
    run.__signature__ = inspect.signature(gen_fn).replace(return_annotation=Any)  # type: ignore[attr-defined]
    if hasattr(gen_fn, "describe"):  # accepts_series: the provenance step, for the eager form too
        run.describe = gen_fn.describe  # type: ignore[attr-defined]
    return run
