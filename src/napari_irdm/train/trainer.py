"""IRDM training: conditional RaLSGAN with a U-Net++ generator, step-based, exactly resumable.

``train_iter(config, out_dir)`` is a generator (DESIGN rule 12) that yields
:class:`~napari_irdm.progress.Progress` after every step and returns a summary dict.
The run folder holds ``config.json``, ``log.csv`` (losses), ``val.csv`` (held-back
PSNR / SSIM / NRMSE) and ``checkpoint.pt`` (step, config, both models, both
optimisers, both schedulers, the state of the run's random generator), written atomically.

Batches are a pure function of ``(seed, step)``: step ``s`` takes positions
``s·B … s·B+B−1`` of a per-epoch permutation seeded by ``(seed, epoch)``, and pairs are
deterministic per index, so a resumed run continues with exactly the batches (and, on
CPU, the losses) the uninterrupted run would have seen. The weights are initialised from a
``torch.Generator`` seeded by ``seed``; the process's global random state (torch, NumPy,
``random``) and global torch settings are left as they were.

The parts: :mod:`~napari_irdm.train._config` (the config and its checks),
:mod:`~napari_irdm.train._models` (networks, optimisers), :mod:`~napari_irdm.train._step`
(:func:`gan_step`, one update), :mod:`~napari_irdm.train._data` (the sample order),
:mod:`~napari_irdm.train._checkpoint` and :mod:`~napari_irdm.train._log` (what is written).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_irdm._signals import deferred_signals
from napari_irdm.device import resolve_device
from napari_irdm.io import atomic_write_bytes
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.train._checkpoint import load_checkpoint, restore, save_checkpoint
from napari_irdm.train._config import ACQUISITION_FIELDS, PRESETS, TrainConfig, resume_config, run_length
from napari_irdm.train._data import Schedule, image_stream
from napari_irdm.train._log import RunLog
from napari_irdm.train._models import build_models, build_optimisers, check_memory, load_init, set_milestones
from napari_irdm.train._step import LossWeights, batch_acquisition, gan_step
from napari_irdm.train.library import get_spec
from napari_irdm.train.pairs import PairOptions, Projectors, geometry, make_batch

__all__ = ["PRESETS", "LossWeights", "TrainConfig", "export", "gan_step", "load_checkpoint", "train", "train_iter"]

#: steps whose speed fixes the length of a run given only a time limit (after 5 warm-up steps)
_PACE_STEPS = 20


class _Run:
    """One training run: its models, optimisers, data, validation pairs and tables."""

    def __init__(self, cfg: TrainConfig, out: Path, ckpt: dict[str, Any] | None, t_start: float):
        self.cfg, self.out, self.t_start = cfg, out, t_start
        # a filled() config has every preset field set; keep the ones used in arithmetic typed as int
        assert cfg.size is not None and cfg.batch_size is not None and cfg.n_val is not None, "config not filled()"
        self.size, self.batch_size, self.n_val = cfg.size, cfg.batch_size, int(cfg.n_val)
        self.dev = resolve_device(cfg.device)
        self.spec = get_spec(cfg.dataset, cfg.size_factor)
        self.opts = PairOptions(size=self.size, tilt_steps_deg=cfg.tilt_steps_deg, asymmetric=cfg.asymmetric,
                                noise=cfg.noise, oversample=cfg.oversample,
                                **{k: getattr(cfg, k) for k in ACQUISITION_FIELDS})
        self.n_lib = len(self.spec)
        self.steps_per_epoch = max(1, self.n_lib // self.batch_size)
        self.max_steps = run_length(cfg, self.n_lib)
        self.rng = torch.Generator().manual_seed(int(cfg.seed))
        self._build(ckpt)
        if self.max_steps is not None:
            set_milestones(cfg, self.max_steps, self.sch_g, self.sch_d)
        atomic_write_bytes(out / "config.json", (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())
        self.amp = bool(cfg.amp) and self.dev.type == "cuda"
        self.fmt = torch.channels_last if (cfg.channels_last and self.dev.type == "cuda") else torch.contiguous_format
        # torch's Module.to stubs omit memory_format (accepted at run time)
        self.g.to(memory_format=self.fmt)  # type: ignore[call-overload]
        self.d.to(memory_format=self.fmt)  # type: ignore[call-overload]
        self.weights = LossWeights(gan=cfg.gan_weight, content=cfg.content_weight, ssim=cfg.ssim_weight)
        self.schedule = Schedule(self.n_lib, self.batch_size, cfg.seed)
        self.step0 = self.step
        self.t_warm: float | None = None
        self.projectors = Projectors()  # the run's two geometries, built once, freed with the run
        self._start_validation(resume=ckpt is not None)

    def _build(self, ckpt: dict[str, Any] | None) -> None:
        cfg = self.cfg
        init = None
        if cfg.init_from is not None and ckpt is None:
            from napari_irdm.dl.registry import load_model

            init = load_model(cfg.init_from, device="cpu")
            cfg.generator = dict(init.config)
            inherited = cfg.generator.pop("condition", None)  # a conditioned model stays conditioned
            if cfg.condition is None:
                cfg.condition = inherited
        self.g, self.d = build_models(cfg, self.dev, self.rng)
        check_memory(cfg, self.g, self.dev)
        if init is not None:
            load_init(self.g, init)
        self.opt_g, self.opt_d, self.sch_g, self.sch_d = build_optimisers(cfg, self.g, self.d)
        self.step, self.elapsed_before = 0, 0.0
        if ckpt is not None:
            self.step, self.elapsed_before = restore(
                ckpt, self.out / "checkpoint.pt", generator=self.g, discriminator=self.d, opt_g=self.opt_g,
                opt_d=self.opt_d, sched_g=self.sch_g, sched_d=self.sch_d, rng=self.rng)
            if self.max_steps is None:
                self.max_steps = ckpt["max_steps"]

    def _start_validation(self, resume: bool) -> None:
        """Held-back validation pairs (fixed seeds, never trained on), the WBP baseline and the first IRDM row."""
        from napari_irdm.train._metrics import batch_metrics

        idx = list(range(self.n_val))
        chunks = [idx[i: i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        self.val_batches = [make_batch(self.spec, c, self.opts, holdout=True, device=self.dev,
                                       projectors=self.projectors) for c in chunks]
        self.val_conds = [self.acquisition(vb, c, holdout=True) for vb, c in zip(self.val_batches, chunks, strict=True)]
        m = batch_metrics(torch.cat([vb.wbp for vb in self.val_batches]),
                          torch.cat([vb.truth for vb in self.val_batches]))
        self.val_wbp = {k: float(np.mean(v)) for k, v in m.items()}
        self.log = RunLog(self.out, self.step, resume)
        if not self.log.val_rows:
            self.log.add_val(self.step, "wbp", self.val_wbp)
        t0 = time.monotonic()
        self.val_last = self.validate()
        self.val_cost = time.monotonic() - t0
        if not resume:
            self.log.add_val(self.step, "irdm", self.val_last)
        self.log.write(losses=False)

    def validate(self) -> dict[str, float]:
        """Mean PSNR / SSIM / NRMSE of the generator on the held-back pairs."""
        from napari_irdm.dl import denormalise
        from napari_irdm.train._metrics import batch_metrics

        self.g.eval()
        preds, truths = [], []
        with torch.no_grad(), torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
            for vb, c in zip(self.val_batches, self.val_conds, strict=True):
                y = self.g(vb.inputs) if c is None else self.g(vb.inputs, c)
                preds.append(denormalise(y.float()[:, 0], vb.lo, vb.hi))
                truths.append(vb.truth)
        self.g.train()
        m = batch_metrics(torch.cat(preds), torch.cat(truths))
        return {k: float(np.mean(v)) for k, v in m.items()}

    def acquisition(self, batch, idx: list[int], holdout: bool = False) -> torch.Tensor | None:
        """``(B, 3)`` acquisitions ``(lo, hi, step)`` of a batch for a conditioned generator, else ``None``."""
        if getattr(self.g, "condition", None) is None:
            return None
        steps = [geometry(self.spec, i, self.opts, holdout=holdout)[3] for i in idx]
        return batch_acquisition(batch, steps)

    def elapsed(self) -> float:
        """Seconds of training, earlier sessions of a resumed run included."""
        return self.elapsed_before + time.monotonic() - self.t_start

    def save(self, stopped: str = "") -> None:
        """Checkpoint and both tables."""
        state = {
            "step": self.step, "max_steps": self.max_steps, "config": self.cfg.to_dict(),
            "generator": self.g.state_dict(), "discriminator": self.d.state_dict(),
            "generator_config": self.g.config, "discriminator_config": self.d.config,
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sch_g.state_dict(), "sched_d": self.sch_d.state_dict(),
            "rng": {"torch": self.rng.get_state()}, "elapsed_s": self.elapsed(),
            "val": self.val_last, "val_wbp": self.val_wbp, "device": str(self.dev),
            "device_name": torch.cuda.get_device_name(self.dev) if self.dev.type == "cuda" else "cpu",
            "stopped": stopped,
        }
        save_checkpoint(self.out / "checkpoint.pt", state)
        self.log.write()

    def train_step(self, idx: list[int], imgs: np.ndarray) -> dict[str, float]:
        """One update on the pairs of ``idx`` (ground truths ``imgs``) and the LR schedules' step."""
        batch = make_batch(self.spec, idx, self.opts, images=imgs, device=self.dev, projectors=self.projectors)
        losses = gan_step(self.g, self.d, self.opt_g, self.opt_d, batch, self.weights, amp=self.amp,
                          memory_format=self.fmt, cond=self.acquisition(batch, idx))
        self.sch_g.step()
        self.sch_d.step()
        self.step += 1
        return losses

    def after_step(self, losses: dict[str, float], t_loop: float, time_limit: float | None) -> str:
        """Pace, log, validate and checkpoint as due after a step; the progress message."""
        cfg, step = self.cfg, self.step
        self._pace(time_limit)
        if step % cfg.log_every == 0 or step == self.max_steps:
            pps = (step - self.step0) * self.batch_size / max(time.monotonic() - t_loop, 1e-9)
            self.log.add_loss(step, step / self.steps_per_epoch, self.opt_g.param_groups[0]["lr"], losses,
                              self.elapsed(), pps)
        if step % cfg.val_every == 0:
            self.val_last = self.validate()
            self.log.add_val(step, "irdm", self.val_last)
        if step % cfg.ckpt_every == 0:
            self.save()
        return (f"D {losses['loss_d']:.3f} G {losses['loss_gan']:.3f} L1 {losses['loss_l1']:.4f} "
                f"val {self.val_last['psnr']:.2f} dB (WBP {self.val_wbp['psnr']:.2f})")

    def _pace(self, time_limit: float | None) -> None:
        """Without a set length: fix it from the speed of steps 5 … 25 so the run fits ``time_limit``."""
        done = self.step - self.step0
        if done == 5:
            self.t_warm = time.monotonic()
        if self.max_steps is None and done == _PACE_STEPS + 5 and time_limit is not None:
            assert self.t_warm is not None  # set at step 5 of this loop, before step 25
            rate = _PACE_STEPS / max(1e-6, time.monotonic() - self.t_warm)
            remaining = time_limit - (time.monotonic() - self.t_start) - self.reserve() - 5.0
            self.max_steps = self.step + max(1, int(rate * remaining * 0.97))
            set_milestones(self.cfg, self.max_steps, self.sch_g, self.sch_d)

    def reserve(self) -> float:
        """Seconds kept for the final validation and checkpoint before a time limit."""
        return 2.0 * self.val_cost + 10.0

    def workers(self) -> int:
        """Data-loader processes: ``num_workers``, else 0 on CPU and up to 8 on other devices."""
        n = self.cfg.num_workers
        return int(n) if n is not None else (0 if self.dev.type == "cpu" else max(0, min(8, (os.cpu_count() or 2) - 2)))


