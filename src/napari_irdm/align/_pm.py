"""Re-projection residual, parameter sweeps and projection matching with the project's projector."""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F

from napari_irdm.align._register import register_batch
from napari_irdm.align._transforms import Transforms, apply_transforms
from napari_irdm.progress import Progress

__all__ = ["Level", "gauge_free", "reprojection_residual"]


class Level:
    """The raw series at one binning, with the row subset used for reconstructions.

    Coordinates: full-resolution centred ``x_f = b·x_l + o`` where ``o`` is the offset of the
    cropped (multiple-of-``b``) field's centre; :meth:`to_level` converts transforms.
    """

    def __init__(self, raw: torch.Tensor, binning: int, *, max_rows: int = 96, edge_fraction: float = 0.125):
        n, ny, nx = raw.shape
        b = int(binning)
        ry, rx = ny % b, nx % b
        y0, x0 = ry // 2, rx // 2
        crop = raw[:, y0 : ny - (ry - y0), x0 : nx - (rx - x0)]
        self.offset = np.array([((x0) - (rx - x0)) / 2.0, ((y0) - (ry - y0)) / 2.0])
        self.binning = b
        self.data = F.avg_pool2d(crop[:, None], b)[:, 0] if b > 1 else crop.contiguous()
        self.n, self.ny, self.nx = self.data.shape
        lo, hi = int(self.ny * edge_fraction), self.ny - int(self.ny * edge_fraction)
        count = hi - lo
        self.stride = max(1, math.ceil(count / max_rows))
        self.rows = torch.arange(lo, hi, self.stride, device=raw.device)
        m = int(self.nx * edge_fraction)
        self.xmask = torch.zeros(self.nx, dtype=torch.bool, device=raw.device)
        self.xmask[m : self.nx - m] = True

    def to_level(self, t: Transforms) -> Transforms:
        a = t.matrices[:, :, :2]
        d = t.matrices[:, :, 2]
        m = t.matrices.copy()
        m[:, :, 2] = (d + np.einsum("nij,j->ni", a, self.offset) - self.offset) / self.binning
        return t.replace(matrices=m)

    def from_level(self, t: Transforms) -> Transforms:
        a = t.matrices[:, :, :2]
        m = t.matrices.copy()
        m[:, :, 2] = t.matrices[:, :, 2] * self.binning - np.einsum("nij,j->ni", a, self.offset) + self.offset
        return t.replace(matrices=m)


