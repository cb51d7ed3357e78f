"""U-Net++ generator of IRDM (nested U-Net with dense skip connections).

The paper's generator (Methods, "Structure of generator and discriminator"; Supplementary
Fig. 2): every node ("Conv Layer") is two stacks of 3×3 convolution → batch norm → SELU;
four max-pool levels down; nested dense skips; the loss is computed only on the output of
the last top node (no deep supervision).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PRESETS", "ConvLayer", "UNetPlusPlus", "build_generator"]

#: Named generator configurations. ``"paper"`` is the paper's width; ``"cpu"`` is sized so
#: that slice-wise inference on a 256-slice 256² volume takes ≤ 60 s on a 2-core CPU
#: (``benchmarks/irdm_speed.py``; measured numbers in ``docs/models/README.md``).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(in_channels=1, out_channels=1, base_width=32, depth=4, residual=True),
    "cpu": dict(in_channels=1, out_channels=1, base_width=8, depth=4, residual=True),
}


class ConvLayer(nn.Sequential):
    """The paper's "Conv Layer": (3×3 conv → BatchNorm → SELU) × 2.

    The convolutions have no bias (the batch norm that follows has one).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.SELU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.SELU(inplace=True),
        )
        self.in_channels = in_channels
        self.out_channels = out_channels


class UNetPlusPlus(nn.Module):
    """U-Net++ image-to-image generator.

    Nodes ``x_{i}_{j}`` exist for ``i + j <= depth`` (``i`` = resolution level, ``j`` = column).
    ``x_{i}_{0}`` is the encoder (``x_{0}_{0}`` sees the input, ``x_{i}_{0}`` the max-pooled
    ``x_{i-1}_{0}``); node ``x_{i}_{j}`` (``j >= 1``) sees
    ``concat(x_{i}_{0}, ..., x_{i}_{j-1}, up(x_{i+1}_{j-1}))`` where ``up`` is a ×2 bilinear
    upsampling. Level ``i`` has ``base_width · 2**i`` channels. The output is a 1×1
    convolution of the last top node ``x_{0}_{depth}`` only.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels (1 for tomogram slices).
    base_width : int
        Channels of level 0 (32 in the paper).
    depth : int
        Number of max-pool levels (4 in the paper).
    residual : bool
        If True (default) the network predicts a correction that is *added to the input*
        (``y = x + head(x_{0}_{depth})``), and the head starts near zero, so an untrained
        model is close to the identity (i.e. returns the WBP). This trains faster and never
        does worse than the input early in training. If False the head predicts the image
        directly, as in the paper. Needs ``in_channels == out_channels``.

    Notes
    -----
    Inputs of any height/width are accepted: they are padded (reflect, or edge-replicate
    when the image is too small to reflect) up to a multiple of ``2**depth`` and the output
    is cropped back to the input size.

    Shapes: input ``(B, in_channels, H, W)`` → output ``(B, out_channels, H, W)``.

    References
    ----------
    Z. Zhou et al., "UNet++: A nested U-Net architecture for medical image segmentation", 2018.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_width: int = 32,
        depth: int = 4,
        residual: bool = True,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"U-Net++ depth must be >= 1, got {depth}")
        if base_width < 1:
            raise ValueError(f"U-Net++ base_width must be >= 1, got {base_width}")
        if residual and in_channels != out_channels:
            raise ValueError(
                f"residual U-Net++ needs in_channels == out_channels (got {in_channels}, {out_channels}): "
                "set residual=False"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.base_width = int(base_width)
        self.depth = int(depth)
        self.residual = bool(residual)
        widths = [self.base_width * 2**i for i in range(self.depth + 1)]
        self.widths = widths

        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        for i in range(self.depth + 1):
            cin = self.in_channels if i == 0 else widths[i - 1]
            setattr(self, f"x_{i}_0", ConvLayer(cin, widths[i]))
        for j in range(1, self.depth + 1):
            for i in range(0, self.depth + 1 - j):
                # j same-level predecessors x_{i}_{0..j-1} plus the upsampled x_{i+1}_{j-1}
                cin = j * widths[i] + widths[i + 1]
                setattr(self, f"x_{i}_{j}", ConvLayer(cin, widths[i]))
        self.head = nn.Conv2d(widths[0], self.out_channels, 1)
        if self.residual:
            # start close to the identity map but keep gradients flowing to every layer
            with torch.no_grad():
                self.head.weight.mul_(0.01)
                if self.head.bias is not None:
                    self.head.bias.zero_()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments; ``UNetPlusPlus(**model.config)`` rebuilds the architecture."""
        return dict(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            base_width=self.base_width,
            depth=self.depth,
            residual=self.residual,
        )

    @property
    def multiple(self) -> int:
        """Input sizes are padded up to a multiple of this (``2**depth``)."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore a batch of slices: ``(batch, in_channels, H, W)`` → ``(batch, out_channels, H, W)``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"U-Net++ expects a (batch, {self.in_channels}, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        xp, (top, left) = _pad_to_multiple(x, self.multiple)
        nodes: dict[tuple[int, int], torch.Tensor] = {}
        nodes[0, 0] = self.get_submodule("x_0_0")(xp)
        for i in range(1, self.depth + 1):
            nodes[i, 0] = self.get_submodule(f"x_{i}_0")(self.pool(nodes[i - 1, 0]))
        for j in range(1, self.depth + 1):
            for i in range(0, self.depth + 1 - j):
                inputs = [nodes[i, k] for k in range(j)]
                inputs.append(self.up(nodes[i + 1, j - 1]))
                nodes[i, j] = self.get_submodule(f"x_{i}_{j}")(torch.cat(inputs, dim=1))
            # level depth-j+1 is fully consumed now: drop it (saves memory at inference)
            for k in range(j):
                nodes.pop((self.depth - j + 1, k), None)
        out = self.head(nodes[0, self.depth])
        out = out[..., top : top + h, left : left + w]
        if self.residual:
            out = out + x
        return out


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two axes of ``x`` up to a multiple of ``multiple``; return it and (top, left)."""
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (0, 0)
    top, left = ph // 2, pw // 2
    pads = (left, pw - left, top, ph - top)
    # reflect needs pad < size; tiny inputs fall back to replicating the edge
    mode = "reflect" if max(left, pw - left) < w and max(top, ph - top) < h else "replicate"
    return F.pad(x, pads, mode=mode), (top, left)