def _loop(run: _Run) -> Generator[Progress, None, tuple[str, dict[str, float], float]]:
    """Steps until the run's length or time limit: ``(stopped, last losses, loop start)``.

    Cancelling (``close()``, Ctrl-C) checkpoints the last finished step; a signal during a step
    is raised once the step is done, so a checkpoint never holds half a step.
    """
    cfg = run.cfg
    time_limit = None if cfg.time_limit_min is None else cfg.time_limit_min * 60.0
    horizon = run.max_steps if run.max_steps is not None else run.step + 10**9
    stream = image_stream(run.spec, run.schedule, run.size, run.step, horizon, workers=run.workers(), seed=cfg.seed,
                          options=run.opts)
    stopped, last, hold, t_loop = "done", {}, None, time.monotonic()
    try:
        yield Progress(run.step, run.max_steps or 0,
                       f"training {run.spec.name} on {run.dev} (WBP val PSNR {run.val_wbp['psnr']:.2f} dB)")
        while run.max_steps is None or run.step < run.max_steps:
            if time_limit is not None and time.monotonic() - run.t_start + run.reserve() >= time_limit:
                stopped = "time limit"
                break
            s, idx, imgs = next(stream)
            if s != run.step:  # pragma: no cover - the sampler is sequential
                raise RuntimeError(f"data stream out of order: got step {s}, expected {run.step}")
            hold = deferred_signals()
            hold.__enter__()
            last = run.train_step(idx, imgs)
            held, hold = hold, None
            held.__exit__(None, None, None)  # raises KeyboardInterrupt / Terminated if a signal came
            yield Progress(run.step, run.max_steps or 0, run.after_step(last, t_loop, time_limit))
    except (GeneratorExit, KeyboardInterrupt):
        if hold is None and run.step > run.step0:  # an abandoned step is not saved (exact resume)
            run.save("cancelled")
        raise
    finally:
        if hold is not None:  # restore the signal handlers
            with contextlib.suppress(BaseException):
                hold.__exit__(None, None, None)
        stream.close()
    return stopped, last, t_loop


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
        value (else a one-line :class:`~napari_irdm.errors.ParameterError` names it). Default: every field that
        differs from the ``TrainConfig`` default.

    Returns
    -------
    dict
        ``step``, ``max_steps``, ``epochs_done``, ``elapsed_s``, ``pairs_per_s``, ``val`` (last
        held-back metrics of IRDM), ``val_wbp`` (WBP's), ``last_losses``, ``stopped`` (``"done"``,
        ``"time limit"`` or ``"cancelled"``), ``out_dir``, ``device``.

    Raises
    ------
    napari_irdm.errors.ParameterError
        A bad config, or a checkpoint that is damaged or does not fit (a ``ValueError``).

    Notes
    -----
    Every step is one :func:`gan_step` (D:G = 1:1, conditional GAN, D sees ``(WBP, real)`` vs
    ``(WBP, G(WBP))``). Stopping the generator (``close()``) or Ctrl-C saves a checkpoint at
    the last finished step.
    """
    t_start = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(out) if resume else None
    cfg = resume_config(config, ckpt, explicit, out) if ckpt is not None else config.filled()
    run = _Run(cfg, out, ckpt, t_start)
    stopped, last, t_loop = yield from _loop(run)
    if not run.log.has_val(run.step, "irdm"):
        run.val_last = run.validate()
        run.log.add_val(run.step, "irdm", run.val_last)
    run.save(stopped)
    return {
        "step": run.step,
        "max_steps": run.max_steps,
        "epochs_done": run.step * run.batch_size / run.n_lib,
        "elapsed_s": run.elapsed(),
        "pairs_per_s": (run.step - run.step0) * run.batch_size / max(time.monotonic() - t_loop, 1e-9),
        "val": run.val_last,
        "val_wbp": run.val_wbp,
        "last_losses": last,
        "stopped": stopped,
        "out_dir": str(out),
        "device": str(run.dev),
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
        "condition": ck["generator_config"].get("condition"),
        "hardware": ck.get("device_name", ck.get("device", "?")),
        "wall_time_s": round(float(ck.get("elapsed_s", 0.0)), 1),
        "stopped": ck.get("stopped", ""),
        "validation": {"irdm": ck.get("val"), "wbp": ck.get("val_wbp"), "n_val": cfg.n_val},
        "train_config": cfg.to_dict(),
        "command": command or "",
    }
    return save_model(g, name, config=g.config, card_fields=card)
