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

__all__ = [
    "CONDITIONS",
    "PRESETS",
    "AcquisitionFiLM",
    "ConvLayer",
    "UNetPlusPlus",
    "acquisition_features",
    "acquisition_from_angles",
    "build_generator",
    "mirror_acquisition",
]

#: ways a generator can be conditioned on the acquisition (``None``: not conditioned)
CONDITIONS = ("film",)
#: number of features :func:`acquisition_features` makes of one ``(lo, hi, step)``
N_ACQUISITION_FEATURES = 7

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


def acquisition_from_angles(tilt_angles_deg) -> torch.Tensor:
    """The acquisition vector ``(lo, hi, step)`` in degrees of a tilt series: shape ``(3,)``, float32.

    ``lo``/``hi`` are the smallest and largest tilt angle and ``step`` the median spacing of
    the sorted angles (0 for a single angle). This is what a conditioned generator
    (``UNetPlusPlus(condition="film")``) takes as ``cond``; training uses the same triple
    of each simulated series.
    """
    import numpy as np

    a = np.sort(np.asarray(tilt_angles_deg, dtype=np.float64).ravel())
    if a.size == 0 or not np.isfinite(a).all():
        raise ValueError("the acquisition needs finite tilt angles: pass tilt_angles_deg (degrees)")
    step = float(np.median(np.diff(a))) if a.size > 1 else 0.0
    return torch.tensor([a[0], a[-1], step], dtype=torch.float32)


def mirror_acquisition(cond: torch.Tensor) -> torch.Tensor:
    """The acquisition of a slice mirrored along one axis (``z`` or ``x``): θ → −θ.

    Mirroring one axis of a ``(z, x)`` slice maps each projection direction at tilt θ onto
    the one at −θ, so the tilt range ``(lo, hi)`` becomes ``(−hi, −lo)``; the step is kept.
    A flip of both axes (180° rotation) keeps every direction and needs no change.
    """
    c = torch.as_tensor(cond)
    return torch.stack([-c[..., 1], -c[..., 0], *c.unbind(-1)[2:]], dim=-1)


def acquisition_features(cond: torch.Tensor) -> torch.Tensor:
    """Features of acquisition vectors ``(..., 3)`` = ``(lo, hi, step)`` degrees → ``(..., 7)``.

    ``sin``/``cos`` of ``lo`` and ``hi``, the missing wedge ``(180 − (hi − lo)) / 180``, the
    asymmetry ``(lo + hi) / 180`` and the step ``/ 10°``: all of order 1.
    """
    c = torch.as_tensor(cond, dtype=torch.float32)
    if c.shape[-1] != 3:
        raise ValueError(f"an acquisition vector is (lo, hi, step) in degrees: got a last axis of {c.shape[-1]}")
    lo, hi, step = torch.deg2rad(c[..., 0]), torch.deg2rad(c[..., 1]), c[..., 2]
    wedge = (180.0 - (c[..., 1] - c[..., 0])) / 180.0
    return torch.stack([torch.sin(lo), torch.cos(lo), torch.sin(hi), torch.cos(hi), wedge,
                        (c[..., 0] + c[..., 1]) / 180.0, step / 10.0], dim=-1)


