"""Reconstruction methods and their parameters: the one definition of names, defaults and rules.

NumPy only (no torch), so the CLI's ``--help``, the napari widgets and the core all read the
same defaults and check values by the same rules. One frozen dataclass per method
(:class:`WBPParams`, :class:`SIRTParams`, :class:`SARTParams`, :class:`TVParams`,
:class:`IRDMParams`); its fields are the keyword parameters of the core function
(``tomo.wbp_iter``, ``sirt_iter``, ``sart_iter``, ``tv_iter``, ``dl.inpaint_iter``), whose
signature defaults are these fields' defaults. Constructing one validates it; a bad value
raises :class:`napari_irdm.errors.ParameterError` naming the *parameter* in backticks
(`` `relaxation` must be in (0, 2) ...``), which each shell spells as its own control
(``--relaxation`` in the CLI, the box's label in napari).

:func:`method_params` builds the parameters of a method by name from keyword options and
refuses an option the method does not have (nothing is silently dropped);
``napari_irdm.tomo.reconstruct_iter`` runs them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "FILTERS",
    "MAX_ITERATIONS",
    "METHODS",
    "PARAMS",
    "STOP_RULES",
    "TV_FIXED_WEIGHT",
    "TV_SOLVERS",
    "IRDMParams",
    "SARTParams",
    "SIRTParams",
    "TVParams",
    "WBPParams",
    "method_params",
]

#: reconstruction methods, in the order the front ends list them
METHODS: tuple[str, ...] = ("wbp", "sirt", "sart", "tv", "irdm")
#: WBP ramp filter and apodisation windows (``tomo.filters``)
FILTERS: tuple[str, ...] = ("ramp", "shepp-logan", "cosine", "hamming", "hann", "none")
#: SIRT stopping rules (``None``: run all iterations)
STOP_RULES: tuple[str | None, ...] = (None, "discrepancy")
#: TV solvers (``None``: ``"cp"`` with an automatic weight, else ``"fista"``)
TV_SOLVERS: tuple[str | None, ...] = (None, "fista", "cp")
#: a fixed TV weight: the ``tv`` rows of ``train.evaluate`` (``tv_auto`` is the automatic one) and
#: the first value a front end offers when the automatic choice is switched off
TV_FIXED_WEIGHT = 1e-4
#: the most iterations any method accepts (a mistyped number must not run for hours)
MAX_ITERATIONS = 100_000


def _bad(name: str, rule: str) -> ParameterError:
    """The error for parameter ``name``: ``"`name` <rule>"`` (each shell spells the name its way)."""
    return ParameterError(f"`{name}` {rule}", name)


def _number(value) -> float | None:
    """``value`` as a float, or ``None`` if it is no real number (bools are not numbers here)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _check_count(name: str, value, *, lo: int = 1, hi: int = MAX_ITERATIONS) -> None:
    v = _number(value)
    if v is None or v != int(v) or not lo <= v <= hi:
        raise _bad(name, f"must be a whole number between {lo} and {hi}, got {value!r}")


