"""IRDM losses: relativistic average least-squares GAN (RaLSGAN) and an L1 content term.

Pure functions of discriminator scores / images; the caller decides what is detached
(``d_fake`` from a detached generator output when training D).
"""

from __future__ import annotations

import torch

__all__ = ["content_loss", "ralsgan_d_loss", "ralsgan_g_loss"]


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
