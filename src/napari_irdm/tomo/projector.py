"""Parallel-beam single-axis projector as a linear operator (forward / adjoint).

Every slice perpendicular to the tilt axis shares one 2-D geometry, so the
projector is a single sparse matrix ``A`` of shape ``(n_tilts·n_det, nz·nx)``
applied to all slices at once: the slices are the columns of a dense matrix.
That turns the whole back-projection of a chunk of slices into one sparse-dense
product, which is what makes WBP/SIRT fast on a CPU.

Model: pixel ``(z, x)`` projects at tilt θ to ``u = x cos θ + z sin θ`` and
spreads its value over the two nearest detector bins with linear weights
(mass-conserving). The adjoint is the classic linearly-interpolated
back-projection used by WBP.
"""

from __future__ import annotations


from typing import Any

import numpy as np
import torch

from napari_irdm.device import resolve_device
from napari_irdm.tomo.geometry import check_angles

__all__ = ["ParallelProjector"]

#: Matrices larger than this (non-zeros) are built per block of angles on every call
#: instead of being cached, which keeps memory bounded for 1024² slices.
_CACHE_NNZ = 160_000_000
_BLOCK_NNZ = 40_000_000


class ParallelProjector:
    """Linear operator for a single-axis parallel-beam tilt series.

    Parameters
    ----------
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees (any order, repeats allowed).
    volume_shape : tuple (nz, ny, nx)
        Shape of the volume; ``ny`` (the tilt axis) only fixes ``domain_shape``:
        :meth:`forward` and :meth:`adjoint` accept any number of slices.
    n_det : int, optional
        Detector width in pixels (default ``nx``).
    device : str or torch.device, optional
        Where the matrices live (see :func:`napari_irdm.device.resolve_device`).

    Notes
    -----
    ``forward`` maps a volume ``(nz, ny, nx)`` to a tilt series ``(n_tilts, ny, n_det)``;
    ``adjoint`` maps back. Both accept NumPy (returns NumPy) or torch tensors.
    ``<y, A x> = <Aᵀ y, x>`` holds to float32 precision (tested).
    """

    def __init__(self, tilt_angles_deg, volume_shape, *, n_det: int | None = None, device: Any = None):
        if len(volume_shape) != 3:
            raise ValueError(f"volume_shape must be (nz, ny, nx), got {tuple(volume_shape)}")
        self.angles_deg = check_angles(tilt_angles_deg)
        self.nz, self.ny, self.nx = (int(s) for s in volume_shape)
        self.n_det = int(n_det) if n_det is not None else self.nx
        self.n_tilts = int(self.angles_deg.size)
        self.device = resolve_device(device)
        self._blocks: list[list] | None = None
        nnz = 2 * self.n_tilts * self.nz * self.nx
        block = max(1, min(self.n_tilts, _BLOCK_NNZ // max(1, 2 * self.nz * self.nx)))
        self._angle_blocks = [(s, min(self.n_tilts, s + block)) for s in range(0, self.n_tilts, block)]
        self._cache = nnz <= _CACHE_NNZ

    # ------------------------------------------------------------------ shapes
    @property
    def domain_shape(self) -> tuple[int, int, int]:
        return (self.nz, self.ny, self.nx)

    @property
    def range_shape(self) -> tuple[int, int, int]:
        return (self.n_tilts, self.ny, self.n_det)

    # ---------------------------------------------------------------- matrices
    def _build_block(self, a0: int, a1: int) -> torch.Tensor:
        """Back-projection matrix ``Aᵀ`` for angles ``a0:a1`` as CSR (pixels × bins).

        Every row has exactly ``2·k`` entries (two bins per angle) in increasing column
        order, so the CSR arrays are written directly: no sorting, no COO round trip.
        Bins that fall off the detector get weight 0.
        """
        dev = self.device
        k = a1 - a0
        n = self.n_det
        theta = torch.deg2rad(torch.as_tensor(self.angles_deg[a0:a1], dtype=torch.float64, device=dev))
        z = torch.arange(self.nz, dtype=torch.float64, device=dev) - (self.nz - 1) / 2.0
        x = torch.arange(self.nx, dtype=torch.float64, device=dev) - (self.nx - 1) / 2.0
        cos_t, sin_t = torch.cos(theta), torch.sin(theta)
        # detector coordinate of every pixel centre, pixel p = iz·nx + ix, shape (npix, k)
        t = (x[None, :, None] * cos_t + z[:, None, None] * sin_t + (n - 1) / 2.0).reshape(-1, k)
        i0 = torch.floor(t)
        w1 = (t - i0).to(torch.float32)
        i0 = i0.to(torch.int64)
        del t
        w0 = 1.0 - w1
        # the pair of bins is (c, c+1) with c clamped to [0, n-2]; weights of bins off the detector are 0
        c = i0.clamp(0, max(n - 2, 0))
        lo = torch.where(i0 == c, w0, torch.where(i0 == c - 1, w1, torch.zeros_like(w0)))
        hi = torch.where(i0 == c, w1, torch.where(i0 == c + 1, w0, torch.zeros_like(w0)))
        if n == 1:
            lo, hi = torch.where(i0 == 0, w0, torch.where(i0 == -1, w1, torch.zeros_like(w0))), torch.zeros_like(w0)
        c = c + (torch.arange(k, device=dev, dtype=torch.int64) * n)[None, :]
        step = 1 if n > 1 else 0
        cols = torch.stack([c, c + step], dim=-1).reshape(-1)
        vals = torch.stack([lo, hi], dim=-1).reshape(-1)
        npix = self.nz * self.nx
        idx = torch.int32 if max(cols.numel(), k * n) < 2**31 - 1 else torch.int64
        crow = torch.arange(npix + 1, device=dev, dtype=torch.int64) * (2 * k)
        return torch.sparse_csr_tensor(
            crow.to(idx), cols.to(idx), vals, size=(npix, k * n), device=dev, check_invariants=False
        )

    @staticmethod
    def _transpose(at: torch.Tensor) -> torch.Tensor:
        """CSR of ``A`` from CSR of ``Aᵀ`` (their CSC and CSR storages coincide)."""
        csc = at.to_sparse_csc()
        return torch.sparse_csr_tensor(
            csc.ccol_indices(), csc.row_indices(), csc.values(), size=(at.shape[1], at.shape[0]),
            device=at.device, check_invariants=False,
        )

    def _iter_blocks(self, need_forward: bool = False):
        """Yield ``(a0, a1, Aᵀ_block, A_block or None)``; caches when small enough."""
        if self._blocks is None and self._cache:
            self._blocks = [[a0, a1, self._build_block(a0, a1), None] for a0, a1 in self._angle_blocks]
        if self._blocks is not None:
            for blk in self._blocks:
                if need_forward and blk[3] is None:
                    blk[3] = self._transpose(blk[2])
                yield tuple(blk)
            return
        for a0, a1 in self._angle_blocks:
            at = self._build_block(a0, a1)
            yield a0, a1, at, (self._transpose(at) if need_forward else None)

    # ------------------------------------------------------ slice-last kernels
    def forward_cols(self, x_cols: torch.Tensor) -> torch.Tensor:
        """Forward-project slices stored as columns: ``(nz·nx, B)`` → ``(n_tilts·n_det, B)``."""
        parts = [torch.sparse.mm(a, x_cols) for _a0, _a1, _at, a in self._iter_blocks(need_forward=True)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)

    def adjoint_cols(self, y_cols: torch.Tensor) -> torch.Tensor:
        """Back-project columns: ``(n_tilts·n_det, B)`` → ``(nz·nx, B)``."""
        out = None
        n = self.n_det
        for a0, a1, at, _a in self._iter_blocks():
            part = torch.sparse.mm(at, y_cols[a0 * n : a1 * n])
            out = part if out is None else out.add_(part)
        return out

    # ------------------------------------------------------------- public API
    def forward(self, volume):
        """Project a volume ``(nz, ny, nx)`` into a tilt series ``(n_tilts, ny, n_det)``."""
        is_np = not isinstance(volume, torch.Tensor)
        v = torch.as_tensor(np.asarray(volume, dtype=np.float32) if is_np else volume)
        if v.ndim != 3 or v.shape[0] != self.nz or v.shape[2] != self.nx:
            raise ValueError(f"volume shape {tuple(v.shape)} does not match the projector's (nz, ·, nx) = ({self.nz}, ·, {self.nx})")
        v = v.to(self.device, torch.float32)
        ny = v.shape[1]
        cols = v.permute(0, 2, 1).reshape(self.nz * self.nx, ny)
        y = self.forward_cols(cols.contiguous()).reshape(self.n_tilts, self.n_det, ny).permute(0, 2, 1).contiguous()
        return y.cpu().numpy() if is_np else y

    def adjoint(self, series):
        """Back-project a tilt series ``(n_tilts, ny, n_det)`` into a volume ``(nz, ny, nx)`` (no filter)."""
        is_np = not isinstance(series, torch.Tensor)
        s = torch.as_tensor(np.asarray(series, dtype=np.float32) if is_np else series)
        if s.ndim != 3 or s.shape[0] != self.n_tilts or s.shape[2] != self.n_det:
            raise ValueError(
                f"tilt series shape {tuple(s.shape)} does not match the projector's (n_tilts, ·, n_det) = ({self.n_tilts}, ·, {self.n_det})"
            )
        s = s.to(self.device, torch.float32)
        ny = s.shape[1]
        cols = s.permute(0, 2, 1).reshape(self.n_tilts * self.n_det, ny)
        v = self.adjoint_cols(cols.contiguous()).reshape(self.nz, self.nx, ny).permute(0, 2, 1).contiguous()
        return v.cpu().numpy() if is_np else v

    def __repr__(self) -> str:
        lo, hi = float(self.angles_deg.min()), float(self.angles_deg.max())
        return (
            f"ParallelProjector(n_tilts={self.n_tilts}, range=[{lo:g}°, {hi:g}°], "
            f"volume_shape={self.domain_shape}, n_det={self.n_det}, device={self.device})"
        )


