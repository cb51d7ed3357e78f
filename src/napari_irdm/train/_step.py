"""One conditional-GAN update (discriminator, then generator) on one batch: no I/O, no global state."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["LossWeights", "batch_acquisition", "gan_step"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator loss terms (see :class:`~napari_irdm.train.TrainConfig`)."""

    gan: float = 1.0
    content: float = 100.0
    ssim: float = 0.0


def batch_acquisition(batch, steps_deg) -> torch.Tensor:
    """The acquisition ``(lo, hi, step)`` (degrees) of each pair of ``batch``: ``(B, 3)`` on its device.

    ``lo``/``hi`` from ``batch.ranges_deg``; the steps from ``batch.steps_deg`` when the batch
    has them, else ``steps_deg`` (one per pair, e.g. from
    :func:`~napari_irdm.train.pairs.geometry`). A conditioned generator is fed these, as
    inference feeds it :func:`~napari_irdm.dl.unetpp.acquisition_from_angles` of a series
    (a simulated series' angles run from ``lo`` to ``hi`` in ``step``).
    """
    import numpy as np

    steps = getattr(batch, "steps_deg", None)
    steps = np.asarray(steps_deg if steps is None else steps, dtype=np.float64).reshape(-1)
    ranges = np.asarray(batch.ranges_deg, dtype=np.float64).reshape(-1, 2)
    if steps.size != ranges.shape[0]:
        raise ValueError(f"{steps.size} tilt steps for {ranges.shape[0]} pairs: give one step per pair")
    c = np.concatenate([ranges, steps[:, None]], axis=1)
    return torch.as_tensor(c, dtype=torch.float32, device=batch.inputs.device)


def gan_step(generator: torch.nn.Module, discriminator: torch.nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, batch, weights: LossWeights = LossWeights(), *, amp: bool = False,
             memory_format: torch.memory_format = torch.contiguous_format,
             cond: torch.Tensor | None = None) -> dict[str, float]:
    """One D step and one G step (D:G = 1:1) on ``batch``; returns the losses.

    Parameters
    ----------
    generator, discriminator : torch.nn.Module
        ``G(x)`` and ``D(x, y)`` (conditional: D sees the WBP input with the real or the fake slice).
    opt_g, opt_d : torch.optim.Optimizer
        Their optimisers (each stepped once).
    batch : PairBatch
        ``inputs`` / ``targets`` (normalised), and ``truth`` / ``lo`` / ``hi`` for the SSIM term.
    weights : LossWeights
        ``gan`` · RaLSGAN + ``content`` · L1 (+ ``ssim`` · (1 − SSIM) in truth units when non-zero).
    amp : bool
        bf16 autocast on the batch's device.
    memory_format : torch.memory_format
        Layout of the inputs (``torch.channels_last`` for NHWC networks).
    cond : Tensor, shape (B, 3), optional
        The acquisition of each pair (:func:`batch_acquisition`) for a generator conditioned
        on it (``G(x, c)``). The discriminator is not given ``c``: it judges ``(x, y)`` pairs
        and the WBP ``x`` already shows the wedge.

    Returns
    -------
    dict
        ``loss_d``, ``loss_g``, ``loss_gan``, ``loss_l1`` as floats.

    Notes
    -----
    The update is a function of the models', the optimisers' and the batch's states only: it
    draws no random numbers, so the same states give the same losses and the same weights::

        L_D = RaLSGAN_D(D(x, y), D(x, G(x)))                                             # paper Eq. (1)
        L_G = gan · RaLSGAN_G(D(x, y), D(x, G(x))) + content · |G(x) − y|₁ [+ ssim · (1 − SSIM)]   # Eq. (2)
    """
    from napari_irdm.dl import content_loss, ralsgan_d_loss, ralsgan_g_loss

    x = batch.inputs.contiguous(memory_format=memory_format)
    y = batch.targets.contiguous(memory_format=memory_format)
    dev = x.device.type
    g, d = generator, discriminator

    with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):  # discriminator step (Eq. 1)
        fake = g(x) if cond is None else g(x, cond)
        loss_d = ralsgan_d_loss(d(x, y).float(), d(x, fake.detach()).float())
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    for p in d.parameters():  # generator step (Eq. 2 + L1 content): D is fixed
        p.requires_grad_(False)
    try:
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
            with torch.no_grad():
                d_real = d(x, y)
            loss_gan = ralsgan_g_loss(d_real.float(), d(x, fake).float())
            loss_l1 = content_loss(fake.float(), y)
            loss_g = weights.gan * loss_gan + weights.content * loss_l1
            if weights.ssim:
                loss_g = loss_g + weights.ssim * _ssim_loss(fake, batch)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    finally:
        for p in d.parameters():
            p.requires_grad_(True)
    return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
            "loss_gan": float(loss_gan.detach()), "loss_l1": float(loss_l1.detach())}


def _ssim_loss(fake: torch.Tensor, batch) -> torch.Tensor:
    """``1 − SSIM`` of the generator's slices against the truth, both in truth units (data range 1)."""
    from napari_irdm.dl import denormalise, ssim_index

    phys = denormalise(fake.float()[:, 0], batch.lo, batch.hi)[:, None]
    return 1.0 - ssim_index(phys, batch.truth[:, None].float(), 1.0).mean()