def build_generator(preset_or_config: str | Mapping[str, Any] = "cpu") -> UNetPlusPlus:
    """Build a :class:`UNetPlusPlus` from a preset name or a config mapping.

    Parameters
    ----------
    preset_or_config : str or mapping
        ``"paper"`` or ``"cpu"`` (see :data:`PRESETS`), or a mapping of constructor
        arguments; a mapping may name a ``"preset"`` whose values it then overrides.

    Returns
    -------
    UNetPlusPlus
        A freshly initialised generator (train mode).
    """
    if isinstance(preset_or_config, str):
        if preset_or_config not in PRESETS:
            raise ValueError(f"unknown generator preset {preset_or_config!r}: use one of {sorted(PRESETS)}")
        return UNetPlusPlus(**PRESETS[preset_or_config])
    cfg = dict(preset_or_config)
    preset = cfg.pop("preset", None)
    base = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown generator preset {preset!r}: use one of {sorted(PRESETS)}")
        base = dict(PRESETS[preset])
    base.update(cfg)
    allowed = {"in_channels", "out_channels", "base_width", "depth", "residual"}
    unknown = set(base) - allowed
    if unknown:
        raise ValueError(f"unknown generator option(s) {sorted(unknown)}: allowed are {sorted(allowed)}")
    return UNetPlusPlus(**base)
