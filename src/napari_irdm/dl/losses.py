"""IRDM losses: relativistic average least-squares GAN (RaLSGAN), an L1 content term and SSIM.

Pure functions of discriminator scores / images; the caller decides what is detached
(``d_fake`` from a detached generator output when training D).
"""

from __future__ import annotations

import torch

__all__ = ["content_loss", "ralsgan_d_loss", "ralsgan_g_loss", "ssim_index"]


def _check(d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
    if d_real.numel() == 0 or d_fake.numel() == 0:
        raise ValueError("RaLSGAN loss needs non-empty discriminator outputs")


def ralsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    r"""Discriminator loss, the paper's Eq. (1).

    Parameters
    ----------
    d_real : Tensor, any shape (e.g. ``(B, 1, h, w)`` patch scores)
        Raw discriminator scores ``D(x_real)`` of ground-truth slices.
    d_fake : Tensor, any shape
        Raw scores ``D(x_fake)`` of generated slices (detach the generator output).

    Returns
    -------
    Tensor, scalar

    Notes
    -----
    .. math::

        L_D = \mathrm{mean}\big[(D(x_r) - E[D(x_f)] - 1)^2\big]
            + \mathrm{mean}\big[(D(x_f) - E[D(x_r)] + 1)^2\big]

    ``E[·]`` is the mean over the minibatch; with patch score maps both ``E`` and the outer
    mean run over every score (batch and patch positions).

    References
    ----------
    A. Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from
    standard GAN", arXiv:1807.00734 (2018); IRDM paper Eq. (1).
    """
    _check(d_real, d_fake)
    return ((d_real - d_fake.mean() - 1.0) ** 2).mean() + ((d_fake - d_real.mean() + 1.0) ** 2).mean()


def ralsgan_g_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    r"""Generator loss, the paper's Eq. (2) (Eq. (1) with the targets swapped).

    Parameters
    ----------
    d_real : Tensor, any shape
        Raw scores ``D(x_real)`` of ground-truth slices (gradients flow only to D's
        parameters through it, so it may be detached).
    d_fake : Tensor, any shape
        Raw scores ``D(x_fake)`` of generated slices (not detached: G learns through it).

    Returns
    -------
    Tensor, scalar

    Notes
    -----
    .. math::

        L_G = \mathrm{mean}\big[(D(x_r) - E[D(x_f)] + 1)^2\big]
            + \mathrm{mean}\big[(D(x_f) - E[D(x_r)] - 1)^2\big]

    ``E[·]`` is the minibatch mean (over every score for patch maps).
    """
    _check(d_real, d_fake)
    return ((d_real - d_fake.mean() + 1.0) ** 2).mean() + ((d_fake - d_real.mean() - 1.0) ** 2).mean()


def content_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel-wise L1 content loss ``mean(|prediction − target|)``.

    Parameters
    ----------
    prediction, target : Tensor, same shape (e.g. ``(B, 1, H, W)``)

    Returns
    -------
    Tensor, scalar
    """
    if prediction.shape != target.shape:
        raise ValueError(f"content loss needs equal shapes, got {tuple(prediction.shape)} and {tuple(target.shape)}")
    return (prediction - target).abs().mean()


def _gauss_taps(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    r = int(truncate * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim_index(prediction: torch.Tensor, target: torch.Tensor, data_range: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Differentiable mean SSIM per image, as :func:`napari_irdm.analysis.metrics.ssim` measures it.

    Gaussian window (σ = 1.5 px, 11 taps), population (not sample) covariances, ``K1 = 0.01``, ``K2 = 0.03``,
    averaged over the pixels whose window lies inside the image (scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``). Used as the optional
    ``ssim_weight · (1 − SSIM)`` term of the generator loss.

    Parameters
    ----------
    prediction, target : Tensor, shape (B, 1, H, W), H and W ≥ 11
    data_range : float or Tensor broadcastable to (B, 1, 1, 1)
        Dynamic range of the target (per image allowed).

    Returns
    -------
    Tensor, shape (B,)
    """
    if prediction.shape != target.shape or prediction.ndim != 4 or prediction.shape[1] != 1:
        raise ValueError(f"ssim needs equal (B, 1, H, W) shapes, got {tuple(prediction.shape)} and {tuple(target.shape)}")
    if min(prediction.shape[-2:]) < 11:
        raise ValueError(f"ssim needs images of at least 11 x 11 pixels, got {tuple(prediction.shape[-2:])}")
    x, y = prediction.float(), target.float()
    w = _gauss_taps().to(device=x.device, dtype=x.dtype)
    n = w.numel()

    def filt(t):
        t = torch.nn.functional.conv2d(t, w.view(1, 1, n, 1))
        return torch.nn.functional.conv2d(t, w.view(1, 1, 1, n))

    mx, my = filt(x), filt(y)
    vx = filt(x * x) - mx * mx
    vy = filt(y * y) - my * my
    vxy = filt(x * y) - mx * my
    r = torch.as_tensor(data_range, dtype=x.dtype, device=x.device)
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))
