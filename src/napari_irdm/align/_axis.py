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

from napari_irdm.align._transforms import Transforms

__all__ = ["AXIS_ELSEWHERE_RATIO", "axis_profiles", "common_line_loss", "scan_axis", "sweep_rotation_common_line"]


#: images larger than this (pixels along an edge) are summed in blocks before :func:`axis_profiles`
#: projects them (a fixed linear step, so the noise stays the same at every angle; it bounds the cost)
PROFILE_MAX_PX = 384
#: Gaussian low-pass of the profiles (σ in pixels): with Poisson noise at 5000 e⁻/Å² it halved the
#: spread of the chosen angle over seven simulated Pt series (docs/alignment.md)
PROFILE_SIGMA_PX = 1.0


def _block_sum(images: torch.Tensor, max_px: int) -> tuple[torch.Tensor, int]:
    """Images summed in ``b × b`` blocks so that no edge exceeds ``max_px`` (the rest left out), and ``b``."""
    n, ny, nx = images.shape
    b = max(1, -(-max(ny, nx) // int(max_px)))
    if b == 1:
        return images, 1
    return images[:, : ny // b * b, : nx // b * b].reshape(n, ny // b, b, nx // b, b).sum(dim=(2, 4)), b


def axis_profiles(images: torch.Tensor, transforms: Transforms, *, edge_fraction: float = 0.125,
                  taper_px: float = 4.0) -> torch.Tensor:
    """Background-subtracted images projected onto the aligned ``y`` axis; central rows only, (n, rows).

    Each raw pixel ``p`` lands at ``y'_p = A₂₁ x_p + A₂₂ y_p + DY`` of the aligned frame; the
    profile is the band-limited projection ``Σ_p w_p v_p D(y − y'_p)`` (``D`` the Dirichlet kernel
    of the sampled line: the inverse DFT of the exact spectrum ``Σ_p w_p v_p e^{−2πik y'_p}``),
    low-passed by a Gaussian of :data:`PROFILE_SIGMA_PX`, with ``w_p`` keeping the pixels that
    fall inside the aligned frame in ``x'`` and within its central rows in ``y'`` (a cosine taper of
    ``taper_px`` at the row limits). No image is resampled, so the noise energy of a profile,
    ``Σ_p w_p² σ_p²``, is the same at every tilt-axis angle. Interpolating the images instead
    smooths their noise more at some angles than at others (not at all at exactly 0°): with
    noisy series that pushed the angle of the lowest spread 0.6–1.6° away from the true one
    (simulated Pt, 2.5 nm, 5000 e⁻/Å², docs/alignment.md). Images larger than
    :data:`PROFILE_MAX_PX` are summed in ``b × b`` blocks first (each block sits at its centre;
    the spectrum then stops at ``1/(2b)``); the profile stays on the full-resolution row grid.
    """
    n, ny, nx = images.shape
    dev = images.device
    v = images.double()
    v, bf = _block_sum(v - v.flatten(1).median(dim=1).values[:, None, None], PROFILE_MAX_PX)
    nyb, nxb = v.shape[1:]
    xs = torch.arange(nxb, dtype=torch.float64, device=dev) * bf + (bf - 1) / 2.0 - (nx - 1) / 2.0
    ys = torch.arange(nyb, dtype=torch.float64, device=dev) * bf + (bf - 1) / 2.0 - (ny - 1) / 2.0
    m = torch.as_tensor(transforms.matrices, dtype=torch.float64, device=dev)  # (n, 2, 3)

    def coordinate(r: int) -> torch.Tensor:  # x' (r = 0) or y' (r = 1) of every (block) pixel, (n, nyb, nxb)
        return (m[:, r, 0, None, None] * xs[None, None, :] + m[:, r, 1, None, None] * ys[None, :, None]
                + m[:, r, 2, None, None])

    xp, yp = coordinate(0), coordinate(1)
    e = int(ny * edge_fraction)
    half = (ny - 1) / 2.0 - e + 0.5  # the rows e .. ny-e-1 of the aligned frame
    t = float(max(taper_px, 1e-6))
    w = (0.5 + 0.5 * torch.cos(torch.pi * ((yp.abs() - (half - t)) / t).clamp(0.0, 1.0))) * (yp.abs() <= half)
    w = w * (xp.abs() <= (nx - 1) / 2.0 + 0.5)
    rows = ny - 2 * e
    length = 2 * rows + 1  # odd (no Nyquist bin), twice the support: the kernel's tails do not wrap
    kmax = min(0.5 / bf, 4.0 / (2.0 * torch.pi * PROFILE_SIGMA_PX)) if PROFILE_SIGMA_PX > 0 else 0.5 / bf
    k = torch.arange(int(kmax * length) + 1, dtype=torch.float64, device=dev) / length  # cycles per pixel
    # spectrum: Σ_y e^{−2πik(b y + d)} Σ_x (w v)(y, x) e^{−2πik a x}, the x sums as real matmuls (one per image)
    a, bb, d = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    wv = (w * v).float()
    ph = 2.0 * torch.pi * k[None, None, :] * (a[:, None, None] * xs[None, :, None])  # (n, nxb, K)
    inner_re = torch.bmm(wv, torch.cos(ph).float()).double()
    inner_im = -torch.bmm(wv, torch.sin(ph).float()).double()
    ey = torch.exp(-2j * torch.pi * k[None, None, :] * (bb[:, None, None] * ys[None, :, None] + d[:, None, None]))
    spec = (torch.complex(inner_re, inner_im) * ey).sum(dim=1)  # (n, K)
    if PROFILE_SIGMA_PX > 0:
        spec = spec * torch.exp(-2.0 * (torch.pi * k * PROFILE_SIGMA_PX) ** 2)[None, :]
    full = torch.zeros((n, length // 2 + 1), dtype=spec.dtype, device=dev)
    full[:, : k.numel()] = spec * torch.exp(2j * torch.pi * k[None, :] * float(-rows))
    prof = torch.fft.irfft(full, n=length)  # sample j at y' = j − rows
    i0 = int(round(rows - (rows - 1) / 2.0))  # the sample at y' = −(rows − 1)/2
    return prof[:, i0 : i0 + rows]


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


#: a scan of every direction (:func:`scan_axis`) is believed over the angles near the start only
#: when its lowest spread is below this fraction of the lowest near the start. Measured: simulated
#: Pt series with the axis rotated 30° / 85° from the start gave 0.04 / 0.08; the nearly round NIST
#: needle, whose axis is 2° from the start, has a spurious minimum 65° away at 0.40 (a cylinder
#: about its own axis looks alike from every tilt, so every direction spreads little).
AXIS_ELSEWHERE_RATIO = 0.2


def scan_axis(images: torch.Tensor, tilt_angles_deg, start_deg: float, *, half_range_deg: float = 90.0,
              step_deg: float = 2.0, max_px: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Common-line spread on a grid of tilt-axis angles ``start ± half_range`` (raw images, no shifts).

    The images are summed in blocks to at most ``max_px`` pixels along an edge first (the
    profiles' ``y`` registration takes up the unknown shifts; ``x`` shifts do not change them), so
    a scan of every direction costs a few seconds. A direction and its reverse (``φ + 180°``)
    give the same spread: the grid stays within 90° of the start, which keeps the handedness
    the start implies.

    Returns
    -------
    angles_deg, spreads : ndarray, shape (m,)
    """
    n = images.shape[0]
    small, _b = _block_sum(images, max_px)
    half = min(float(half_range_deg), 90.0)
    grid = float(start_deg) + np.arange(-half, half - 1e-9 if half >= 90.0 else half + 1e-9, float(step_deg))
    angles = np.asarray(tilt_angles_deg, np.float64)
    zero = np.zeros((n, 2))
    spreads = np.array([common_line_loss(small, Transforms.from_parameters(zero, float(p), angles),
                                         max_shift=float(small.shape[2]))[0] for p in grid])
    return grid, spreads
