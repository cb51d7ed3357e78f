"""Image-to-image registration and the coarse alignments (cross-correlation, centre of mass).

Shifts are ``(dx, dy)`` in pixels in the sense of :mod:`napari_irdm.align._transforms`:
``aligned(x + d) = raw(x)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["background_subtracted", "com_centre_offset", "com_shifts", "register_batch", "taper", "xcorr_shifts"]


def background_subtracted(t: torch.Tensor) -> torch.Tensor:
    """Each image minus its median (the background of a HAADF / bright-object image)."""
    return t - t.flatten(1).median(dim=1).values[:, None, None]


def taper(t: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Multiply by a separable cosine edge window (flat centre, ``fraction`` of each side tapered)."""
    *_, h, w = t.shape

    def win(n):
        m = max(1, int(round(n * fraction)))
        v = torch.ones(n, dtype=t.dtype, device=t.device)
        ramp = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(m, dtype=t.dtype, device=t.device) + 0.5) / m)
        v[:m] = ramp
        v[n - m :] = ramp.flip(0)
        return v

    return t * (win(h)[:, None] * win(w)[None, :])


def _subpixel(c: torch.Tensor, idx: torch.Tensor, n: int) -> torch.Tensor:
    """3-point parabolic peak offset along one axis; ``c`` (b, n) values, ``idx`` (b,) integer peaks."""
    i0 = (idx - 1) % n
    i2 = (idx + 1) % n
    cm = c.gather(1, i0[:, None])[:, 0]
    c0 = c.gather(1, idx[:, None])[:, 0]
    cp = c.gather(1, i2[:, None])[:, 0]
    den = cm - 2 * c0 + cp
    off = torch.where(den.abs() > 1e-12, 0.5 * (cm - cp) / den, torch.zeros_like(den))
    return off.clamp(-0.5, 0.5)


def register_batch(images: torch.Tensor, refs: torch.Tensor, *, max_shift: float | None = None,
                   edge: float = 0.1, highpass: float = 0.0) -> torch.Tensor:
    """Shift ``d`` (b, 2), ``(dx, dy)``, that best moves each image onto its reference.

    ``d`` maximises ``Σ_x ref(x) · image(x − d)``, so applying
    :func:`~napari_irdm.align.apply_transforms` with shift ``d`` to ``image`` moves it onto ``ref``.

    Both are background-subtracted, edge-tapered and zero-padded to twice their size (no
    wrap-around); the peak is refined by a 3-point parabola per axis.

    Parameters
    ----------
    images, refs : tensor, shape (b, h, w)
    max_shift : float, optional
        Search only ``|dx|, |dy| ≤ max_shift`` pixels.
    highpass : float
        Optional Gaussian high-pass (fraction of Nyquist) that suppresses the low-frequency
        background of the correlation (0: none).
    """
    b, h, w = images.shape
    a = taper(background_subtracted(images.float()), edge)
    r = taper(background_subtracted(refs.float()), edge)
    H, W = 2 * h, 2 * w
    fa = torch.fft.rfft2(a, s=(H, W))
    fr = torch.fft.rfft2(r, s=(H, W))
    cross = fr * torch.conj(fa)
    if highpass > 0:
        ky = torch.fft.fftfreq(H, device=a.device)[:, None]
        kx = torch.fft.rfftfreq(W, device=a.device)[None, :]
        k2 = (ky**2 + kx**2) / 0.25
        cross = cross * (1 - torch.exp(-k2 / (2 * highpass**2)))
    c = torch.fft.irfft2(cross, s=(H, W))  # c[τ] = Σ r(x) a(x − τ)
    if max_shift is not None:
        m = int(math.ceil(max_shift))
        ty = torch.fft.fftfreq(H, 1.0 / H, device=a.device).abs()
        tx = torch.fft.fftfreq(W, 1.0 / W, device=a.device).abs()
        ok = (ty[:, None] <= m) & (tx[None, :] <= m)
        c = torch.where(ok, c, torch.full_like(c, -torch.inf))
    flat = c.flatten(1).argmax(dim=1)
    iy, ix = flat // W, flat % W
    rows = c[torch.arange(b), :, ix]  # (b, H) column through the peak
    cols = c[torch.arange(b), iy, :]  # (b, W)
    rows = torch.where(torch.isfinite(rows), rows, torch.zeros_like(rows))
    cols = torch.where(torch.isfinite(cols), cols, torch.zeros_like(cols))
    dy = iy.double() + _subpixel(rows.double(), iy, H)
    dx = ix.double() + _subpixel(cols.double(), ix, W)
    dy = torch.where(dy > H / 2, dy - H, dy)
    dx = torch.where(dx > W / 2, dx - W, dx)
    return torch.stack([dx, dy], dim=1)