def _check_flag(name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise _bad(name, f"must be True or False, got {value!r}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise _bad(name, f"must be one of {shown}, got {value!r}")


def _check_relaxation(name: str, value) -> None:
    v = _number(value)
    if v is None or not 0 < v < 2:
        raise _bad(name, f"must be in (0, 2) for the iteration to converge, got {value!r}")


def _check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    v = _number(value)
    if v is None or not (v >= 0 if allow_zero else v > 0):
        raise _bad(name, f"must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")


def _filter_key(name) -> str:
    """The canonical spelling of a filter name (case and ``_``/``-`` do not matter)."""
    return str(name).lower().replace("_", "-")


def _check_filter(name: str, value) -> None:
    if _filter_key(value) not in FILTERS:
        raise _bad(name, f"must be one of {', '.join(FILTERS)}, got {value!r}")


class _Params:
    """Shared behaviour of the parameter dataclasses."""

    #: the method's name in :data:`METHODS`
    method: ClassVar[str] = ""
    #: fields that are not keywords of the core function (used by the shell around it)
    _not_core: ClassVar[tuple[str, ...]] = ()

    def core_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of the method's core function."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in self._not_core}

    def replace(self, **changes):
        """A copy with ``changes`` (validated; an unknown name is a :class:`ParameterError`)."""
        now = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return method_params(self.method, **{**now, **changes})  # (asdict would deep-copy a model)


@dataclass(frozen=True)
class WBPParams(_Params):
    """Weighted back-projection (``tomo.wbp_iter``).

    Parameters
    ----------
    filter_name : str
        Ramp filter and window, one of :data:`FILTERS`.
    """

    method: ClassVar[str] = "wbp"
    filter_name: str = "ramp"

    def __post_init__(self):
        _check_filter("filter_name", self.filter_name)


@dataclass(frozen=True)
class SIRTParams(_Params):
    """SIRT (``tomo.sirt_iter``).

    Parameters
    ----------
    iterations : int
        Number of updates (the maximum with a stopping rule), 1 … :data:`MAX_ITERATIONS`.
    relaxation : float
        Step ``λ`` in ``(0, 2)``.
    nonnegative : bool
        Clip negative voxels after each update.
    stop : {None, "discrepancy"}
        Stopping rule per slice (Morozov's discrepancy principle).
    discrepancy_factor : float
        ``τ`` of the discrepancy principle (> 0).
    """

    method: ClassVar[str] = "sirt"
    iterations: int = 50
    relaxation: float = 1.0
    nonnegative: bool = False
    stop: str | None = None
    discrepancy_factor: float = 1.05

    def __post_init__(self):
        _check_count("iterations", self.iterations)
        _check_relaxation("relaxation", self.relaxation)
        _check_flag("nonnegative", self.nonnegative)
        _check_choice("stop", self.stop, STOP_RULES)
        _check_positive("discrepancy_factor", self.discrepancy_factor)


@dataclass(frozen=True)
class SARTParams(_Params):
    """SART (``tomo.sart_iter``).

    Parameters
    ----------
    iterations : int
        Full passes over all projections, 1 … :data:`MAX_ITERATIONS`.
    relaxation : float
        Step ``λ`` in ``(0, 2)``.
    nonnegative : bool
        Clip negative voxels after each sub-iteration.
    subset_size : int
        Projections per update (1 = classic SART).
    """

    method: ClassVar[str] = "sart"
    iterations: int = 10
    relaxation: float = 0.5
    nonnegative: bool = False
    subset_size: int = 1

    def __post_init__(self):
        _check_count("iterations", self.iterations)
        _check_relaxation("relaxation", self.relaxation)
        _check_flag("nonnegative", self.nonnegative)
        _check_count("subset_size", self.subset_size, hi=2**31 - 1)


@dataclass(frozen=True)
class TVParams(_Params):
    """Total-variation regularised least squares (``tomo.tv_iter``).

    Parameters
    ----------
    tv_weight : float or "auto"
        Dimensionless weight (≥ 0), or ``"auto"``: chosen by cross-validation on held-out tilts.
    iterations : int
        Iterations, 1 … :data:`MAX_ITERATIONS`.
    nonnegative : bool
        Constrain voxels to be ≥ 0.
    prox_iterations : int
        Inner iterations of each TV proximal step (FISTA).
    solver : {None, "fista", "cp"}
        ``None``: ``"cp"`` with ``tv_weight="auto"``, else ``"fista"``.
    """

    method: ClassVar[str] = "tv"
    tv_weight: float | str = "auto"
    iterations: int = 100
    nonnegative: bool = False
    prox_iterations: int = 10
    solver: str | None = None

    def __post_init__(self):
        if isinstance(self.tv_weight, str):
            if self.tv_weight.strip().lower() != "auto":
                raise _bad("tv_weight", f"must be a number >= 0 or 'auto', got {self.tv_weight!r}")
            object.__setattr__(self, "tv_weight", "auto")
        else:
            v = _number(self.tv_weight)
            if v is None or v < 0:
                raise _bad("tv_weight", f"must be a number >= 0 or 'auto', got {self.tv_weight!r}")
        _check_count("iterations", self.iterations)
        _check_flag("nonnegative", self.nonnegative)
        _check_count("prox_iterations", self.prox_iterations)
        solver = None if self.solver is None else str(self.solver).lower()
        _check_choice("solver", solver, TV_SOLVERS)
        object.__setattr__(self, "solver", solver)

    @property
    def auto(self) -> bool:
        """Whether the weight is chosen from the data."""
        return self.tv_weight == "auto"


#: IRDM's projection-domain data consistency modes (``None``: none)
CONSISTENCY_MODES = (None, "iterative", "tv")
#: their default iterations (SIRT updates; Chambolle–Pock iterations)
CONSISTENCY_ITERATIONS = {"iterative": 30, "tv": 100}
#: the consistency of an IRDM reconstruction *from a tilt series* when none is chosen (CLI
#: ``reconstruct``/``batch``, the napari IRDM widget once a series is open): the network-prior TV,
#: never worse than TV-auto by more than noise on the acceptance grids, where plain IRDM is 2–10 dB
#: below it with noise. ``inpaint`` of a volume alone has no series, so its default stays none.
SERIES_CONSISTENCY = "tv"


@dataclass(frozen=True)
class IRDMParams(_Params):
    """IRDM: a WBP restored by a network (``tomo.wbp_iter`` then ``dl.inpaint_iter``).

    Parameters
    ----------
    model : str, path or nn.Module
        Shipped model name, ``"auto"``, a ``.pt`` path or a generator.
    filter_name : str
        Filter of the starting WBP (not a keyword of ``inpaint_iter``).
    data_consistency : bool
        Fourier-domain data consistency (keep the measured cone).
    consistency : {None, "iterative", "tv"}
        Projection-domain data consistency: ``"iterative"``, SIRT from the network's output;
        ``"tv"``, TV on the measured series with the network's output as a prior (both weights
        chosen on held-out tilts; recommended for real, noisy series).
    consistency_iterations : int, optional
        SIRT updates (``"iterative"``, default 30) or Chambolle–Pock iterations (``"tv"``,
        default 100), 1 … :data:`MAX_ITERATIONS`.
    nonnegative : bool
        Clip the result at 0.
    tta : bool
        Test-time augmentation over the wedge-keeping flips.
    """

    method: ClassVar[str] = "irdm"
    _not_core: ClassVar[tuple[str, ...]] = ("filter_name",)
    model: Any = "general"
    filter_name: str = "ramp"
    data_consistency: bool = False
    consistency: str | None = None
    consistency_iterations: int | None = None
    nonnegative: bool = False
    tta: bool = False

    def __post_init__(self):
        _check_filter("filter_name", self.filter_name)
        _check_flag("data_consistency", self.data_consistency)
        _check_choice("consistency", self.consistency, CONSISTENCY_MODES)
        if self.consistency_iterations is not None:
            _check_count("consistency_iterations", self.consistency_iterations)
        _check_flag("nonnegative", self.nonnegative)
        _check_flag("tta", self.tta)
        if self.data_consistency and self.consistency is not None:
            raise ParameterError("`data_consistency` (Fourier) excludes `consistency`='iterative': choose one of the two",
                                 "data_consistency", "consistency")


#: method name -> its parameter class
PARAMS: dict[str, Any] = {
    "wbp": WBPParams, "sirt": SIRTParams, "sart": SARTParams, "tv": TVParams, "irdm": IRDMParams,
}


def method_params(method: str, **options) -> Any:
    """The validated parameters of ``method`` with ``options`` changed from the defaults.

    Parameters
    ----------
    method : str
        One of :data:`METHODS` (any case).
    **options
        Fields of the method's parameter class.

    Returns
    -------
    WBPParams, SIRTParams, SARTParams, TVParams or IRDMParams

    Raises
    ------
    ParameterError
        ``method`` is unknown, an option is not a parameter of the method, or a value is
        out of its range (the message names the parameter).
    """
    key = str(method).lower()
    if key not in PARAMS:
        raise _bad("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    cls = PARAMS[key]
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in options if k not in names]
    if unknown:
        raise _bad(unknown[0], f"is not a parameter of {key} (its parameters: {', '.join(names)})")
    return cls(**options)
