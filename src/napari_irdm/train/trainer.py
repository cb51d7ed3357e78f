"""IRDM training: conditional RaLSGAN with a U-Net++ generator, step-based, exactly resumable.

``train_iter(config, out_dir)`` is a generator (DESIGN rule 12) that yields
:class:`~napari_irdm.progress.Progress` after every step and returns a summary dict.
The run folder holds ``config.json``, ``log.csv`` (losses), ``val.csv`` (held-back
PSNR / SSIM / NRMSE) and ``checkpoint.pt`` (step, config, both models, both
optimisers, both schedulers, RNG states), written atomically.

Batches are a pure function of ``(seed, step)``: step ``s`` takes positions
``s·B … s·B+B−1`` of a per-epoch permutation seeded by ``(seed, epoch)``, and pairs are
deterministic per index, so a resumed run continues with exactly the batches (and, on
CPU, the losses) the uninterrupted run would have seen.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
import time
import warnings
from collections.abc import Generator, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_irdm._signals import deferred_signals
from napari_irdm.device import resolve_device
from napari_irdm.io import atomic_write_bytes
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.train.library import get_spec
from napari_irdm.train.pairs import PairOptions, draw_images, make_batch

__all__ = ["PRESETS", "TrainConfig", "export", "load_checkpoint", "train", "train_iter"]

#: training presets. "paper" = Supplementary Table 3 + Methods; "cpu" = small and fast.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(generator="paper", disc_width=32, size=256, batch_size=32, epochs=60.0, n_val=64),
    "cpu": dict(generator="cpu", disc_width=8, size=128, batch_size=8, max_steps=2000, n_val=16),
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and ``config.json``).

    Attributes
    ----------
    dataset : str
        Dataset spec name (``"D1"`` … ``"D6"``, ``"D2'"``, ``"DA"``); see :mod:`napari_irdm.train.library`.
    size_factor : float
        Multiplies every count of the spec (smaller libraries for CPU runs).
    preset : {"paper", "cpu"}
        Fills the fields left ``None`` from :data:`PRESETS`.
    generator : str or dict
        Generator preset name or :class:`~napari_irdm.dl.UNetPlusPlus` arguments.
    disc_width : int
        Discriminator base width.
    size : int
        Slice side in pixels.
    batch_size : int
    epochs : float or None
        Length in passes over the library (the paper: 60).
    max_steps : int or None
        Length in steps (overrides ``epochs``). With neither and a ``time_limit_min``, the
        length is fixed after 20 steps from the measured speed so the run (and its
        learning-rate drops) fit the time budget.
    lr_g, lr_d, weight_decay, betas, rms_alpha
        Adam (G) and RMSprop (D) settings (Supplementary Table 3).
    lr_milestones : tuple of float
        Learning-rate drops as fractions of the run (paper: epochs 45 and 55 of 60).
    lr_gamma : float
        Factor at each drop.
    gan_weight, content_weight : float
        Weights of the RaLSGAN term (paper Eq. 2) and the L1 content term.
    ssim_weight : float
        Weight of an optional ``1 − SSIM`` term (ours), SSIM measured as the evaluation does
        (Gaussian window, truth units, data range 1: :func:`napari_irdm.dl.ssim_index`).
    tilt_steps_deg, asymmetric, noise, oversample
        Pair geometry (:class:`~napari_irdm.train.pairs.PairOptions`).
    seed : int
    device : str
    amp : bool
        bf16 autocast on CUDA (ignored on CPU).
    channels_last : bool
        NHWC memory layout for both networks on CUDA (faster convolutions; ignored on CPU).
    time_limit_min : float or None
        Stop cleanly (checkpoint, final validation) before this many minutes.
    log_every, val_every, ckpt_every : int
        Intervals in steps.
    n_val : int
        Held-back validation pairs (fixed seeds, never trained on).
    num_workers : int or None
        Data-loader processes drawing ground truths (default: 0 on CPU, up to 8 on CUDA).
    init_from : str or None
        Start the generator from this model (shipped name or ``.pt`` path) instead of random
        weights: fine-tuning. Its architecture replaces ``generator``; the discriminator and
        the optimisers start fresh.
    """

    dataset: str = "D2"
    size_factor: float = 1.0
    preset: str = "cpu"
    generator: Any = None
    disc_width: int | None = None
    size: int | None = None
    batch_size: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    rms_alpha: float = 0.99
    lr_milestones: tuple[float, ...] = (0.75, 0.92)
    lr_gamma: float = 0.1
    gan_weight: float = 1.0
    content_weight: float = 100.0
    ssim_weight: float = 0.0
    tilt_steps_deg: tuple[float, ...] = (2.0,)
    asymmetric: bool = False
    noise: float | None = None
    oversample: int = 2
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    time_limit_min: float | None = None
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    n_val: int | None = None
    num_workers: int | None = None
    init_from: str | None = None
    _filled: bool = field(default=False, repr=False)

    def filled(self) -> TrainConfig:
        """A copy with preset values in the fields left ``None``, checked."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}: use one of {', '.join(PRESETS)}")
        d = asdict(self)
        pre = PRESETS[self.preset]
        for k, v in pre.items():
            if k in ("epochs", "max_steps"):
                continue
            if d.get(k) is None:
                d[k] = v
        if d["epochs"] is None and d["max_steps"] is None and d["time_limit_min"] is None:
            if "epochs" in pre:
                d["epochs"] = pre["epochs"]
            else:
                d["max_steps"] = pre["max_steps"]
        d["betas"] = tuple(d["betas"])
        d["lr_milestones"] = tuple(d["lr_milestones"])
        d["tilt_steps_deg"] = tuple(d["tilt_steps_deg"])
        d["_filled"] = True
        cfg = TrainConfig(**d)
        get_spec(cfg.dataset)  # validates the name
        if not 1 <= cfg.batch_size <= 4096:
            raise ValueError(f"--batch-size must be between 1 and 4096, got {cfg.batch_size}")
        if cfg.size > 2048:
            raise ValueError(f"--size must be at most 2048 pixels, got {cfg.size}: train on crops")
        if not (math.isfinite(float(cfg.size_factor)) and 0 < cfg.size_factor <= 1000):
            raise ValueError(f"--size-factor must be in (0, 1000], got {cfg.size_factor}")
        if not 1 <= int(cfg.oversample) <= 8:
            raise ValueError(f"--oversample must be between 1 and 8, got {cfg.oversample}")
        if cfg.num_workers is not None and not 0 <= int(cfg.num_workers) <= 64:
            raise ValueError(f"--workers must be between 0 and 64, got {cfg.num_workers}")
        width = cfg.generator.get("base_width") if isinstance(cfg.generator, dict) else None
        if width is not None and not 1 <= int(width) <= 256:
            raise ValueError(f"--width must be between 1 and 256, got {width}")
        if cfg.n_val is not None and not 1 <= int(cfg.n_val) <= 100_000:
            raise ValueError(f"--n-val must be between 1 and 100000, got {cfg.n_val}")
        if cfg.max_steps is not None and cfg.max_steps < 1:
            raise ValueError(f"--steps must be >= 1, got {cfg.max_steps}")
        if cfg.epochs is not None and cfg.epochs <= 0:
            raise ValueError(f"--epochs must be > 0, got {cfg.epochs}")
        if cfg.time_limit_min is not None and cfg.time_limit_min <= 0:
            raise ValueError(f"--time-limit-min must be > 0, got {cfg.time_limit_min}")
        if cfg.size < 16:
            raise ValueError(f"--size must be >= 16 pixels, got {cfg.size}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_filled", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**d)


# --------------------------------------------------------------------------- helpers


def _atomic_csv(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def _read_csv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[1:]


def _rng_state() -> dict[str, Any]:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


class _Schedule:
    """Deterministic order of training samples: step → indices (per-epoch permutations)."""

    def __init__(self, n: int, batch: int, seed: int):
        self.n, self.batch, self.seed = n, batch, seed
        self._epoch = -1
        self._perm = None

    def perm(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, 0xE90C, epoch]).permutation(self.n)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> list[int]:
        pos = np.arange(step * self.batch, (step + 1) * self.batch)
        out = []
        for p in pos:
            e, r = divmod(int(p), self.n)
            out.append(int(self.perm(e)[r]))
        return out


class _StepImages(torch.utils.data.Dataset):
    """Map-style dataset: item ``step`` → (step, indices, ground truths); used by worker processes."""

    def __init__(self, spec, schedule: _Schedule, size: int):
        self.spec, self.schedule, self.size = spec, schedule, size

    def __len__(self) -> int:  # pragma: no cover - the sampler decides the length
        return 2**62

    def __getitem__(self, step: int):
        idx = self.schedule.indices(int(step))
        return int(step), np.asarray(idx), draw_images(self.spec, idx, self.size)


def _build_models(cfg: TrainConfig, dev: torch.device):
    from napari_irdm.dl import Discriminator, build_generator

    g = build_generator(cfg.generator).to(dev)
    d = Discriminator(in_channels=2, base_width=int(cfg.disc_width)).to(dev)
    return g, d


def _build_optim(cfg: TrainConfig, g, d):
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.RMSprop(d.parameters(), lr=cfg.lr_d, alpha=cfg.rms_alpha, weight_decay=cfg.weight_decay)
    sch_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestones=[], gamma=cfg.lr_gamma)
    sch_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestones=[], gamma=cfg.lr_gamma)
    return opt_g, opt_d, sch_g, sch_d


def _set_milestones(cfg: TrainConfig, max_steps: int, *scheds) -> None:
    from collections import Counter

    ms = Counter(int(round(f * max_steps)) for f in cfg.lr_milestones if 0 < f < 1)
    for s in scheds:
        s.milestones = ms


_CHECKPOINT_KEYS = ("step", "config", "generator", "discriminator", "opt_g", "opt_d", "sched_g", "sched_d", "rng")


def _safe_globals() -> list:
    """The few non-tensor types a checkpoint holds (a Counter in the LR schedulers, NumPy's
    RNG state); everything else is refused by ``torch.load(weights_only=True)``."""
    import collections

    core = getattr(np, "_core", None) or np.core
    out = [collections.Counter, core.multiarray._reconstruct, np.ndarray, np.dtype]
    for t in (np.uint32, np.float64, np.int64):
        out.append(type(np.dtype(t)))
    return out


def _check_memory(cfg: TrainConfig, g, dev) -> None:
    """Refuse a batch that cannot fit before the first step (a lower bound: the U-Net++
    activations of one forward + backward pass, ≈ 6 tensors per convolution block)."""
    from napari_irdm.device import available_memory_bytes
    from napari_irdm.resources import require_memory

    bw = int(getattr(g, "config", {}).get("base_width", 32))
    depth = int(getattr(g, "config", {}).get("depth", 4))
    per_level = sum((depth + 1 - i) / 2**i for i in range(depth + 1))
    per_sample = 4.0 * 6 * bw * cfg.size**2 * per_level
    need = per_sample * cfg.batch_size * 2  # train batch + validation batch of the same size
    require_memory(need, f"training with --batch-size {cfg.batch_size} at --size {cfg.size} (width {bw}) on {dev}",
                   hint="use a smaller --batch-size or --size", available=available_memory_bytes(dev))


def load_checkpoint(run_dir: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict of a run folder (``checkpoint.pt``), loaded safely.

    Loaded with ``torch.load(weights_only=True)`` (no arbitrary code from a pickle), allowing
    only the types a checkpoint holds.

    Raises
    ------
    FileNotFoundError
        No checkpoint in the folder.
    ValueError
        A damaged, foreign or incomplete checkpoint (one line: what to do).
    """
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {str(run_dir)!r}: train first (napari-irdm train --out {run_dir})")
    fix = "delete it to start again, or train into a new --out folder"
    try:
        with torch.serialization.safe_globals(_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes about pickle protocols
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - damaged files raise many types
        from napari_irdm.dl.registry import torch_load_reason

        raise ValueError(f"checkpoint {path} is damaged or not a napari-irdm checkpoint "
                         f"({torch_load_reason(err)}): {fix}") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _CHECKPOINT_KEYS):
        missing = [k for k in _CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise ValueError(f"checkpoint {path} is incomplete (no {', '.join(missing[:3])}): {fix}")
    return ckpt


# ----------------------------------------------------------------------------- train
_RUNTIME_FIELDS = ("time_limit_min", "device", "num_workers", "log_every", "val_every", "ckpt_every", "amp",
                   "channels_last")


#: TrainConfig field -> the train option that sets it (resume checks name the option)
_OPTION_OF = {"dataset": "--dataset", "preset": "--preset", "size": "--size", "batch_size": "--batch-size",
              "size_factor": "--size-factor", "noise": "--noise", "oversample": "--oversample",
              "asymmetric": "--asymmetric", "seed": "--seed", "n_val": "--n-val", "generator": "--width",
              "content_weight": "--content-weight", "ssim_weight": "--ssim-weight", "lr_g": "--lr", "lr_d": "--lr",
              "tilt_steps_deg": "--tilt-step"}


def _check_resume_fields(config: TrainConfig, saved: TrainConfig, explicit, out: Path) -> None:
    """Refuse a resume whose explicitly given run-defining options differ from the checkpoint's."""
    default = TrainConfig()
    names = [f.name for f in fields(TrainConfig) if f.name not in _RUNTIME_FIELDS
             and f.name not in ("max_steps", "epochs", "_filled", "init_from")]
    chosen = set(explicit) if explicit is not None else {n for n in names if getattr(config, n) != getattr(default, n)}
    filled = saved.filled() if not saved._filled else saved
    for n in names:
        if n not in chosen:
            continue
        mine, theirs = getattr(config, n), getattr(saved, n)
        if n == "generator":
            mine = (mine or {}).get("base_width") if isinstance(mine, dict) else mine
            g = filled.generator
            theirs = g.get("base_width") if isinstance(g, dict) else theirs
        elif theirs is None:
            theirs = getattr(filled, n)
        if isinstance(theirs, (list, tuple)):
            mine, theirs = tuple(mine), tuple(theirs)
        if mine != theirs and theirs is not None:
            opt = _OPTION_OF.get(n, n)
            def show(v):
                return " ".join(f"{x:g}" for x in v) if isinstance(v, tuple) else v
            raise ValueError(f"{opt} {show(mine)} differs from the checkpoint's {show(theirs)} in {out}: drop "
                             f"{opt} to resume (or train into a new --out)")


def train_iter(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    resume: bool = False,
    *,
    explicit: Iterable[str] | None = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Train IRDM; yields :class:`Progress` after every step, returns a summary dict.

    Parameters
    ----------
    config : TrainConfig
        Run definition (preset values fill the ``None`` fields).
    out_dir : path
        Run folder (created). Holds ``config.json``, ``log.csv``, ``val.csv``, ``checkpoint.pt``.
    resume : bool
        Continue from ``out_dir/checkpoint.pt``; the saved config is used, except the
        run-time fields (time limit, device, workers, intervals) and ``max_steps`` /
        ``epochs`` (a new total) taken from ``config``.
    explicit : iterable of str, optional
        On resume: the ``config`` fields the caller set; each must equal the checkpoint's
        value (else a one-line ``ValueError`` names it). Default: every field that differs
        from the ``TrainConfig`` default.

    Returns
    -------
    dict
        ``step``, ``max_steps``, ``epochs_done``, ``elapsed_s``, ``pairs_per_s``, ``val`` (last
        held-back metrics of IRDM), ``val_wbp`` (WBP's), ``stopped`` (``"done"``, ``"time limit"``
        or ``"cancelled"``), ``out_dir``.

    Notes
    -----
    One step (D:G = 1:1, conditional GAN, D sees ``(WBP, real)`` vs ``(WBP, G(WBP))``)::

        L_D = RaLSGAN_D(D(x, y), D(x, G(x)))                       # paper Eq. (1)
        L_G = gan_weight · RaLSGAN_G(D(x, y), D(x, G(x))) + content_weight · |G(x) − y|₁   # Eq. (2) + L1
              [+ ssim_weight · (1 − SSIM(G(x), y))]

    Stopping the generator (``close()``) or Ctrl-C saves a checkpoint at the last finished step.
    """
    from napari_irdm.dl import content_loss, denormalise, ralsgan_d_loss, ralsgan_g_loss, ssim_index

    t_start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(out)
        try:
            saved = TrainConfig.from_dict(ckpt["config"])
        except (TypeError, AttributeError) as err:
            raise ValueError(f"checkpoint {out / 'checkpoint.pt'} has a bad config ({err}): delete it to start "
                             "again") from None
        for k in _RUNTIME_FIELDS:
            setattr(saved, k, getattr(config, k))
        _check_resume_fields(config, saved, explicit, out)
        if config.max_steps is not None:  # a new total (longer or shorter)
            if config.max_steps <= int(ckpt.get("step", 0)):
                raise ValueError(f"--steps {config.max_steps}: the checkpoint in {out} is already at step "
                                 f"{int(ckpt.get('step', 0))}: give a larger --steps to continue")
            saved.max_steps, saved.epochs = config.max_steps, None
        elif config.epochs is not None:
            saved.max_steps, saved.epochs = None, config.epochs
        cfg = saved.filled()
    else:
        cfg = config.filled()
    dev = resolve_device(cfg.device)
    spec = get_spec(cfg.dataset, cfg.size_factor)
    opts = PairOptions(size=cfg.size, tilt_steps_deg=cfg.tilt_steps_deg, asymmetric=cfg.asymmetric, noise=cfg.noise,
                       oversample=cfg.oversample)
    n_lib = len(spec)
    steps_per_epoch = max(1, n_lib // cfg.batch_size)
    if cfg.max_steps is not None:
        max_steps = int(cfg.max_steps)
    elif cfg.epochs is not None:
        max_steps = int(math.ceil(cfg.epochs * n_lib / cfg.batch_size))
    else:
        max_steps = None  # fixed from the measured speed after the warm-up

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    init = None
    if cfg.init_from is not None and ckpt is None:
        from napari_irdm.dl.registry import load_model

        init = load_model(cfg.init_from, device="cpu")
        cfg.generator = dict(init.config)
    g, d = _build_models(cfg, dev)
    _check_memory(cfg, g, dev)
    if init is not None:
        g.load_state_dict(init.state_dict())
        del init
    opt_g, opt_d, sch_g, sch_d = _build_optim(cfg, g, d)
    step = 0
    elapsed_before = 0.0
    if ckpt is not None:
        try:
            g.load_state_dict(ckpt["generator"])
            d.load_state_dict(ckpt["discriminator"])
            opt_g.load_state_dict(ckpt["opt_g"])
            opt_d.load_state_dict(ckpt["opt_d"])
            sch_g.load_state_dict(ckpt["sched_g"])
            sch_d.load_state_dict(ckpt["sched_d"])
            step = int(ckpt["step"])
            elapsed_before = float(ckpt.get("elapsed_s", 0.0))
            if cfg.max_steps is None and cfg.epochs is None:
                max_steps = ckpt["max_steps"]
            _set_rng_state(ckpt["rng"])
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as err:
            first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
            raise ValueError(f"checkpoint {out / 'checkpoint.pt'} does not fit this run ({first}): delete it to "
                             "start again, or train into a new --out folder") from None
    if max_steps is not None:
        _set_milestones(cfg, max_steps, sch_g, sch_d)
    atomic_write_bytes(out / "config.json", (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())

    use_amp = bool(cfg.amp) and dev.type == "cuda"
    fmt = torch.channels_last if (cfg.channels_last and dev.type == "cuda") else torch.contiguous_format
    g.to(memory_format=fmt)
    d.to(memory_format=fmt)
    schedule = _Schedule(n_lib, cfg.batch_size, cfg.seed)

    # held-back validation pairs: fixed seeds, never trained on
    val_idx = list(range(int(cfg.n_val)))
    val_batches = [
        make_batch(spec, val_idx[i : i + cfg.batch_size], opts, holdout=True, device=dev)
        for i in range(0, len(val_idx), cfg.batch_size)
    ]

    def validate() -> dict[str, float]:
        from napari_irdm.train._metrics import batch_metrics

        g.eval()
        preds, truths = [], []
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            for vb in val_batches:
                y = g(vb.inputs).float()[:, 0]
                preds.append(denormalise(y, vb.lo, vb.hi))
                truths.append(vb.truth)
        g.train()
        m = batch_metrics(torch.cat(preds), torch.cat(truths))
        return {k: float(np.mean(v)) for k, v in m.items()}

    from napari_irdm.train._metrics import batch_metrics

    wbp_m = batch_metrics(torch.cat([vb.wbp for vb in val_batches]), torch.cat([vb.truth for vb in val_batches]))
    val_wbp = {k: float(np.mean(v)) for k, v in wbp_m.items()}

    log_header = ["step", "epoch", "lr_g", "loss_d", "loss_g", "loss_gan", "loss_l1", "elapsed_s", "pairs_per_s"]
    val_header = ["step", "method", "psnr", "ssim", "nrmse"]
    log_rows = [r for r in _read_csv(out / "log.csv") if int(r[0]) <= step] if resume else []
    val_rows = [r for r in _read_csv(out / "val.csv") if int(r[0]) <= step] if resume else []
    if not val_rows:
        val_rows.append([step, "wbp", f"{val_wbp['psnr']:.4f}", f"{val_wbp['ssim']:.5f}", f"{val_wbp['nrmse']:.5f}"])
    t_val0 = time.monotonic()
    val_last = validate()
    val_cost = time.monotonic() - t_val0
    if not resume:
        val_rows.append([step, "irdm", f"{val_last['psnr']:.4f}", f"{val_last['ssim']:.5f}", f"{val_last['nrmse']:.5f}"])
    _atomic_csv(out / "val.csv", val_header, val_rows)

    def save(stopped: str = "") -> None:
        state = {
            "step": step,
            "max_steps": max_steps,
            "config": cfg.to_dict(),
            "generator": g.state_dict(),
            "discriminator": d.state_dict(),
            "generator_config": g.config,
            "discriminator_config": d.config,
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "sched_g": sch_g.state_dict(),
            "sched_d": sch_d.state_dict(),
            "rng": _rng_state(),
            "elapsed_s": elapsed_before + (time.monotonic() - t_start),
            "val": val_last,
            "val_wbp": val_wbp,
            "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "stopped": stopped,
        }
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(out / "checkpoint.pt", buf.getvalue())
        _atomic_csv(out / "log.csv", log_header, log_rows)
        _atomic_csv(out / "val.csv", val_header, val_rows)

    # data: worker processes draw ground truths ahead of time on CUDA; the rest runs on `dev`
    n_workers = cfg.num_workers
    if n_workers is None:
        n_workers = 0 if dev.type == "cpu" else max(0, min(8, (os.cpu_count() or 2) - 2))
    horizon = max_steps if max_steps is not None else step + 10**9

    def image_stream(first: int):
        if n_workers > 0:
            loader = torch.utils.data.DataLoader(
                _StepImages(spec, schedule, cfg.size), sampler=range(first, horizon), batch_size=None,
                num_workers=n_workers, prefetch_factor=4, persistent_workers=False,
            )
            for s, idx, imgs in loader:
                yield int(s), [int(i) for i in np.asarray(idx)], np.asarray(imgs)
        else:
            ds = _StepImages(spec, schedule, cfg.size)
            for s in range(first, horizon):
                yield ds[s]

    time_limit = None if cfg.time_limit_min is None else cfg.time_limit_min * 60.0
    reserve = 2.0 * val_cost + 10.0
    stopped = "done"
    t_loop = time.monotonic()
    step0 = step
    warm = 20
    t_warm = None
    last = {}
    in_step = False
    hold = None
    stream = image_stream(step)
    cudnn_benchmark = torch.backends.cudnn.benchmark
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels (restored below)
    try:
        yield Progress(step, max_steps or 0, f"training {spec.name} on {dev} (WBP val PSNR {val_wbp['psnr']:.2f} dB)")
        while max_steps is None or step < max_steps:
            elapsed = time.monotonic() - t_start
            if time_limit is not None and elapsed + reserve >= time_limit:
                stopped = "time limit"
                break
            s, idx, imgs = next(stream)
            if s != step:  # pragma: no cover - the sampler is sequential
                raise RuntimeError(f"data stream out of order: got step {s}, expected {step}")
            in_step = True
            hold = deferred_signals()
            hold.__enter__()  # a signal now is raised once the step is done (exact resume)
            batch = make_batch(spec, idx, opts, images=imgs, device=dev)
            x = batch.inputs.contiguous(memory_format=fmt)
            y = batch.targets.contiguous(memory_format=fmt)

            # --- discriminator step (paper Eq. 1)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                fake = g(x)
                d_real = d(x, y)
                d_fake = d(x, fake.detach())
                loss_d = ralsgan_d_loss(d_real.float(), d_fake.float())
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            # --- generator step (paper Eq. 2 + L1 content)
            for p in d.parameters():
                p.requires_grad_(False)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                with torch.no_grad():
                    d_real = d(x, y)
                d_fake = d(x, fake)
                loss_gan = ralsgan_g_loss(d_real.float(), d_fake.float())
                loss_l1 = content_loss(fake.float(), y)
                loss_g = cfg.gan_weight * loss_gan + cfg.content_weight * loss_l1
                if cfg.ssim_weight:
                    phys = denormalise(fake.float()[:, 0], batch.lo, batch.hi)[:, None]
                    loss_ssim = 1.0 - ssim_index(phys, batch.truth[:, None].float(), 1.0).mean()
                    loss_g = loss_g + cfg.ssim_weight * loss_ssim
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for p in d.parameters():
                p.requires_grad_(True)
            sch_g.step()
            sch_d.step()
            step += 1
            in_step = False
            hold.__exit__(None, None, None)  # raises KeyboardInterrupt / Terminated if a signal came

            if step - step0 == 5:
                t_warm = time.monotonic()
            if max_steps is None and step - step0 == warm + 5 and time_limit is not None:
                rate = warm / max(1e-6, time.monotonic() - t_warm)
                remaining = time_limit - (time.monotonic() - t_start) - reserve - 5.0
                max_steps = step + max(1, int(rate * remaining * 0.97))
                _set_milestones(cfg, max_steps, sch_g, sch_d)

            last = {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach()),
                    "loss_gan": float(loss_gan.detach()), "loss_l1": float(loss_l1.detach())}
            if step % cfg.log_every == 0 or step == max_steps:
                dt = time.monotonic() - t_loop
                pps = (step - step0) * cfg.batch_size / max(dt, 1e-9)
                log_rows.append([step, f"{step / steps_per_epoch:.4f}", f"{opt_g.param_groups[0]['lr']:.3g}",
                                 f"{last['loss_d']:.6f}", f"{last['loss_g']:.6f}", f"{last['loss_gan']:.6f}",
                                 f"{last['loss_l1']:.6f}", f"{elapsed_before + time.monotonic() - t_start:.1f}",
                                 f"{pps:.2f}"])
            if step % cfg.val_every == 0:
                val_last = validate()
                val_rows.append([step, "irdm", f"{val_last['psnr']:.4f}", f"{val_last['ssim']:.5f}",
                                 f"{val_last['nrmse']:.5f}"])
            if step % cfg.ckpt_every == 0:
                save()
            msg = (f"D {last['loss_d']:.3f} G {last['loss_gan']:.3f} L1 {last['loss_l1']:.4f} "
                   f"val {val_last['psnr']:.2f} dB (WBP {val_wbp['psnr']:.2f})")
            yield Progress(step, max_steps or 0, msg)
    except (GeneratorExit, KeyboardInterrupt):
        stopped = "cancelled"
        if in_step and hold is not None:
            with contextlib.suppress(BaseException):
                hold.__exit__(None, None, None)  # restore the handlers; the step is abandoned
        if step > step0 and not in_step:  # a half-done step would break exact resume: keep the last checkpoint
            save(stopped)
        raise
    finally:
        stream.close()
        torch.backends.cudnn.benchmark = cudnn_benchmark

    if not val_rows or int(val_rows[-1][0]) != step or val_rows[-1][1] != "irdm":
        val_last = validate()
        val_rows.append([step, "irdm", f"{val_last['psnr']:.4f}", f"{val_last['ssim']:.5f}", f"{val_last['nrmse']:.5f}"])
    save(stopped)
    dt = time.monotonic() - t_loop
    return {
        "step": step,
        "max_steps": max_steps,
        "epochs_done": step * cfg.batch_size / n_lib,
        "elapsed_s": elapsed_before + time.monotonic() - t_start,
        "pairs_per_s": (step - step0) * cfg.batch_size / max(dt, 1e-9),
        "val": val_last,
        "val_wbp": val_wbp,
        "last_losses": last,
        "stopped": stopped,
        "out_dir": str(out),
        "device": str(dev),
    }


def train(config: TrainConfig, out_dir: str | os.PathLike, resume: bool = False) -> dict[str, Any]:
    """Eager wrapper of :func:`train_iter`."""
    return run_to_completion(train_iter(config, out_dir, resume))


def export(run_dir: str | os.PathLike, name: str | os.PathLike, *, command: str | None = None) -> Path:
    """Export the generator of a run as a model (:func:`napari_irdm.dl.registry.save_model`).

    Parameters
    ----------
    run_dir : path
        A run folder with ``checkpoint.pt``.
    name : str or path
        A bare name writes the shipped ``napari_irdm/dl/weights/<name>.pt/.json``; a path
        writes there (see ``save_model``).
    command : str, optional
        The command line that trained the run (goes in the model card).

    Returns
    -------
    Path of the ``.pt`` written.
    """
    from napari_irdm.dl import build_generator
    from napari_irdm.dl.registry import save_model

    ck = load_checkpoint(run_dir)
    cfg = TrainConfig.from_dict(ck["config"])
    g = build_generator(ck["generator_config"])
    g.load_state_dict(ck["generator"])
    spec = get_spec(cfg.dataset, cfg.size_factor)
    card = {
        "dataset": spec.name,
        "dataset_counts": dict(spec.counts),
        "size_factor": cfg.size_factor,
        "wedge_range_deg": list(spec.wedge_range_deg),
        "preset": cfg.preset,
        "base_width": ck["generator_config"].get("base_width"),
        "slice_size": cfg.size,
        "batch_size": cfg.batch_size,
        "steps": ck["step"],
        "max_steps": ck["max_steps"],
        "epochs": ck["step"] * cfg.batch_size / len(spec),
        "content_weight": cfg.content_weight,
        "gan_weight": cfg.gan_weight,
        "hardware": ck.get("device_name", ck.get("device", "?")),
        "wall_time_s": round(float(ck.get("elapsed_s", 0.0)), 1),
        "stopped": ck.get("stopped", ""),
        "validation": {"irdm": ck.get("val"), "wbp": ck.get("val_wbp"), "n_val": cfg.n_val},
        "train_config": cfg.to_dict(),
        "command": command or "",
    }
    return save_model(g, name, config=g.config, card_fields=card)
