"""Weighted (filtered) back-projection, slice-batched and memory-bounded."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from napari_irdm.device import resolve_device
from napari_irdm.geometry import angular_weights
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.tomo._common import as_series, check_out, check_series, chunk_ranges, release_pages, slices_per_chunk
from napari_irdm.tomo.filters import filter_matrix, filter_projections, ramp_response
from napari_irdm.tomo.projector import ParallelProjector

__all__ = ["filtered_cols", "wbp", "wbp_iter"]

#: on the CPU, chunks of ~64 slices of 256² were measured fastest (141 tilts, 2 cores)
_CPU_CHUNK_BYTES = 56 << 20
#: the sparse products lose efficiency below this many slices per product (memory permitting)
_MIN_CHUNK = 32
#: up to this detector width the filter runs as a matrix product (faster than the FFT on CPU and GPU)
_MATMUL_FILTER_MAX = 2048


def filtered_cols(block: torch.Tensor, filter_name: str, weights: torch.Tensor | None = None,
                  matrix: torch.Tensor | None = None) -> torch.Tensor:
    """Filter a chunk ``(n_tilts, B, n_det)`` and return it slice-last: ``(n_tilts·n_det, B)``.

    ``weights`` (n_tilts,) multiply each projection (angular intervals of WBP);
    ``matrix`` is :func:`~napari_irdm.tomo.filters.filter_matrix` as a float32 tensor
    (if omitted, the FFT path is used).
    """
    k, b, n = block.shape
    name = str(filter_name).lower()
    if name == "none":
        q = block.transpose(1, 2).contiguous()
    elif matrix is not None:
        q = torch.matmul(matrix, block.transpose(1, 2))
    else:
        q = filter_projections(block, filter_name, dim=-1).transpose(1, 2).contiguous()
    if weights is not None:
        q.mul_(weights[:, None, None])
    return q.reshape(k * n, b)


def wbp_iter(
    tilt_series,
    tilt_angles_deg,
    *,
    filter_name: str = "ramp",
    thickness: int | None = None,
    device: Any = None,
    out=None,
    chunk_slices: int | None = None,
    projector: ParallelProjector | None = None,
) -> Generator[Progress, None, Any]:
    """Weighted back-projection as a progress generator; ``return``s the volume.

    Parameters
    ----------
    tilt_series : ndarray or tensor, shape (n_tilts, ny, nx)
        Projections with the tilt axis along ``y``.
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees, one per image.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann", "none"}
        Ramp filter and apodisation window.
    thickness : int, optional
        ``nz`` of the output (default ``nx``).
    device : str or torch.device, optional
        Compute device; default: the tensor's device, else ``"auto"``.
    out : array-like, shape (nz, ny, nx), optional
        Written chunk by chunk (e.g. a memory-mapped MRC); returned.
    chunk_slices : int, optional
        Slices per chunk (default: sized from free memory).

    Returns
    -------
    volume : ndarray or tensor, shape (nz, ny, nx), float32
        NumPy in → NumPy out; tensor in → tensor out.

    Notes
    -----
    ``f(z, x) = Σ_i Δθ_i · (h * p_i)(x cos θ_i + z sin θ_i)`` with ``h`` the band-limited
    ramp (optionally windowed) and ``Δθ_i`` the angular interval of projection ``i``
    (:func:`napari_irdm.geometry.angular_weights`), so uneven, asymmetric and
    repeated angles are weighted correctly.

    Scaling (measured, ``tests/tomo/test_tomo_wbp.py``): WBP of a full ±90° series
    (2° steps) of a disc of value 1 gives 1.003 inside (ramp, bias +0.3 %; shepp-logan
    +0.2 %, hann +0.03 %) and below 0.002 in magnitude outside, for 32–128 px slices.

    Speed: the filter is a Toeplitz matrix product that lands directly in the
    slice-last layout, and the back-projection of a chunk of slices is one sparse
    product (:class:`~napari_irdm.tomo.projector.ParallelProjector`); the projector's
    matrices are cached per geometry, so a second call skips the build.
    """
    angles = check_series(tilt_series, tilt_angles_deg)
    ramp_response(4, filter_name)  # validates the name before any work
    is_tensor = isinstance(tilt_series, torch.Tensor)
    if device is None and is_tensor:
        device = tilt_series.device
    dev = resolve_device(device)
    n_tilts, ny, nx = (int(s) for s in tilt_series.shape)
    nz = int(thickness) if thickness is not None else nx
    if nz < 1:
        raise ValueError(f"thickness must be a positive number of voxels, got {thickness}")
    proj = projector or ParallelProjector(angles, (nz, ny, nx), device=dev)
    weights = torch.as_tensor(angular_weights(angles), dtype=torch.float32, device=dev)

    if out is None:
        out = torch.empty((nz, ny, nx), dtype=torch.float32, device=dev) if is_tensor else np.empty((nz, ny, nx), np.float32)
    else:
        check_out(out, (nz, ny, nx))
    if chunk_slices is not None and (isinstance(chunk_slices, bool) or int(chunk_slices) != chunk_slices
                                     or int(chunk_slices) < 1):
        raise ValueError(f"chunk_slices must be a positive number of slices, got {chunk_slices!r}")

    per_slice = 4 * (2 * n_tilts * nx + 2 * nz * nx)
    size = chunk_slices or slices_per_chunk(per_slice, ny, dev, cap_bytes=max(_CPU_CHUNK_BYTES, _MIN_CHUNK * per_slice))
    chunks = chunk_ranges(ny, size)
    yield Progress(0, ny, "weighted back-projection")
    matrix = None
    if nx <= _MATMUL_FILTER_MAX and str(filter_name).lower() != "none":
        matrix = torch.as_tensor(filter_matrix(nx, filter_name), dtype=torch.float32, device=dev)
    for y0, y1 in chunks:
        s = as_series(tilt_series[:, y0:y1, :], dev)
        cols = filtered_cols(s, filter_name, weights, matrix)
        del s
        v = proj.adjoint_cols(cols).reshape(nz, nx, y1 - y0).permute(0, 2, 1)
        if isinstance(out, torch.Tensor):
            out[:, y0:y1, :] = v.to(out.device)
        else:
            out[:, y0:y1, :] = v.cpu().numpy()
            release_pages(out)
        yield Progress(y1, ny, f"WBP slices {y1}/{ny}")
    return out


def wbp(tilt_series, tilt_angles_deg, *, filter_name: str = "ramp", thickness: int | None = None,
        device: Any = None, out=None, chunk_slices: int | None = None):
    """Weighted back-projection (eager wrapper of :func:`wbp_iter`); see there for parameters."""
    return run_to_completion(
        wbp_iter(tilt_series, tilt_angles_deg, filter_name=filter_name, thickness=thickness,
                 device=device, out=out, chunk_slices=chunk_slices)
    )
