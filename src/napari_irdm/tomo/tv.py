"""Total-variation regularised reconstruction (preconditioned Chambolle–Pock), slice-batched."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.tomo._common import Setup, check_positive, safe_inverse
from napari_irdm.tomo.projector import ParallelProjector

__all__ = ["tv", "tv_iter"]

_CPU_CHUNK_BYTES = 56 << 20


def _grad(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of slices ``(nz, nx, B)`` → ``(2, nz, nx, B)`` (zero at the far edge)."""
    g = torch.zeros((2, *x.shape), dtype=x.dtype, device=x.device)
    torch.sub(x[1:], x[:-1], out=g[0, :-1])
    torch.sub(x[:, 1:], x[:, :-1], out=g[1, :, :-1])
    return g


def _grad_adjoint(g: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_grad` (minus the divergence): ``(2, nz, nx, B)`` → ``(nz, nx, B)``."""
    out = torch.zeros(g.shape[1:], dtype=g.dtype, device=g.device)
    out[:-1] -= g[0, :-1]
    out[1:] += g[0, :-1]
    out[:, :-1] -= g[1, :, :-1]
    out[:, 1:] += g[1, :, :-1]
    return out


def _abs_max(a) -> float:
    if isinstance(a, torch.Tensor):
        return float(a.abs().max()) if a.numel() else 0.0
    m = 0.0
    for i in range(0, a.shape[0], 16):  # bounded memory on memory-mapped files
        m = max(m, float(np.abs(np.asarray(a[i : i + 16], dtype=np.float32)).max()))
    return m


def tv_iter(
    tilt_series,
    tilt_angles_deg,
    *,
    tv_weight: float = 0.01,
    iterations: int = 100,
    nonnegative: bool = False,
    thickness: int | None = None,
    device: Any = None,
    x0=None,
    out=None,
    chunk_slices: int | None = None,
) -> Generator[Progress, None, Any]:
    """TV-regularised least squares as a progress generator; ``return``s the volume.

    Parameters
    ----------
    tilt_series : ndarray or tensor, shape (n_tilts, ny, nx)
        Projections with the tilt axis along ``y``.
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees, one per image.
    tv_weight : float
        Weight ``w`` of the total variation, relative to the data scaled to a
        maximum of 1 (see Notes). Larger: flatter regions, fewer streaks, less detail.
    iterations : int
        Primal–dual iterations (each one forward and one back-projection).
    nonnegative : bool
        Constrain voxels to be ≥ 0.
    thickness, device, x0, out, chunk_slices
        As in :func:`napari_irdm.tomo.sirt`.

    Returns
    -------
    volume : ndarray or tensor, shape (nz, ny, nx), float32
        NumPy in → NumPy out; tensor in → tensor out.

    Notes
    -----
    Each slice ``x`` (perpendicular to the tilt axis) solves

    ``min_x 1/(2 n_tilts) ‖A x − b/s‖² + w · Σ |∇x|₂  (+ x ≥ 0)``,   result ``s · x``,

    with ``s = max |b|`` over the whole series (so ``w`` does not depend on the
    intensity units) and isotropic 2-D total variation. It is solved with the
    diagonally preconditioned primal–dual algorithm (step sizes from the row and
    column sums of ``A`` and ``∇``, no norm estimate needed); all slices of a chunk
    are updated together in one batched product.

    References
    ----------
    T. Pock and A. Chambolle, "Diagonal preconditioning for first order primal-dual
    algorithms in convex optimization", ICCV 2011.
    E. Y. Sidky, J. H. Jørgensen and X. Pan, "Convex optimization problem prototyping
    for image reconstruction in computed tomography with the Chambolle–Pock algorithm",
    Phys. Med. Biol. 57, 3065 (2012).
    """
    check_positive("tv_weight", tv_weight, allow_zero=True)
    check_positive("iterations", iterations, integer=True, allow_zero=True)
    setup = Setup(tilt_series, tilt_angles_deg, thickness=thickness, device=device, x0=x0, out=out)
    iterations = int(iterations)
    nz, nx, n_tilts = setup.nz, setup.nx, setup.n_tilts
    proj = ParallelProjector(setup.angles, setup.volume_shape, device=setup.device)
    sigma = safe_inverse(proj.row_sums())[:, None]  # dual steps of the data rows
    tau = (1.0 / (proj.col_sums() + 4.0))[:, None]  # primal steps; |∇| has column sums ≤ 4
    m = float(n_tilts)
    w = float(tv_weight)
    scale = _abs_max(tilt_series)
    if scale == 0.0:
        scale = 1.0
    out = setup.new_out(out)
    per_slice = 4 * (7 * nz * nx + 3 * n_tilts * nx)
    chunks = setup.chunks(per_slice, chunk_slices, _CPU_CHUNK_BYTES)
    total = max(1, len(chunks) * iterations)
    yield Progress(0, total, "TV")
    for ci, (y0, y1) in enumerate(chunks):
        nb = y1 - y0
        b = setup.series_cols(tilt_series, y0, y1).div_(scale)
        if x0 is not None:
            x = setup.volume_cols(x0, y0, y1).div_(scale)
        else:
            x = torch.zeros((nz * nx, nb), device=setup.device)
        if nonnegative:
            x.clamp_(min=0.0)
        xbar = x.clone()
        p = torch.zeros_like(b)
        q = torch.zeros((2, nz, nx, nb), device=setup.device)
        sigma_b = sigma * b
        denom = 1.0 + sigma * m
        for it in range(iterations):
            # dual ascent, data rows: prox of F*(p) = m/2 |p|² + <p, b>
            p.add_(sigma * proj.forward_cols(xbar)).sub_(sigma_b).div_(denom)
            # dual ascent, gradient rows (dual step 1/2): project onto |q|₂ ≤ w
            q.add_(_grad(xbar.view(nz, nx, nb)), alpha=0.5)
            norm = torch.sqrt(q[0] ** 2 + q[1] ** 2).div_(max(w, 1e-30)).clamp_(min=1.0)
            q.div_(norm)
            # primal descent
            upd = proj.adjoint_cols(p).add_(_grad_adjoint(q).view(nz * nx, nb))
            x_new = torch.addcmul(x, tau, upd, value=-1.0)
            if nonnegative:
                x_new.clamp_(min=0.0)
            torch.sub(2.0 * x_new, x, out=xbar)
            x = x_new
            yield Progress(ci * iterations + it + 1, total, f"TV iteration {it + 1}/{iterations}, slices {y0}–{y1}")
        setup.store_cols(out, x.mul_(scale), y0, y1)
    if not iterations:
        yield Progress(total, total, "TV")
    return out


def tv(tilt_series, tilt_angles_deg, *, tv_weight: float = 0.01, iterations: int = 100, nonnegative: bool = False,
       thickness: int | None = None, device: Any = None, x0=None, out=None, chunk_slices: int | None = None):
    """TV-regularised reconstruction (eager wrapper of :func:`tv_iter`); see there for parameters."""
    return run_to_completion(
        tv_iter(tilt_series, tilt_angles_deg, tv_weight=tv_weight, iterations=iterations, nonnegative=nonnegative,
                thickness=thickness, device=device, x0=x0, out=out, chunk_slices=chunk_slices)
    )