class AcquisitionFiLM(nn.Module):
    """Per-channel scale and shift (FiLM) of every U-Net++ node from the acquisition.

    ``(lo, hi, step)`` → :func:`acquisition_features` → ``Linear → SELU → Linear`` →
    ``(γ, β)`` for each node; the node's output becomes ``γ · h + β``. The last layer starts
    at zero and ``γ = 1 + Δγ``, so an untrained FiLM is the identity and a conditioned model
    starts exactly as the unconditioned one with the same convolution weights.

    Parameters
    ----------
    widths : dict of (int, int) → int
        Channels of each node ``(i, j)``.
    hidden : int
        Width of the hidden layer.
    """

    def __init__(self, widths: dict[tuple[int, int], int], hidden: int = 32):
        super().__init__()
        self.nodes = sorted(widths)
        self.sizes = [int(widths[k]) for k in self.nodes]
        last = nn.Linear(hidden, 2 * sum(self.sizes))
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        self.mlp = nn.Sequential(nn.Linear(N_ACQUISITION_FEATURES, hidden), nn.SELU(), last)

    def forward(self, cond: torch.Tensor) -> dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]:
        """``{(i, j): (γ, β)}``, each of shape ``(B, C, 1, 1)``, for ``cond`` of shape ``(B, 3)``."""
        out = self.mlp(acquisition_features(cond))
        gamma, beta = out.split(sum(self.sizes), dim=-1)
        res = {}
        for k, dg, b in zip(self.nodes, gamma.split(self.sizes, -1), beta.split(self.sizes, -1), strict=True):
            res[k] = ((1.0 + dg)[..., None, None], b[..., None, None])
        return res


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
    condition : {None, "film"}
        ``None`` (default): the network sees only the slice. ``"film"``: it is also told the
        acquisition, ``cond = (lo, hi, step)`` in degrees (:func:`acquisition_from_angles`),
        through an :class:`AcquisitionFiLM` that scales and shifts the channels of every
        node. Its last layer starts at zero, so a new conditioned model computes exactly
        what the unconditioned one with the same convolution weights does, and
        unconditioned weights load into it (``load_state_dict(..., strict=False)``: only the
        ``film.*`` keys are missing).

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
        condition: str | None = None,
    ):
        super().__init__()
        if condition is not None and condition not in CONDITIONS:
            raise ValueError(f"unknown generator condition {condition!r}: use None or one of {list(CONDITIONS)}")
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
        self.condition = condition
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
        if condition == "film":
            nodes = {(i, j): widths[i] for j in range(self.depth + 1) for i in range(self.depth + 1 - j)}
            self.film = AcquisitionFiLM(nodes)
        if self.residual:
            # start close to the identity map but keep gradients flowing to every layer
            with torch.no_grad():
                self.head.weight.mul_(0.01)
                if self.head.bias is not None:
                    self.head.bias.zero_()

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments; ``UNetPlusPlus(**model.config)`` rebuilds the architecture.

        ``condition`` appears only for a conditioned model (so unconditioned configs, cards and
        checkpoints read as before).
        """
        cfg: dict[str, Any] = dict(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            base_width=self.base_width,
            depth=self.depth,
            residual=self.residual,
        )
        if self.condition is not None:
            cfg["condition"] = self.condition
        return cfg

    @property
    def multiple(self) -> int:
        """Input sizes are padded up to a multiple of this (``2**depth``)."""
        return 2**self.depth

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Restore a batch of slices: ``(batch, in_channels, H, W)`` → ``(batch, out_channels, H, W)``.

        ``cond``: the acquisition ``(lo, hi, step)`` in degrees, shape ``(batch, 3)`` or
        ``(3,)`` for all slices; required by a conditioned model, ignored by an
        unconditioned one.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"U-Net++ expects a (batch, {self.in_channels}, H, W) tensor, got shape {tuple(x.shape)}")
        film = self._film(x, cond)
        h, w = x.shape[-2:]
        xp, (top, left) = _pad_to_multiple(x, self.multiple)
        nodes: dict[tuple[int, int], torch.Tensor] = {}

        def node(i: int, j: int, inp: torch.Tensor) -> torch.Tensor:
            out = self.get_submodule(f"x_{i}_{j}")(inp)
            if film is not None:
                gamma, beta = film[i, j]
                out = out * gamma.to(out.dtype) + beta.to(out.dtype)
            return out

        nodes[0, 0] = node(0, 0, xp)
        for i in range(1, self.depth + 1):
            nodes[i, 0] = node(i, 0, self.pool(nodes[i - 1, 0]))
        for j in range(1, self.depth + 1):
            for i in range(0, self.depth + 1 - j):
                inputs = [nodes[i, k] for k in range(j)]
                inputs.append(self.up(nodes[i + 1, j - 1]))
                nodes[i, j] = node(i, j, torch.cat(inputs, dim=1))
            # level depth-j+1 is fully consumed now: drop it (saves memory at inference)
            for k in range(j):
                nodes.pop((self.depth - j + 1, k), None)
        out = self.head(nodes[0, self.depth])
        out = out[..., top : top + h, left : left + w]
        if self.residual:
            out = out + x
        return out

    def _film(self, x: torch.Tensor, cond) -> dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] | None:
        """The FiLM parameters of a conditioned model for ``cond`` (checked), else ``None``."""
        if self.condition is None:
            return None
        if cond is None:
            raise ValueError("this IRDM model is conditioned on the tilt range: pass the tilt angles "
                             "(tilt_angles_deg=...; for the network itself cond=acquisition_from_angles(angles))")
        c = torch.as_tensor(cond, dtype=torch.float32, device=x.device)
        if c.ndim == 1:
            c = c.expand(x.shape[0], -1)
        if c.ndim != 2 or c.shape != (x.shape[0], 3):
            raise ValueError(f"cond must be (lo, hi, step) in degrees, shape (3,) or ({x.shape[0]}, 3), "
                             f"got shape {tuple(c.shape)}")
        film = self.film(c)
        return film


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
    allowed = {"in_channels", "out_channels", "base_width", "depth", "residual", "condition"}
    unknown = set(base) - allowed
    if unknown:
        raise ValueError(f"unknown generator option(s) {sorted(unknown)}: allowed are {sorted(allowed)}")
    return UNetPlusPlus(**base)