def gauge_free(dx: np.ndarray, dy: np.ndarray, tilt_angles_deg, *, keep_centre: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Remove the shifts that only move the object: ``a cos θ + b sin θ`` in x, a constant in y.

    Shifts of that form are a rigid translation of the specimen (x, z and y), which no
    re-projection can see. ``keep_centre=False`` also removes a constant in ``x`` (the
    rotation centre, which projection matching leaves to :func:`sweep_centre`).
    """
    th = np.deg2rad(np.asarray(tilt_angles_deg, np.float64))
    g = np.stack([np.cos(th), np.sin(th)] + ([] if keep_centre else [np.ones_like(th)]), 1)
    if th.size >= 3:
        coef, *_ = np.linalg.lstsq(g, dx, rcond=None)
        dx = dx - g @ coef
    return dx, dy - dy.mean()


#: how the re-projections are made: "loo" (leave-one-out WBP) or "sirt" (SIRT, iterations, >= 0)
RECON = {"method": "sirt", "iterations": 20}


def _reconstruct_reproject(images: torch.Tensor, angles: np.ndarray, nz: int) -> torch.Tensor:
    if RECON["method"] == "sirt":
        from napari_irdm.tomo import ParallelProjector, sirt

        vol = sirt(images, angles, iterations=RECON["iterations"], nonnegative=True, thickness=nz, device=images.device)
        return ParallelProjector(angles, (nz,) + tuple(images.shape[1:]), device=images.device).forward(vol)
    return _loo_reproject(images, angles, nz)


def _loo_reproject(images: torch.Tensor, angles: np.ndarray, nz: int) -> torch.Tensor:
    """Leave-one-out re-projection: each image predicted by the WBP of all the *other* images.

    WBP is linear, ``W p = Σ_j B_j (w_j h * p_j)``, so the prediction of image ``i`` from the
    others is ``A_i W p − A_i B_i (w_i h * p_i)``: one back-projection and one projection per
    angle (a projector with one angle block per image), about twice the cost of one WBP and
    re-projection. Without the image's own term the residual is not lowered by the image
    agreeing with itself, so its minimum sits at the consistent geometry even for limited
    tilt ranges (the plain WBP re-projection residual is not minimal there).
    """
    from napari_irdm.geometry import angular_weights
    from napari_irdm.tomo import ParallelProjector
    from napari_irdm.tomo.filters import filter_matrix
    from napari_irdm.tomo.wbp import filtered_cols

    n, r, nx = images.shape
    dev = images.device
    proj = ParallelProjector(angles, (nz, r, nx), device=dev, angle_blocks=[(i, i + 1) for i in range(n)])
    w = torch.as_tensor(angular_weights(angles), dtype=torch.float32, device=dev)
    mat = torch.as_tensor(filter_matrix(nx, "ramp"), dtype=torch.float32, device=dev)
    cols = filtered_cols(images.float(), "ramp", w, mat)  # (n·nx, r)
    vol = None
    own = []
    for i in range(n):
        bi = proj.adjoint_block(i, cols[i * nx : (i + 1) * nx])
        own.append(proj.forward_block(i, bi))
        vol = bi if vol is None else vol.add_(bi)
    out = torch.empty((n, r, nx), dtype=torch.float32, device=dev)
    for i in range(n):
        assert vol is not None  # set by the first loop (n > 0 here)
        out[i] = (proj.forward_block(i, vol) - own[i]).T
    return out


def reprojection_residual(level: Level, transforms_level: Transforms, angles=None, *,
                          return_images: bool = False, per_image: bool = False):
    """Relative re-projection residual ``‖p − s·A W p‖² / ‖p‖²`` of the aligned rows of a level.

    With ``per_image``: ``(residual, per-image residuals ‖p_i − s·q_i‖² / ‖p_i‖²)``.

    ``p`` are the aligned images (rows ``level.rows``, central columns), ``W`` weighted
    back-projection, ``A`` the projector and ``s`` the least-squares scale (WBP of a
    limited range loses some amplitude). Lower means a more self-consistent series.
    """
    angles = transforms_level.tilt_angles_deg if angles is None else np.asarray(angles, np.float64)
    aligned = apply_transforms(level.data, transforms_level)
    p = aligned[:, level.rows, :]
    p = p - p.flatten(1).median(dim=1).values[:, None, None]
    q = _reconstruct_reproject(p, angles, level.nx)
    pm, qm = p[:, :, level.xmask], q[:, :, level.xmask]
    s = float((pm * qm).sum() / (qm * qm).sum().clamp_min(1e-20))
    res = float(((pm - s * qm) ** 2).sum() / (pm**2).sum().clamp_min(1e-20))
    if per_image:
        per = ((pm - s * qm) ** 2).flatten(1).sum(dim=1) / (pm**2).flatten(1).sum(dim=1).clamp_min(1e-20)
        return res, per.double().cpu().numpy()
    if return_images:
        return res, aligned, p, s * q
    return res


def sharpness_loss(level: Level, transforms_level: Transforms) -> float:
    """Minus the sparsity ``Σ v⁴ / (Σ v²)²`` (× number of voxels) of the WBP of the aligned rows.

    A wrong rotation centre or tilt-axis angle smears every feature into arcs, which lowers
    this normalised fourth moment; unlike the re-projection residual it does not flatten out
    for limited tilt ranges, where a common x-shift is almost a rigid motion of the specimen.
    """
    from napari_irdm.tomo import wbp

    aligned = apply_transforms(level.data, transforms_level)
    p = aligned[:, level.rows, :]
    p = p - p.flatten(1).median(dim=1).values[:, None, None]
    v = wbp(p, transforms_level.tilt_angles_deg, thickness=level.nx, device=p.device).double()
    v2 = (v * v).sum().clamp_min(1e-30)
    return -float((v**4).sum() / v2**2 * v.numel())


def minimise_1d(fn, lo: float, hi: float, *, tol: float) -> tuple[float, float]:
    """Bounded Brent minimisation of a scalar function; returns ``(x, f(x))``."""
    from scipy.optimize import minimize_scalar

    r = minimize_scalar(fn, bounds=(lo, hi), method="bounded", options={"xatol": tol})
    return float(r.x), float(r.fun)


def sweep_centre(level: Level, t: Transforms, half_range_px: float, tol_px: float) -> tuple[Transforms, float]:
    """Shift every image by one common ``Δx`` (rotation-centre offset) that makes the WBP sharpest."""
    base = t.matrices.copy()

    def with_c(c):
        m = base.copy()
        m[:, 0, 2] += c
        return t.replace(matrices=m)

    def f(c):
        return sharpness_loss(level, with_c(c))

    c0, span = 0.0, half_range_px
    if half_range_px > 1.5:
        grid = np.arange(-half_range_px, half_range_px + 1e-9, 1.0)
        c0, span = float(grid[int(np.argmin([f(c) for c in grid]))]), 1.0
    c, res = minimise_1d(f, c0 - span, c0 + span, tol=tol_px)
    return with_c(c), res


def _rematch(level: Level, t: Transforms, iterations: int, max_shift: float = 2.0) -> Transforms:
    """A few unconditional projection-matching updates (no centre, no specimen motion)."""
    for _ in range(iterations):
        _, _, p, q = reprojection_residual(level, t, return_images=True)
        d = register_batch(p, q, max_shift=max_shift).cpu().numpy()
        dx, dy = gauge_free(d[:, 0], d[:, 1], t.tilt_angles_deg, keep_centre=False)
        if level.stride > 1:
            dy = np.zeros_like(dy)
        m = t.matrices.copy()
        m[:, 0, 2] += dx
        m[:, 1, 2] += dy
        t = t.replace(matrices=m)
    return t


def sweep_rotation(level: Level, t: Transforms, half_range_deg: float, tol_deg: float, *,
                   rematch: int = 0) -> tuple[Transforms, float]:
    """In-plane tilt-axis angle ``φ`` (same for all images, about the image centre) with the lowest re-projection residual.

    (The sharpness of :func:`sharpness_loss` is not used here: on an elongated specimen such as
    a needle it also rewards turning the images so that the specimen lines up with the axis.)

    With ``rematch > 0`` every candidate angle first gets that many projection-matching updates
    of the shifts (the angle and the shifts are coupled: shifts found with a wrong axis absorb
    part of it), so the search profiles the sharpness over the shifts.
    """
    phi0 = t.rotation_deg
    shifts = t.shifts_xy

    def with_phi(phi):
        tp = Transforms.from_parameters(shifts, phi, t.tilt_angles_deg, pixel_size_A=t.pixel_size_A)
        return _rematch(level, tp, rematch) if rematch else tp

    def f(p):
        return reprojection_residual(level, with_phi(p))

    if half_range_deg > 1.0:  # a grid first: the residual need not be unimodal over several degrees
        grid = np.arange(phi0 - half_range_deg, phi0 + half_range_deg + 1e-9, 0.5)
        phi0 = float(grid[int(np.argmin([f(p) for p in grid]))])
        half_range_deg = 0.5
    phi, res = minimise_1d(f, phi0 - half_range_deg, phi0 + half_range_deg, tol=tol_deg)
    best = Transforms.from_parameters(shifts, phi, t.tilt_angles_deg, pixel_size_A=t.pixel_size_A)
    return best, res


def sweep_tilt_offset(level: Level, t: Transforms, half_range_deg: float, tol_deg: float) -> tuple[Transforms, float]:
    """A global offset added to all tilt angles that minimises the residual."""
    a0 = t.tilt_angles_deg.copy()
    off, res = minimise_1d(lambda o: reprojection_residual(level, t.replace(tilt_angles_deg=a0 + o)),
                           -half_range_deg, half_range_deg, tol=tol_deg)
    return t.replace(tilt_angles_deg=a0 + off), res


def projection_matching_level(level: Level, t: Transforms, *, iterations: int, max_shift: float,
                              tol_px: float = 0.02) -> Generator[Progress, None, tuple[Transforms, list[float]]]:
    """Projection matching at one level: reconstruct, re-project, register each image to its re-projection.

    Each update is accepted only if the re-projection residual falls (else half of it is tried,
    else the level stops), so the reported residuals fall monotonically. Updates that only
    move the specimen (:func:`gauge_free`) are removed. With a row subset (``stride > 1``) only
    ``x`` is refined.
    """
    res, aligned, p, q = reprojection_residual(level, t, return_images=True)
    residuals = [res]
    for it in range(iterations):
        d = register_batch(p, q, max_shift=max_shift).cpu().numpy()
        dx, dy = gauge_free(d[:, 0], d[:, 1], t.tilt_angles_deg, keep_centre=False)
        if level.stride > 1:
            dy = np.zeros_like(dy)
        accepted = False
        for frac in (1.0, 0.5):
            m = t.matrices.copy()
            m[:, 0, 2] += frac * dx
            m[:, 1, 2] += frac * dy
            trial = t.replace(matrices=m)
            r2, aligned2, p2, q2 = reprojection_residual(level, trial, return_images=True)
            if r2 < res:
                t, res, p, q = trial, r2, p2, q2
                residuals.append(res)
                accepted = True
                break
        yield Progress(it + 1, iterations, f"projection matching bin {level.binning}: residual {res:.5f}")
        if not accepted or float(np.max(np.abs(np.concatenate([dx, dy])))) < tol_px:
            break
    return t, residuals