def xcorr_shifts(stack: torch.Tensor, tilt_angles_deg, *, rotation_deg: float = 0.0,
                 lowpass: float = 0.5) -> np.ndarray:
    """Coarse shifts by cosine-stretched cross-correlation of neighbouring tilts (``torch-tiltxcorr``).

    Outward from the lowest tilt, each image is stretched perpendicular to the tilt axis by
    ``cos θ_prev / cos θ``, tapered, zero-padded and cross-correlated with its neighbour
    towards 0°; the pairwise shifts are summed outward (IMOD ``tiltxcorr``). The image nearest
    0° keeps shift 0.

    Parameters
    ----------
    stack : tensor, shape (n, ny, nx)
    rotation_deg : float
        Tilt-axis angle ``φ`` in the images (module convention), used for the stretch direction.
    lowpass : float
        Low-pass cutoff in cycles per pixel (0.5: none).

    Returns
    -------
    ndarray, shape (n, 2)
        ``(dx, dy)`` per image.
    """
    from torch_tiltxcorr import tiltxcorr

    angles = torch.as_tensor(np.asarray(tilt_angles_deg, np.float64), dtype=torch.float32)
    # teamtomo measures the tilt-axis angle in (y, x) from +y the other way round
    # (checked in tests/align/test_align.py::test_xcorr_recovers_shifts)
    yx = tiltxcorr(stack.float(), angles.to(stack.device), tilt_axis_angle=-float(rotation_deg),
                   pixel_spacing_angstroms=1.0, lowpass_angstroms=1.0 / max(lowpass, 1e-3))
    return yx.flip(-1).double().cpu().numpy()


def com_shifts(stack: torch.Tensor, tilt_angles_deg) -> tuple[np.ndarray, float]:
    """Centre-of-mass alignment for mass-thickness (HAADF) images.

    The object's centre of mass projects to ``(a cos θ + b sin θ, y_c)`` in an aligned image.
    The raw centres of mass (background-subtracted, negative values ignored) are fitted with
    ``c + a cos θ + b sin θ`` in ``x``; the shifts put every image's centre of mass on the
    fitted sinusoid without ``c`` (``c`` is the rotation-centre offset) and on the mean in ``y``.

    Returns
    -------
    shifts : ndarray, shape (n, 2)
        ``(dx, dy)`` per image.
    centre_offset : float
        ``c``, pixels.

    Notes
    -----
    Needs the whole object inside every image and a flat background; tilt ranges narrower than
    about ±40° make ``c`` and ``a`` hard to tell apart (the fit is then ill-conditioned).
    """
    t = background_subtracted(stack.double()).clamp_min(0)
    n, ny, nx = t.shape
    y = torch.arange(ny, dtype=t.dtype, device=t.device) - (ny - 1) / 2
    x = torch.arange(nx, dtype=t.dtype, device=t.device) - (nx - 1) / 2
    mass = t.sum(dim=(1, 2)).clamp_min(1e-12)
    cx = ((t.sum(dim=1) * x).sum(dim=1) / mass).cpu().numpy()
    cy = ((t.sum(dim=2) * y).sum(dim=1) / mass).cpu().numpy()
    th = np.deg2rad(np.asarray(tilt_angles_deg, np.float64))
    g = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
    coef, *_ = np.linalg.lstsq(g, cx, rcond=None)
    fit_no_c = g[:, 1:] @ coef[1:]
    return np.stack([fit_no_c - cx, cy.mean() - cy], 1), float(coef[0])


def com_centre_offset(raw: torch.Tensor, transforms, *, edge_fraction: float = 1 / 16) -> tuple[float, float]:
    """Rotation-centre offset of an alignment from the raw images' centres of mass.

    Each raw image's centre of mass (background: the median of its outer ``edge_fraction`` of
    columns on both sides) is mapped through its transform into the aligned frame. For an
    object inside the field, the aligned centres of mass follow ``X cos θ + Z sin θ`` (the
    projection of the object's own centre of mass); the constant ``c`` of a
    ``c + a cos θ + b sin θ`` fit is the remaining rotation-centre error. Mapping the raw
    centres (rather than resampling the images) keeps the fill of shifted-in edges out of it.

    Returns
    -------
    c : float
        Centre offset in pixels of ``raw`` (subtract it from every x shift).
    mass_spread : float
        Relative standard deviation of the background-subtracted mass over the images. The
        estimate holds only when mass is conserved (object inside the field, mass-thickness
        contrast); the caller decides from this.
    """
    d = raw.double()
    n, ny, nx = d.shape
    m = max(1, int(round(nx * edge_fraction)))
    b = torch.cat([d[:, :, :m], d[:, :, nx - m :]], dim=2).flatten(1).median(dim=1).values
    d = d - b[:, None, None]
    mass = d.sum(dim=(1, 2))
    spread = float(mass.std() / mass.mean().abs().clamp_min(1e-30))
    if bool((mass <= 0).any()):
        return 0.0, float("inf")
    y = torch.arange(ny, dtype=d.dtype, device=d.device) - (ny - 1) / 2
    x = torch.arange(nx, dtype=d.dtype, device=d.device) - (nx - 1) / 2
    cx = ((d.sum(dim=1) * x).sum(dim=1) / mass).cpu().numpy()
    cy = ((d.sum(dim=2) * y).sum(dim=1) / mass).cpu().numpy()
    a, dd = transforms.matrices[:, :, :2], transforms.matrices[:, :, 2]
    p = np.einsum("nij,nj->ni", a, np.stack([cx, cy], 1)) + dd
    th = np.deg2rad(np.asarray(transforms.tilt_angles_deg, np.float64))
    g = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
    coef, *_ = np.linalg.lstsq(g, p[:, 0], rcond=None)
    return float(coef[0]), spread
