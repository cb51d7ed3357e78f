"""Tilt-axis angle by common lines: every image projected onto the tilt axis gives the same profile.

For a single-axis tilt series with the axis along ``y``, summing an aligned image along ``x``
gives ``P(y) = ∫∫ f(x, y, z) dx dz`` whatever the tilt, provided the specimen lies inside the
field of view in ``x``. An in-plane axis error ``δ`` sums along lines tilted by ``δ``: a point
projected to ``x_θ`` lands at ``y − δ x_θ``, which differs from tilt to tilt. The spread of
the profiles, after giving each one its own ``y`` shift and gain (drift and beam current), is
therefore lowest at the true axis and grows as ``δ²``. Unlike the re-projection residual it
involves no reconstruction, which for limited tilt ranges fits part of an inconsistent series
(there are fewer projections than unknowns per slice) and so barely sees ``δ``.
"""

from __future__ import annotations

import numpy as np
import torch

from napari_irdm.align._transforms import Transforms, apply_transforms

__all__ = ["axis_profiles", "common_line_loss", "sweep_rotation_common_line"]


def axis_profiles(images: torch.Tensor, transforms: Transforms, *, edge_fraction: float = 0.125) -> torch.Tensor:
    """Background-subtracted aligned images summed along ``x``; central rows only, shape (n, rows)."""
    al = apply_transforms(images, transforms)
    al = al - al.flatten(1).median(dim=1).values[:, None, None]
    ny = al.shape[1]
    e = int(ny * edge_fraction)
    return al.sum(dim=2)[:, e : ny - e].double()


def _shift_1d(p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Profiles ``p`` (n, m) moved by ``s`` (n,) samples (Fourier shift of the zero-padded profile)."""
    n, m = p.shape
    f = torch.fft.rfft(p, n=2 * m)
    k = torch.fft.rfftfreq(2 * m, device=p.device, dtype=p.dtype)
    f = f * torch.exp(-2j * torch.pi * k[None, :] * s[:, None])
    return torch.fft.irfft(f, n=2 * m)[:, :m]


def _register_1d(p: torch.Tensor, ref: torch.Tensor, max_shift: float) -> torch.Tensor:
    """Shift (n,) that moves each profile onto ``ref`` (cross-correlation, 3-point parabola)."""
    n, m = p.shape
    c = torch.fft.irfft(torch.fft.rfft(ref, n=2 * m)[None] * torch.conj(torch.fft.rfft(p, n=2 * m)), n=2 * m)
    lag = torch.fft.fftfreq(2 * m, 1.0 / (2 * m), device=p.device)
    c = torch.where(lag.abs()[None] <= max_shift, c, torch.full_like(c, -torch.inf))
    i = c.argmax(dim=1)
    cm, c0, cp = (c.gather(1, ((i + k) % (2 * m))[:, None])[:, 0] for k in (-1, 0, 1))
    cm = torch.where(torch.isfinite(cm), cm, c0)
    cp = torch.where(torch.isfinite(cp), cp, c0)
    den = cm - 2 * c0 + cp
    off = torch.where(den.abs() > 1e-30, 0.5 * (cm - cp) / den, torch.zeros_like(den)).clamp(-0.5, 0.5)
    return lag[i].to(p.dtype) + off


def common_line_loss(images: torch.Tensor, transforms: Transforms, *, max_shift: float = 3.0,
                     rounds: int = 2) -> tuple[float, np.ndarray]:
    """Relative spread of the axis profiles after per-image ``y`` shifts and gains.

    Returns
    -------
    loss : float
        ``Σ_i ‖g_i S(s_i) p_i − m‖² / (n ‖m‖²)`` with ``m`` the mean aligned profile.
    dy : ndarray, shape (n,)
        The ``y`` shifts ``s_i`` (pixels) that line the profiles up.
    """
    p = axis_profiles(images, transforms)
    n = p.shape[0]
    s = torch.zeros(n, dtype=p.dtype, device=p.device)
    q = p
    for _ in range(max(1, int(rounds))):
        ref = q.mean(dim=0)
        s = s + _register_1d(q, ref, max_shift)
        q = _shift_1d(p, s)
    ref = q.mean(dim=0)
    g = (q * ref).sum(dim=1) / (q * q).sum(dim=1).clamp_min(1e-30)  # gain: beam current, 1/cos θ path
    q = q * g[:, None]
    ref = q.mean(dim=0)
    loss = float(((q - ref) ** 2).sum() / (n * (ref * ref).sum().clamp_min(1e-30)))
    return loss, s.cpu().numpy()


def sweep_rotation_common_line(images: torch.Tensor, t: Transforms, half_range_deg: float, *,
                               tol_deg: float = 0.005, step_deg: float = 0.25,
                               update_y: bool = True) -> tuple[Transforms, float]:
    """Tilt-axis angle ``φ`` (about the image centre) with the lowest :func:`common_line_loss`.

    A grid of ``step_deg`` over ``± half_range_deg`` around the current angle, then a bounded
    Brent search within one step of the best grid point. With ``update_y`` the ``y`` shifts
    that line the profiles up at the chosen angle are added to the transforms (their mean
    removed: a constant ``y`` shift only moves the specimen).
    """
    from napari_irdm.align._pm import minimise_1d

    phi0, shifts, angles = t.rotation_deg, t.shifts_xy, t.tilt_angles_deg
    span = max(float(half_range_deg), step_deg)
    maxs = max(3.0, 0.5 * images.shape[2] * np.deg2rad(span) + 2.0)

    def with_phi(phi):
        return Transforms.from_parameters(shifts, phi, angles, pixel_size_A=t.pixel_size_A)

    def f(phi):
        return common_line_loss(images, with_phi(phi), max_shift=maxs)[0]

    grid = phi0 + np.arange(-span, span + 1e-9, step_deg)
    best = float(grid[int(np.argmin([f(p) for p in grid]))])
    phi, loss = minimise_1d(f, best - step_deg, best + step_deg, tol=tol_deg)
    out = with_phi(phi)
    if update_y:
        _, dy = common_line_loss(images, out, max_shift=maxs)
        m = out.matrices.copy()
        # a y shift s_i of the aligned profile is a shift of the aligned image: d += (0, s_i)
        m[:, 1, 2] += dy - dy.mean()
        out = out.replace(matrices=m)
    return out, loss
