"""The networks, optimisers and schedulers of a run; the networks initialised from an explicit random generator."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["build_models", "build_optimisers", "check_memory", "generator_config", "load_init", "set_milestones"]

class _DrawFrom(TorchFunctionMode):
    """Inside: every random draw that names no generator draws from ``rng`` (this thread only)."""

    def __init__(self, rng: torch.Generator):
        super().__init__()
        self.rng = rng

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _random_functions() and kwargs.get("generator") is None:
            kwargs["generator"] = self.rng
        return func(*args, **kwargs)


@functools.cache
def _random_functions() -> frozenset:
    """The torch functions that draw random numbers and take a ``generator``."""
    init = [getattr(nn.init, n) for n in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                                          "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")]
    methods = [getattr(torch.Tensor, n) for n in ("uniform_", "normal_", "bernoulli_", "random_", "exponential_",
                                                  "geometric_", "cauchy_", "log_normal_")]
    funcs = [torch.rand, torch.randn, torch.randint, torch.randperm, torch.normal, torch.bernoulli, torch.multinomial]
    return frozenset(init + methods + funcs)


def build_models(cfg, device: torch.device, rng: torch.Generator) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator of ``cfg`` on ``device``, initialised from ``rng`` (G first, then D).

    Built on the CPU with every random draw of their initialisation taken from ``rng`` (a
    ``torch.Generator``), then moved to ``device``: the process's global random state is
    neither read nor changed, and the weights are those PyTorch's defaults (and the
    networks' own initialisation) give after ``torch.manual_seed(seed)`` on every device.
    """
    from napari_irdm.dl import Discriminator, build_generator

    with _DrawFrom(rng):
        g = build_generator(generator_config(cfg))
        d = Discriminator(in_channels=2, base_width=int(cfg.disc_width))
    return g.to(device), d.to(device)


def generator_config(cfg):
    """``cfg.generator`` (a preset name or a mapping) with ``cfg.condition`` added when set."""
    condition = getattr(cfg, "condition", None)
    if condition is None:
        return cfg.generator
    gen = {"preset": cfg.generator} if isinstance(cfg.generator, str) else dict(cfg.generator)
    gen["condition"] = condition
    return gen


def load_init(g: nn.Module, init: nn.Module) -> None:
    """Start ``g`` from the weights of ``init`` (fine-tuning).

    Exact for the same architecture; a conditioned ``g`` may start from an unconditioned
    ``init``: only its FiLM (``film.*``, which starts at the identity) is not loaded, so ``g``
    then computes what ``init`` did. Any other mismatch raises a one-line ``ValueError``.
    """
    state = init.state_dict()
    own = g.state_dict()
    missing = [k for k in own if k not in state]
    if any(not k.startswith("film.") for k in missing) or any(k not in own for k in state):
        from napari_irdm.dl.registry import _describe_mismatch

        raise ValueError(f"the `init_from` model does not fit this generator ({_describe_mismatch(g, state)}): "
                         "drop the options that change the architecture")
    g.load_state_dict(state, strict=not missing)


def build_optimisers(cfg, g: nn.Module, d: nn.Module):
    """``(opt_g, opt_d, sched_g, sched_d)``: Adam for G, RMSprop for D, step-wise LR drops (milestones set later)."""
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.RMSprop(d.parameters(), lr=cfg.lr_d, alpha=cfg.rms_alpha, weight_decay=cfg.weight_decay)
    sch_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones=[], gamma=cfg.lr_gamma)
    sch_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones=[], gamma=cfg.lr_gamma)
    return opt_g, opt_d, sch_g, sch_d


def set_milestones(cfg, max_steps: int, *scheds) -> None:
    """Put the LR drops of ``cfg.lr_milestones`` (fractions of the run) at their steps of a ``max_steps`` run."""
    ms = Counter(int(round(f * max_steps)) for f in cfg.lr_milestones if 0 < f < 1)
    for s in scheds:
        s.milestones = ms


def check_memory(cfg, g: nn.Module, dev: Any) -> None:
    """Refuse a batch that cannot fit before the first step (a lower bound: the U-Net++
    activations of one forward + backward pass, ≈ 6 tensors per convolution block).

    Raises :class:`~napari_irdm.resources.ResourceError` (a ``MemoryError``) naming `` `batch_size` ``
    and `` `size` `` (its ``params``).
    """
    from napari_irdm.device import available_memory_bytes
    from napari_irdm.resources import ResourceError, require_memory

    bw = int(getattr(g, "config", {}).get("base_width", 32))
    depth = int(getattr(g, "config", {}).get("depth", 4))
    per_level = sum((depth + 1 - i) / 2**i for i in range(depth + 1))
    per_sample = 4.0 * 6 * bw * cfg.size**2 * per_level
    need = per_sample * cfg.batch_size * 2  # train batch + validation batch of the same size
    try:
        require_memory(need, f"training with `batch_size` {cfg.batch_size} at `size` {cfg.size} (width {bw}) on {dev}",
                       hint="use a smaller `batch_size` or `size`", available=available_memory_bytes(dev))
    except ResourceError as err:
        err.params = ("batch_size", "size")  # type: ignore[attr-defined]  # named as napari_irdm.errors.ParameterError names them
        raise
