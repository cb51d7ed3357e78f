"""Weighted (filtered) back-projection, slice-batched and memory-bounded."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import torch

from napari_irdm.geometry import angular_weights
from napari_irdm.methods import WBPParams
from napari_irdm.progress import Progress
from napari_irdm.tomo._common import Setup, accepts_series, as_series, eager
from napari_irdm.tomo.filters import filter_matrix, filter_projections
from napari_irdm.tomo.projector import ParallelProjector

__all__ = ["filtered_cols", "wbp", "wbp_iter"]

#: on the CPU, chunks of ~64 slices of 256² were measured fastest (141 tilts, 2 cores)
_CPU_CHUNK_BYTES = 56 << 20
#: up to this detector width the filter runs as a matrix product (faster than the FFT on CPU and GPU)
_MATMUL_FILTER_MAX = 2048
#: the defaults (napari_irdm.methods: one definition for the core, the CLI and the widgets)
_D = WBPParams()


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


@accepts_series("reconstruct method=wbp")
def wbp_iter(
    tilt_series,
    tilt_angles_deg=None,
    *,
    filter_name: str = _D.filter_name,
    thickness: int | None = None, device: Any = None, out=None, chunk_slices: int | None = None,
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
    filter_name = WBPParams(filter_name=filter_name).filter_name
    setup = Setup(tilt_series, tilt_angles_deg, thickness=thickness, device=device, out=out)
    dev, n_tilts, ny, nx, nz = setup.device, setup.n_tilts, setup.ny, setup.nx, setup.nz
    proj = projector or ParallelProjector(setup.angles, setup.volume_shape, device=dev)
    weights = torch.as_tensor(angular_weights(setup.angles), dtype=torch.float32, device=dev)
    out = setup.new_out(out)
    chunks = setup.chunks(4 * (2 * n_tilts * nx + 2 * nz * nx), chunk_slices, _CPU_CHUNK_BYTES)
    yield Progress(0, ny, "weighted back-projection")
    matrix = None
    if nx <= _MATMUL_FILTER_MAX and str(filter_name).lower() != "none":
        matrix = torch.as_tensor(filter_matrix(nx, filter_name), dtype=torch.float32, device=dev)
    for y0, y1 in chunks:
        s = as_series(tilt_series[:, y0:y1, :], dev)
        cols = filtered_cols(s, filter_name, weights, matrix)
        del s
        setup.store_cols(out, proj.adjoint_cols(cols), y0, y1)
        yield Progress(y1, ny, f"WBP slices {y1}/{ny}")
    return out


wbp = eager(wbp_iter, "Weighted back-projection")
