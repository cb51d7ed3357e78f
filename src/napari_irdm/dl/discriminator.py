"""Conditional VGG-like discriminator of IRDM (paper Supplementary Fig. 3)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Conditional patch discriminator: VGG-like stack of five conv layers and a score conv.

    Layers 1–4: 3×3 conv → BatchNorm → LeakyReLU(0.2) → 2×2 max-pool; layer 5: the same with
    2×2 average pooling instead (less information loss, as in the paper); then one 3×3
    convolution to a single channel with **no activation** (least-squares GANs need raw
    scores). Widths are ``base_width · 2**min(i, 3)`` for layer ``i = 0..4``
    (32, 64, 128, 256, 256 for the paper's width).

    Parameters
    ----------
    in_channels : int
        Channels after concatenating condition and image (2 for single-channel slices).
    base_width : int
        Channels of the first layer.

    Notes
    -----
    ``forward(condition, image)`` concatenates the generator's input (``condition``, the WBP
    slice) and the real or generated slice along channels, so D judges the pair
    (conditional GAN). The output is a **patch score map** of shape
    ``(B, 1, ceil(H/32), ceil(W/32))`` (pools use ``ceil_mode`` so any size ≥ 1 works,
    e.g. 8×8 scores for 256² slices); each score judges one receptive field. The RaLSGAN
    losses in :mod:`napari_irdm.dl.losses` average over all scores.
    """

    def __init__(self, in_channels: int = 2, base_width: int = 32):
        super().__init__()
        if base_width < 1:
            raise ValueError(f"discriminator base_width must be >= 1, got {base_width}")
        self.in_channels = int(in_channels)
        self.base_width = int(base_width)
        widths = [self.base_width * 2 ** min(i, 3) for i in range(5)]
        layers: list[nn.Module] = []
        cin = self.in_channels
        for i, w in enumerate(widths):
            pool = nn.AvgPool2d(2, ceil_mode=True) if i == 4 else nn.MaxPool2d(2, ceil_mode=True)
            layers.append(
                nn.Sequential(
                    nn.Conv2d(cin, w, 3, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.LeakyReLU(0.2, inplace=True),
                    pool,
                )
            )
            cin = w
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(cin, 1, 3, padding=1)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments; ``Discriminator(**d.config)`` rebuilds the architecture."""
        return dict(in_channels=self.in_channels, base_width=self.base_width)

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Score ``image`` given ``condition``.

        Parameters
        ----------
        condition : Tensor, shape (B, Cc, H, W)
            The generator's input (WBP slice).
        image : Tensor, shape (B, Ci, H, W)
            Real (ground truth) or generated slice; ``Cc + Ci == in_channels``.

        Returns
        -------
        Tensor, shape (B, 1, ceil(H/32), ceil(W/32))
            Raw (unbounded) patch scores.
        """
        if condition.shape[0] != image.shape[0] or condition.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"discriminator condition {tuple(condition.shape)} and image {tuple(image.shape)} "
                "must share batch size and height/width"
            )
        x = torch.cat([condition, image], dim=1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"discriminator expects {self.in_channels} channels in total (condition + image), "
                f"got a tensor of shape {tuple(x.shape)}"
            )
        return self.score(self.features(x))
