"""Training configuration: presets, :class:`TrainConfig`, its checks and the resume rules.

Errors name the parameters in backticks as the Python API spells them (`` `batch_size` ``,
`` `max_steps` ``, `` `out_dir` ``) and are :class:`napari_irdm.errors.ParameterError` exceptions, so a
shell that exposes them under other names (the CLI's ``--batch-size``) says it in its own words
(:func:`napari_irdm.errors.in_terms_of`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from napari_irdm.errors import ParameterError
from napari_irdm.train.library import get_spec

__all__ = ["ACQUISITION_FIELDS", "PRESETS", "RUNTIME_FIELDS", "TrainConfig", "resume_config", "run_length"]

#: training presets. "paper" = Supplementary Table 3 + Methods; "cpu" = small and fast.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(generator="paper", disc_width=32, size=256, batch_size=32, epochs=60.0, n_val=64),
    "cpu": dict(generator="cpu", disc_width=8, size=128, batch_size=8, max_steps=2000, n_val=16),
}

#: fields a resumed run takes from the new config (how it runs, not what it learns)
RUNTIME_FIELDS = ("time_limit_min", "device", "num_workers", "log_every", "val_every", "ckpt_every", "amp",
                  "channels_last")
#: of those, the intervals a resumed run keeps unless they are given again (``explicit``)
_SCHEDULE_FIELDS = ("log_every", "val_every", "ckpt_every")


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
        Seeds the weight initialisation (an explicit ``torch.Generator``: the process's global
        random state is neither read nor changed) and the order of the training samples.
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
    condition : {None, "film"}
        Condition the generator on the acquisition: ``"film"`` tells it each pair's tilt
        range and step (:class:`~napari_irdm.dl.unetpp.AcquisitionFiLM`), so one model can
        serve many tilt ranges. With ``init_from`` an unconditioned model, its weights start
        the conditioned one (the FiLM starts at the identity). The discriminator is not
        given the acquisition (it is conditioned on the WBP, which shows the wedge).
    max_shift_deg, dose, read_noise, misalign_px, drift, background, exceed_fov
        The acquisition model of the pairs (:class:`~napari_irdm.train.pairs.PairOptions`):
        largest shift of an asymmetric range, Poisson dose range (counts per pixel), read
        noise, residual misalignment (RMS pixels), intensity drift, background, probability
        of an object larger than the field of view. The defaults make the original pairs.
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
    # --- conditioning on the acquisition (issue #15, one model across tilt ranges)
    condition: str | None = None
    # --- acquisition model of the pairs (issue #15; see ACQUISITION_FIELDS)
    max_shift_deg: float = 10.0
    dose: tuple[float, float] | None = None
    read_noise: float = 0.0
    misalign_px: float = 0.0
    drift: float = 0.0
    background: float = 0.0
    exceed_fov: float = 0.0
    # ---
    _filled: bool = field(default=False, repr=False)

    def filled(self) -> TrainConfig:
        """A copy with preset values in the fields left ``None``, checked (a one-line
        :class:`~napari_irdm.errors.ParameterError` naming the field)."""
        if self.preset not in PRESETS:
            raise ParameterError(f"`preset` {self.preset!r} is unknown: use one of {', '.join(PRESETS)}", "preset")
        d = asdict(self)
        pre = PRESETS[self.preset]
        for k, v in pre.items():
            if k not in ("epochs", "max_steps") and d.get(k) is None:
                d[k] = v
        if d["epochs"] is None and d["max_steps"] is None and d["time_limit_min"] is None:
            length = "epochs" if "epochs" in pre else "max_steps"
            d[length] = pre[length]
        for k in ("betas", "lr_milestones", "tilt_steps_deg"):
            d[k] = tuple(d[k])
        if d["dose"] is not None:  # acquisition model
            d["dose"] = tuple(d["dose"])
        d["_filled"] = True
        cfg = TrainConfig(**d)
        _check(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict (what ``config.json`` and the checkpoint hold)."""
        d = asdict(self)
        d.pop("_filled", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config of :meth:`to_dict` (unknown keys ignored, lists back to tuples)."""
        names = {f.name for f in fields(cls)}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**d)


#: (parameter, low, high, what the bounds say): integer and float ranges checked by :func:`_check`
_RANGES = (
    ("batch_size", 1, 4096, ""),
    ("size", 16, 2048, " pixels (train on crops of large images)"),
    ("oversample", 1, 8, ""),
    ("num_workers", 0, 64, ""),
    ("n_val", 1, 100_000, ""),
)


def _check(cfg: TrainConfig) -> None:
    """Refuse values no run can use, naming the parameter (one line each)."""
    get_spec(cfg.dataset)  # validates the name
    for name, low, high, unit in _RANGES:
        v = getattr(cfg, name)
        if v is not None and not low <= int(v) <= high:
            raise ParameterError(f"`{name}` must be between {low} and {high}{unit}, got {v}", name)
    _check_condition(cfg)
    width = cfg.generator.get("base_width") if isinstance(cfg.generator, dict) else None
    if width is not None and not 1 <= int(width) <= 256:
        raise ParameterError(f"`base_width` must be between 1 and 256, got {width}", "base_width")
    if not (math.isfinite(float(cfg.size_factor)) and 0 < cfg.size_factor <= 1000):
        raise ParameterError(f"`size_factor` must be in (0, 1000], got {cfg.size_factor}", "size_factor")
    for name, v in (("max_steps", cfg.max_steps), ("epochs", cfg.epochs), ("time_limit_min", cfg.time_limit_min)):
        if v is not None and not v > 0:
            raise ParameterError(f"`{name}` must be > 0, got {v}", name)
    _check_acquisition(cfg)


# --- acquisition model of the pairs (issue #15) -----------------------------------------------

#: TrainConfig fields passed as they are to :class:`~napari_irdm.train.pairs.PairOptions`
ACQUISITION_FIELDS = ("max_shift_deg", "dose", "read_noise", "misalign_px", "drift", "background", "exceed_fov")

#: (field, high, what it is): each must be a finite number in [0, high]
_ACQ_RANGES = (
    ("max_shift_deg", 89.5, " degrees"),
    ("read_noise", 10.0, " (σ relative to the mean projection)"),
    ("drift", 0.9, " (relative gain change)"),
    ("background", 10.0, " (relative to the projection maximum)"),
    ("exceed_fov", 1.0, " (a probability)"),
)


def _check_acquisition(cfg: TrainConfig) -> None:
    """Refuse acquisition settings no pair can use, naming the field (one line each)."""
    for name, high, what in _ACQ_RANGES:
        v = float(getattr(cfg, name))
        if not (math.isfinite(v) and 0.0 <= v <= high):
            raise ParameterError(f"`{name}` must be between 0 and {high:g}{what}, got {getattr(cfg, name)}", name)
    top = (cfg.size or 16) / 4
    if not (math.isfinite(float(cfg.misalign_px)) and 0.0 <= cfg.misalign_px <= top):
        raise ParameterError(f"`misalign_px` must be between 0 and {top:g} pixels (a quarter of `size`), "
                             f"got {cfg.misalign_px}", "misalign_px", "size")
    if cfg.dose is not None:
        d = tuple(cfg.dose)
        if len(d) != 2 or not all(math.isfinite(float(x)) for x in d) or not 0 < d[0] <= d[1] <= 1e12:
            raise ParameterError(f"`dose` must be two counts per pixel LO HI with 0 < LO <= HI (LO = HI: a fixed "
                                 f"dose), got {_show(d)}", "dose")


# ---


def _check_condition(cfg: TrainConfig) -> None:
    """``condition`` is ``None`` or a known kind, and agrees with a ``condition`` in ``generator``."""
    from napari_irdm.dl.unetpp import CONDITIONS

    if cfg.condition is not None and cfg.condition not in CONDITIONS:
        raise ParameterError(f"`condition` {cfg.condition!r} is unknown: use one of {', '.join(CONDITIONS)} "
                             "(or none)", "condition")
    inner = cfg.generator.get("condition") if isinstance(cfg.generator, dict) else None
    if inner is not None and cfg.condition is not None and inner != cfg.condition:
        raise ParameterError(f"`condition` {cfg.condition!r} differs from the generator's {inner!r}: "
                             "give one of them", "condition")


def run_length(cfg: TrainConfig, n_library: int) -> int | None:
    """Steps of the run: ``max_steps``, else ``epochs`` over ``n_library`` samples, else ``None``
    (fixed from the measured speed once the run knows it, see ``time_limit_min``)."""
    if cfg.max_steps is not None:
        return int(cfg.max_steps)
    if cfg.epochs is not None:
        assert cfg.batch_size is not None, "config not filled()"
        return int(math.ceil(cfg.epochs * n_library / cfg.batch_size))
    return None


def resume_config(config: TrainConfig, ckpt: Mapping[str, Any], explicit: Iterable[str] | None,
                  out: Path) -> TrainConfig:
    """The filled config a resumed run continues with: the checkpoint's, with the run-time fields
    of ``config`` and its new length (``max_steps`` / ``epochs``).

    Raises
    ------
    ParameterError
        A bad saved config, an explicitly given run-defining field that differs from the
        checkpoint's, or a ``max_steps`` the checkpoint has already reached.
    """
    try:
        saved = TrainConfig.from_dict(ckpt["config"])
    except (TypeError, AttributeError) as err:
        raise ParameterError(f"checkpoint {out / 'checkpoint.pt'} has a bad config ({err}): delete it to start "
                             "again, or train into a new `out_dir` folder", "out_dir") from None
    default = TrainConfig()
    chosen = set(explicit) if explicit is not None else {k for k in _SCHEDULE_FIELDS
                                                          if getattr(config, k) != getattr(default, k)}
    for k in RUNTIME_FIELDS:
        if k in _SCHEDULE_FIELDS and k not in chosen:
            continue  # the run keeps its own validation / checkpoint / log intervals unless given anew
        setattr(saved, k, getattr(config, k))
    _check_resume_fields(config, saved, explicit, out)
    done = int(ckpt.get("step", 0))
    if config.max_steps is not None:  # a new total (longer or shorter)
        if config.max_steps <= done:
            raise ParameterError(f"`max_steps` {config.max_steps}: the checkpoint in {out} is already at step {done}: "
                                 "give a larger `max_steps` to continue", "max_steps")
        saved.max_steps, saved.epochs = config.max_steps, None
    elif config.epochs is not None:
        saved.max_steps, saved.epochs = None, config.epochs
    return saved.filled()


def _show(v: Any) -> Any:
    return " ".join(f"{x:g}" for x in v) if isinstance(v, tuple) else v


def _check_resume_fields(config: TrainConfig, saved: TrainConfig, explicit: Iterable[str] | None, out: Path) -> None:
    """Refuse a resume whose explicitly given run-defining fields differ from the checkpoint's."""
    default = TrainConfig()
    names = [f.name for f in fields(TrainConfig) if f.name not in RUNTIME_FIELDS
             and f.name not in ("max_steps", "epochs", "_filled", "init_from")]
    chosen = set(explicit) if explicit is not None else {n for n in names if getattr(config, n) != getattr(default, n)}
    filled = saved.filled() if not saved._filled else saved
    for n in names:
        if n not in chosen:
            continue
        param, mine, theirs = n, getattr(config, n), getattr(saved, n)
        if n == "generator":
            param = "base_width"
            mine = (mine or {}).get("base_width") if isinstance(mine, dict) else mine
            theirs = filled.generator.get("base_width") if isinstance(filled.generator, dict) else theirs
        elif theirs is None:
            theirs = getattr(filled, n)
        if isinstance(theirs, (list, tuple)):
            mine, theirs = tuple(mine), tuple(theirs)
        if mine != theirs and theirs is not None:
            raise ParameterError(f"`{param}` {_show(mine)} differs from the checkpoint's {_show(theirs)} in {out}: "
                                 f"drop `{param}` to resume (or train into a new `out_dir`)", param, "out_dir")
