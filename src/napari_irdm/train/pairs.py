"""Training pairs (WBP input with missing-wedge artefacts, ground truth), deterministic per index.

Pipeline for one sample (DESIGN rule 13: made with the project's own projector; every option is
a :class:`PairOptions` field whose default makes the original pairs bit for bit):

1. ground truth ``f(z, x)`` from the dataset's source (rows ``z`` = beam direction at 0°);
2. missing wedge ``w`` drawn for the index from the spec's range, quantised to 0.5°;
   tilt range ``[lo, hi]`` with ``hi − lo = 180° − w`` (symmetric ``±(90° − w/2)``, or
   shifted by up to ``±min(max_shift_deg, w/2)`` (default 10°, on the 0.5° grid, so the range
   stays inside ±90°) when ``asymmetric``); angles are the multiples of the tilt step (one of
   ``tilt_steps_deg`` per index) inside the range plus the two end angles;
3. projections with :class:`napari_irdm.tomo.ParallelProjector`
   (on a 2× finer grid by default, see ``PairOptions.oversample``); with probability
   ``exceed_fov`` the object is larger than the field of view: truth drawn at
   :func:`fov_size` (≈ 1.5×), projected onto that wider detector, the central ``size``
   detector pixels kept (interior tomography), the target its central ``size × size``;
4. the acquisition, per index: residual per-tilt shifts along x (``misalign_px``, Fourier
   shift), a slow gain drift over the tilt order (``drift``), a background offset
   (``background``), Poisson counting at a dose drawn log-uniformly in ``dose`` (counts per
   pixel for the mean of the object's projection), Gaussian read noise (``read_noise``), and
   the original Gaussian noise (σ drawn per index in ``[0, noise]`` × the projection maximum);
   :attr:`PairBatch.acquisition` records the draws;
5. weighted back-projection (ramp filter, angular weights as :func:`napari_irdm.tomo.wbp`),
   which knows none of step 4;
6. the pair is normalised with the WBP's robust range (:func:`napari_irdm.dl.normalise_pair`),
   exactly as inference normalises a WBP slice.

Fast batches (:func:`make_batch`): all geometries a spec can produce are sub-sets of one
fixed grid of angles, so a batch is one forward projection over the grid, a per-sample
mask of angular weights (zero for angles outside the sample's range), one filter and one
back-projection — one projector geometry serves the whole training run, on CPU or GPU. The run
keeps its projectors in a :class:`Projectors` it owns (freed with the run); this module keeps no
cache, and without one the projector module's own cache
(:func:`napari_irdm.tomo.clear_projector_cache`) serves. Samples that exceed the field of view
are projected together by a second projector (the wider detector); :func:`make_pair` is one
index of :func:`make_batch` (the same pair, up to float rounding of the batched products).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from napari_irdm.device import resolve_device
from napari_irdm.geometry import angles_on_grid, angular_weights
from napari_irdm.tomo.filters import filter_projections
from napari_irdm.tomo.projector import ParallelProjector
from napari_irdm.train.library import HOLDOUT_OFFSET, DatasetSpec, get_spec
from napari_irdm.train.phantoms import source_rng

__all__ = ["PairBatch", "PairOptions", "Projectors", "draw_images", "drift_profile", "exceeds_fov", "fov_size",
           "geometry", "make_batch", "make_pair", "project_batch"]

_KEY_GEOM = 0x6E0
_WEDGE_QUANTUM = 0.5
_MAX_SHIFT = 10.0


@dataclass(frozen=True)
class PairOptions:
    """How pairs are made (everything but the dataset and the index).

    Attributes
    ----------
    size : int
        Side of the square slices (pixels).
    tilt_steps_deg : tuple of float
        Tilt step(s); with several, each index draws one.
    asymmetric : bool
        Shift the tilt range by up to ±10° (drawn per index), as in many real series.
    noise : float or None
        Maximum relative Gaussian noise on the projections (σ / max projection); σ is
        drawn per index in ``[0, noise]``. ``None`` or 0: noise-free.
    filter_name : str
        WBP filter (see :func:`napari_irdm.tomo.wbp`).
    oversample : int
        Project the ground truth (as constant pixels) on a grid this many times finer and
        bin the detector back, so the data are not made with the very matrix the
        reconstructions use (avoids the "inverse crime" that flatters iterative methods).
        1: project with the reconstruction's own projector.
    max_shift_deg : float
        With ``asymmetric``: the largest shift of the tilt range (degrees, drawn per index in
        ``±min(max_shift_deg, w/2)`` on the 0.5° grid, so the range stays inside ±90°).
    dose : (float, float) or None
        Electron dose as counts per detector pixel: drawn per index log-uniformly in
        ``[lo, hi]`` (``lo == hi``: a fixed dose); the projections are scaled so that the
        mean of the object's projection is that many counts, get Poisson noise and are
        scaled back. ``None``: no counting noise.
    read_noise : float
        Maximum Gaussian read noise after the counting noise, σ relative to the mean of the
        object's projection (σ drawn per index in ``[0, read_noise]``). 0: none.
    misalign_px : float
        Maximum RMS (pixels) of residual per-tilt shifts along the detector (x): the RMS is
        drawn per index in ``[0, misalign_px]``; each projection is moved by its shift
        (Fourier shift) before the WBP, which does not know them. 0: none.
    drift : float
        Maximum relative slow intensity drift over the acquisition: a smooth per-tilt gain
        ``1 + d·g(t)`` over the tilt order ``t`` (``lo`` → ``hi``), ``g`` = a linear ramp
        plus low-order random cosines scaled to ``max |g| = 1``, ``d`` drawn per index in
        ``[0, drift]``. 0: none.
    background : float
        Maximum additive background relative to the projection maximum: ``b`` drawn per
        index in ``[0, background]``, each tilt gets ``b·(1 + 0.1·v)`` × the maximum, ``v``
        uniform in ``[−1, 1]`` per tilt. 0: none.
    exceed_fov : float
        Probability that a sample's object extends past the field of view: its truth is
        drawn at :func:`fov_size` (≈ 1.5×) from the same source, projected onto that wider
        detector (shifts applied there) and only the central ``size`` detector pixels are
        kept (interior tomography); the target is the central ``size × size`` crop.
        0: never.
    """

    size: int = 256
    tilt_steps_deg: tuple[float, ...] = (2.0,)
    asymmetric: bool = False
    noise: float | None = None
    filter_name: str = "ramp"
    oversample: int = 2
    # --- acquisition model (issue #15; the defaults are the original pairs, bit for bit)
    max_shift_deg: float = _MAX_SHIFT
    dose: tuple[float, float] | None = None
    read_noise: float = 0.0
    misalign_px: float = 0.0
    drift: float = 0.0
    background: float = 0.0
    exceed_fov: float = 0.0

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"pair size must be >= 8 pixels, got {self.size}")
        steps = tuple(float(s) for s in np.atleast_1d(self.tilt_steps_deg))
        if not steps or any(not 0.1 <= s <= 10.0 for s in steps):
            raise ValueError(f"tilt steps must be between 0.1° and 10°, got {self.tilt_steps_deg}")
        object.__setattr__(self, "tilt_steps_deg", steps)
        if int(self.oversample) < 1:
            raise ValueError(f"oversample must be >= 1, got {self.oversample}")
        object.__setattr__(self, "oversample", int(self.oversample))
        if self.noise is not None and self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if not 0.0 <= float(self.max_shift_deg) < 90.0:
            raise ValueError(f"max_shift_deg must be in [0°, 90°), got {self.max_shift_deg}")
        object.__setattr__(self, "max_shift_deg", float(self.max_shift_deg))
        if self.dose is not None:
            d = tuple(float(x) for x in np.atleast_1d(self.dose))
            if len(d) != 2 or not 0.0 < d[0] <= d[1] < 1e12:
                raise ValueError(f"dose must be (lo, hi) counts per pixel with 0 < lo <= hi, got {self.dose}")
            object.__setattr__(self, "dose", d)
        for name, top in (("read_noise", 10.0), ("misalign_px", self.size / 4), ("drift", 0.9),
                          ("background", 10.0), ("exceed_fov", 1.0)):
            v = float(getattr(self, name))
            if not 0.0 <= v <= top:
                raise ValueError(f"{name} must be between 0 and {top:g}, got {getattr(self, name)}")
            object.__setattr__(self, name, v)

    @property
    def acquisition(self) -> bool:
        """Whether any of the acquisition effects (dose … exceed_fov) is on."""
        return bool(self.dose is not None or self.read_noise or self.misalign_px or self.drift
                    or self.background or self.exceed_fov)


@dataclass
class PairBatch:
    """A batch of pairs (tensors on the compute device).

    Attributes
    ----------
    inputs, targets : Tensor, shape (B, 1, size, size)
        Normalised WBP input and ground truth (both mapped with the WBP's ``lo``/``hi``).
    truth, wbp : Tensor, shape (B, size, size)
        Ground truth in [0, 1] and the raw WBP in the same units.
    lo, hi : Tensor, shape (B, 1, 1)
        Normalisation parameters (``denormalise(y, lo, hi)`` maps back).
    wedges_deg : ndarray, shape (B,)
    ranges_deg : list of (lo, hi)
        Tilt ranges in degrees.
    sources : list of str
    sinogram : Tensor, shape (n_grid, size, B)
        The (noisy) projections on the angle grid ``grid_deg`` (rows outside a sample's
        tilt range are not used by its WBP).
    grid_deg : ndarray, shape (n_grid,)
    acquisition : list of dict or None
        Per sample, with an acquisition effect on (:attr:`PairOptions.acquisition`): what
        was drawn — ``angles`` (its tilts), ``rows`` (their rows of the grid), ``dose``
        (counts per pixel or ``None``), ``dose_scale`` (counts per projection unit),
        ``read_sigma`` (absolute σ), ``shifts_px``, ``gain`` and ``background`` (per tilt,
        absolute), ``exceed_fov`` (bool).
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    truth: torch.Tensor
    wbp: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    wedges_deg: np.ndarray
    ranges_deg: list
    sources: list
    sinogram: torch.Tensor | None = None
    grid_deg: np.ndarray | None = None
    acquisition: list | None = None


def _quantise(x: float, q: float) -> float:
    return float(np.round(x / q) * q)


def geometry(spec: DatasetSpec, index: int, options: PairOptions, *, holdout: bool = False,
             wedge_deg: float | None = None,
             tilt_range_deg: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    """``(wedge, lo, hi, step)`` in degrees for sample ``index`` (deterministic).

    ``wedge_deg`` overrides the spec's draw (used by evaluation at fixed wedges);
    ``tilt_range_deg = (lo, hi)`` fixes the tilt range itself (asymmetric evaluation ranges,
    inside ±90°), the wedge then being ``180 − (hi − lo)``. The shift of an asymmetric
    range is at most ``min(max_shift_deg, w/2)`` rounded down to the 0.5° grid, so
    ``−90 ≤ lo < hi ≤ 90`` always holds (a 30° wedge can shift by ±15° at most).
    """
    rng = source_rng(_KEY_GEOM, int(index) + (HOLDOUT_OFFSET if holdout else 0))
    if tilt_range_deg is not None:
        lo, hi = (float(a) for a in tilt_range_deg)
        if not -90.0 <= lo < hi <= 90.0:
            raise ValueError(f"tilt range {lo:g}..{hi:g} must satisfy -90 <= lo < hi <= 90 (degrees)")
        step = float(options.tilt_steps_deg[int(rng.integers(len(options.tilt_steps_deg)))])
        return 180.0 - (hi - lo), lo, hi, step
    w = spec.wedge_deg(index, holdout=holdout) if wedge_deg is None else float(wedge_deg)
    w = _quantise(w, _WEDGE_QUANTUM)
    if not 0.0 <= w < 180.0:
        raise ValueError(f"missing wedge must be in [0°, 180°), got {w}")
    step = float(options.tilt_steps_deg[int(rng.integers(len(options.tilt_steps_deg)))])
    half = 90.0 - w / 2.0
    shift = 0.0
    if options.asymmetric:
        m = min(options.max_shift_deg, w / 2.0)
        mq = _shift_bound(m)
        shift = min(max(_quantise(float(rng.uniform(-m, m)), _WEDGE_QUANTUM), -mq), mq)
    return w, -half + shift, half + shift, step


def _shift_bound(m: float) -> float:
    """The largest shift on the 0.5° grid not above ``m`` (keeps an asymmetric range inside ±90°)."""
    return float(np.floor(m / _WEDGE_QUANTUM + 1e-9) * _WEDGE_QUANTUM)


def _angle_grid(geoms: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    return np.unique(np.concatenate([angles_on_grid(lo, hi, st) for _w, lo, hi, st in geoms]))


def _spec_grid(spec: DatasetSpec, options: PairOptions) -> np.ndarray:
    """Every angle any sample of ``spec`` can use (so one projector serves the whole run).

    The union of :func:`~napari_irdm.geometry.angles_on_grid` over every geometry :func:`geometry` can draw (wedges
    on the 0.5° grid of the spec's range, shifts on the same grid, each tilt step), computed
    at once: each multiple of a step that lies strictly inside any of the ranges, and every
    range's ends, rounded as :func:`~napari_irdm.geometry.angles_on_grid` rounds them.
    """
    wlo, whi = spec.wedge_range_deg
    wq = np.arange(_quantise(wlo, _WEDGE_QUANTUM), _quantise(whi, _WEDGE_QUANTUM) + 1e-9, _WEDGE_QUANTUM)
    los, his = [], []
    for w in wq:
        half = 90.0 - w / 2.0
        m = _shift_bound(min(options.max_shift_deg, w / 2.0)) if options.asymmetric else 0.0
        shifts = np.arange(-m, m + 1e-9, _WEDGE_QUANTUM)
        los.append(-half + shifts)
        his.append(half + shifts)
    lo, hi = np.concatenate(los), np.concatenate(his)
    parts: list[np.ndarray] = [lo, hi]
    for st in options.tilt_steps_deg:
        k = np.arange(int(np.floor(lo.min() / st)) + 1, int(np.ceil(hi.max() / st)))
        inner = k * st
        inside = ((inner[:, None] > lo[None, :] + 1e-9) & (inner[:, None] < hi[None, :] - 1e-9)).any(axis=1)
        parts.append(inner[inside])
    return np.unique(np.round(np.concatenate(parts), 6))


class Projectors:
    """The projectors that a run of many batches reuses: an LRU of at most ``maxsize`` geometries.

    A training run or an evaluation holds one for its duration and passes it to
    :func:`make_batch`, so the matrices of its few geometries are built once; they are freed
    with it (this module keeps no cache of its own). Without one, :func:`make_batch` builds
    through the projector module's small cache (:func:`napari_irdm.tomo.clear_projector_cache`).

    Parameters
    ----------
    maxsize : int
        Geometries kept (a run uses two: the grid at the slice size and at the oversampled size).
    """

    def __init__(self, maxsize: int = 4):
        if int(maxsize) < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = int(maxsize)
        self._d: dict[tuple, ParallelProjector] = {}

    def __len__(self) -> int:
        return len(self._d)

    def get(self, grid: np.ndarray, size: int, device: torch.device) -> ParallelProjector:
        """The projector of ``size × size`` slices at the angles ``grid`` on ``device``."""
        key = (grid.tobytes(), int(size), str(device))
        proj = self._d.pop(key, None) or _projector(grid, size, device)
        self._d[key] = proj  # most recent last
        while len(self._d) > self.maxsize:
            self._d.pop(next(iter(self._d)))
        return proj

    def clear(self) -> None:
        """Forget every projector (their matrices are freed unless used elsewhere)."""
        self._d.clear()


def _projector(grid: np.ndarray, size: int, device: torch.device,
               projectors: Projectors | None = None) -> ParallelProjector:
    """The projector of ``size × size`` slices at ``grid``: from ``projectors`` when given."""
    if projectors is not None:
        return projectors.get(grid, size, device)
    return ParallelProjector(grid, (size, 1, size), n_det=size, device=device)


def make_batch(
    spec: DatasetSpec | str,
    indices: Sequence[int],
    options: PairOptions | None = None,
    *,
    holdout: bool = False,
    source: str | None = None,
    wedge_deg: float | None = None,
    tilt_range_deg: tuple[float, float] | None = None,
    images: np.ndarray | None = None,
    device: Any = None,
    projectors: Projectors | None = None,
) -> PairBatch:
    """Make the pairs of ``indices`` in one batched projection + WBP.

    Parameters
    ----------
    spec : DatasetSpec or str
        Dataset (name or spec).
    indices : sequence of int
        Sample indices (training: ``0 ≤ i < len(spec)``; held-back: any ``i ≥ 0``).
    options : PairOptions, optional
        Size, tilt step(s), asymmetry, noise, filter, acquisition effects.
    holdout : bool
        Make held-back samples (source indices ≥ :data:`HOLDOUT_OFFSET`, never trained on).
    source : str, optional
        With ``holdout``: take every sample from this source.
    wedge_deg : float, optional
        Force this missing wedge (degrees) instead of the spec's draw.
    tilt_range_deg : (float, float), optional
        Force this tilt range ``(lo, hi)`` (degrees, inside ±90°; e.g. an asymmetric one).
    images : ndarray, optional
        Ground truths already drawn by :func:`draw_images` with the same ``options`` (e.g. by a
        data-loader worker): ``(B, size, size)``, or ``(B, fov_size(size), fov_size(size))``
        with ``options.exceed_fov > 0``; skips drawing.
    device : str or torch.device, optional
        Where projection, WBP and normalisation run.
    projectors : Projectors, optional
        Reuse the projectors kept there (a run of many batches); default: build them through
        the projector module's cache.

    Returns
    -------
    PairBatch
    """
    from napari_irdm.dl import normalise_pair

    spec = get_spec(spec)
    options = options or PairOptions()
    dev = resolve_device(device)
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("make_batch needs at least one index")
    n = options.size
    if wedge_deg is not None and tilt_range_deg is not None:
        raise ValueError("give either wedge_deg or tilt_range_deg, not both")
    if images is None:
        images = draw_images(spec, idx, options.size, holdout=holdout, source=source, options=options)
    imgs = torch.as_tensor(np.asarray(images, dtype=np.float32)).to(dev)
    exceed = [exceeds_fov(i, options, holdout=holdout) for i in idx]
    m_img = fov_size(n) if options.exceed_fov > 0 else n
    if imgs.shape != (len(idx), m_img, m_img) and not (imgs.shape == (len(idx), n, n) and not any(exceed)):
        raise ValueError(f"images must have shape {(len(idx), m_img, m_img)} (draw them with "
                         f"draw_images(..., options=options)), got {tuple(imgs.shape)}")
    if imgs.shape[-1] != n:  # the truths: the central size × size (the whole image when it does not exceed)
        c = (imgs.shape[-1] - n) // 2
        big, imgs = imgs, imgs[:, c:c + n, c:c + n].contiguous()
    else:
        big = None
    geoms = [geometry(spec, i, options, holdout=holdout, wedge_deg=wedge_deg, tilt_range_deg=tilt_range_deg)
             for i in idx]
    grid = _spec_grid(spec, options) if wedge_deg is None and tilt_range_deg is None else _angle_grid(geoms)
    proj = _projector(grid, n, dev, projectors)
    b = len(idx)
    # per-sample angular weights on the grid (0 outside the sample's tilt range)
    wmat = np.zeros((grid.size, b), np.float32)
    rows = []
    for k, (_w, lo, hi, st) in enumerate(geoms):
        ang = angles_on_grid(lo, hi, st)
        pos = np.searchsorted(grid, ang)
        wmat[pos, k] = angular_weights(ang)
        rows.append((ang, pos))
    wt = torch.as_tensor(wmat, device=dev)
    acq = None
    if not options.acquisition:
        sino = project_batch(imgs, grid, options.oversample, dev, projectors=projectors)  # (angle, u, B)
    else:
        off = HOLDOUT_OFFSET if holdout else 0
        acq = [_draw_acquisition(i + off, ang, pos, options, ex) for i, (ang, pos), ex in zip(idx, rows, exceed)]
        sino = _acquire(imgs, big, exceed, grid, acq, options, dev, projectors)
    if options.noise:
        sig = np.array([source_rng(_KEY_GEOM + 1, i + (HOLDOUT_OFFSET if holdout else 0)).uniform(0.0, options.noise)
                        for i in idx], np.float32)
        noise = torch.stack([
            torch.randn((grid.size, n), generator=torch.Generator().manual_seed(
                int(i) + (HOLDOUT_OFFSET if holdout else 0) + 7_000_000_000))
            for i in idx
        ], dim=-1).to(dev)
        peak = sino.abs().amax(dim=(0, 1), keepdim=True).clamp_min(1e-6)
        sino = sino + noise * peak * torch.as_tensor(sig, device=dev)
    q = filter_projections(sino, options.filter_name, dim=1) * wt[:, None, :]
    rec = proj.adjoint_cols(q.reshape(grid.size * n, b)).T.reshape(b, n, n)
    x_n, y_n, lo_t, hi_t = normalise_pair(rec, imgs)
    return PairBatch(
        inputs=x_n[:, None].contiguous(),
        targets=y_n[:, None].contiguous(),
        truth=imgs,
        wbp=rec,
        lo=lo_t,
        hi=hi_t,
        wedges_deg=np.array([g[0] for g in geoms]),
        ranges_deg=[(g[1], g[2]) for g in geoms],
        sources=[(spec.locate_holdout(i, source) if holdout else spec.locate(i))[0] for i in idx],
        sinogram=sino,
        grid_deg=grid,
        acquisition=acq,
    )


# --- acquisition model (PairOptions.dose … exceed_fov) --------------------------------------

#: random streams of the acquisition draws (independent of each other and of the geometry's)
_KEY_FOV, _KEY_DOSE, _KEY_POISSON, _KEY_READ, _KEY_SHIFT, _KEY_DRIFT, _KEY_BG = range(0x6F0, 0x6F7)
#: side of an object that exceeds the field of view, relative to the slice
_FOV_FACTOR = 1.5
#: per-tilt variation of the background, relative to its level
_BG_JITTER = 0.1


def fov_size(size: int) -> int:
    """Side of the truth of a sample that exceeds the field of view (≈ 1.5 × ``size``, same parity)."""
    return int(size) + 2 * int(round(int(size) * (_FOV_FACTOR - 1.0) / 2.0))


def exceeds_fov(index: int, options: PairOptions, *, holdout: bool = False) -> bool:
    """Whether sample ``index``'s object extends past the field of view (drawn with ``options.exceed_fov``)."""
    if not options.exceed_fov:
        return False
    u = source_rng(_KEY_FOV, int(index) + (HOLDOUT_OFFSET if holdout else 0)).random()
    return bool(u < options.exceed_fov)


def drift_profile(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth gain profile ``g(t)`` over the tilt order ``t ∈ [0, 1]``, ``max |g| = 1`` on ``[0, 1]``.

    A linear ramp of random sign plus two low-order random cosines (drawn from ``rng``).
    """
    sign, c = (1.0 if rng.random() < 0.5 else -1.0), rng.standard_normal(2) * 0.5
    f = lambda x: sign * (2 * x - 1) + c[0] * np.cos(np.pi * x) + c[1] * np.cos(2 * np.pi * x)  # noqa: E731
    scale = float(np.abs(f(np.linspace(0.0, 1.0, 1001))).max())
    return f(np.asarray(t, np.float64)) / max(scale, 1e-12)


def _draw_acquisition(key_index: int, ang: np.ndarray, pos: np.ndarray, o: PairOptions, exceed: bool) -> dict:
    """What sample ``key_index`` (holdout offset included) draws; levels relative, made absolute by :func:`_acquire`."""
    k = ang.size
    t = np.linspace(0.0, 1.0, k) if k > 1 else np.zeros(1)  # tilt order: lo -> hi
    d: dict[str, Any] = {"angles": ang, "rows": pos, "exceed_fov": bool(exceed), "dose": None,
                         "shifts_px": np.zeros(k), "gain": np.ones(k), "bg_rel": np.zeros(k), "read_rel": 0.0}
    if o.dose is not None:
        lo, hi = o.dose
        d["dose"] = float(np.exp(source_rng(_KEY_DOSE, key_index).uniform(np.log(lo), np.log(hi)))) if hi > lo \
            else float(lo)
    if o.read_noise:
        d["read_rel"] = float(source_rng(_KEY_READ, key_index).uniform(0.0, o.read_noise))
    if o.misalign_px:
        r = source_rng(_KEY_SHIFT, key_index)
        rms, z = r.uniform(0.0, o.misalign_px), r.standard_normal(k)
        d["shifts_px"] = z * (rms / max(float(np.sqrt(np.mean(z**2))), 1e-12))
    if o.drift:
        r = source_rng(_KEY_DRIFT, key_index)
        d["gain"] = 1.0 + r.uniform(0.0, o.drift) * drift_profile(t, r)
    if o.background:
        r = source_rng(_KEY_BG, key_index)
        d["bg_rel"] = r.uniform(0.0, o.background) * (1.0 + _BG_JITTER * r.uniform(-1.0, 1.0, k))
    d["key_index"] = int(key_index)
    return d


def _shift_rows(rows: torch.Tensor, shifts: np.ndarray) -> torch.Tensor:
    """Move each row ``(k, m)`` by its shift (pixels, + towards larger x).

    Fourier shift (``torch-fourier-shift``) of the row padded by replication, so the far
    edge does not wrap around into the field.
    """
    from torch_fourier_shift import fourier_shift_image_1d

    m = rows.shape[-1]
    pad = max(8, m // 2)
    ext = torch.nn.functional.pad(rows[:, None, :], (pad, pad), mode="replicate")[:, 0]
    sh = torch.as_tensor(shifts, dtype=rows.dtype, device=rows.device)
    return fourier_shift_image_1d(ext, sh)[:, pad:pad + m]


def _acquire(imgs: torch.Tensor, big: torch.Tensor | None, exceed: list, grid: np.ndarray, acq: list,
             o: PairOptions, dev: torch.device, projectors: Projectors | None) -> torch.Tensor:
    """The measured projections ``(n_grid, size, B)``.

    The object's projections (through the wider detector of :func:`fov_size` for samples that
    exceed the field of view, one projector per size), moved by the per-tilt shifts, times the
    drift gain, plus background, counted (Poisson at the dose), plus read noise. Rows outside
    a sample's tilt range stay the object's clean projections.
    """
    n, b = o.size, imgs.shape[0]
    sino = torch.empty((grid.size, n, b), dtype=torch.float32, device=dev)
    groups = [(False, [k for k in range(b) if not exceed[k]]), (True, [k for k in range(b) if exceed[k]])]
    for ex, ks in groups:
        if not ks:
            continue
        src = imgs[ks] if not ex else big[ks]  # type: ignore[index]  # big is drawn whenever a sample exceeds
        part = project_batch(src, grid, o.oversample, dev, projectors=projectors)  # (angle, m, len(ks))
        c = (part.shape[1] - n) // 2
        for j, k in enumerate(ks):
            col = part[:, :, j]
            a = acq[k]
            if o.misalign_px:
                col = col.clone()
                col[a["rows"]] = _shift_rows(col[a["rows"]], a["shifts_px"])
            sino[:, :, k] = col[:, c:c + n]
    for k, a in enumerate(acq):
        pos = torch.as_tensor(a["rows"], device=dev)
        p = sino[pos, :, k]  # (k_tilts, n): the object's projections in the sample's range
        mean, peak = float(p.mean()), float(p.abs().max())
        a["background"] = a.pop("bg_rel") * peak
        a["read_sigma"] = a.pop("read_rel") * mean
        a["dose_scale"] = None if a["dose"] is None else a["dose"] / max(mean, 1e-12)
        if not (o.drift or o.background or o.dose is not None or o.read_noise):
            continue
        gain = torch.as_tensor(a["gain"], dtype=torch.float32, device=dev)[:, None]
        bg = torch.as_tensor(a["background"], dtype=torch.float32, device=dev)[:, None]
        p = p * gain + bg
        if a["dose_scale"] is not None:
            lam = (p.clamp_min(0.0) * a["dose_scale"]).double().cpu().numpy()
            counts = source_rng(_KEY_POISSON, a["key_index"]).poisson(lam)
            p = torch.as_tensor(counts / a["dose_scale"], dtype=torch.float32, device=dev)
        if a["read_sigma"]:
            z = source_rng(_KEY_READ + 0x100, a["key_index"]).standard_normal(tuple(p.shape))
            p = p + torch.as_tensor(z * a["read_sigma"], dtype=torch.float32, device=dev)
        sino[pos, :, k] = p
    return sino


def project_batch(imgs: torch.Tensor, grid: np.ndarray, oversample: int = 1, device: Any = None, *,
                  projectors: Projectors | None = None) -> torch.Tensor:
    """Project slices ``(B, n, n)`` at the angles ``grid``: returns ``(n_angles, n, B)``.

    With ``oversample = s > 1`` every pixel is split into ``s × s`` equal sub-pixels, the
    fine image is projected onto a detector ``s`` times finer and each ``s`` fine bins are
    averaged (bin centres coincide with the coarse ones), which approximates the line
    integrals of the pixel-constant image better than the reconstruction's own matrix.
    """
    dev = resolve_device(device) if device is not None else imgs.device
    b, n, _ = imgs.shape
    s = int(oversample)
    fine = imgs if s == 1 else imgs.repeat_interleave(s, dim=1).repeat_interleave(s, dim=2)
    m = n * s
    proj = _projector(grid, m, dev, projectors)
    cols = fine.reshape(b, m * m).T.contiguous()  # (nz·nx, B), pixel p = z·nx + x
    sino = proj.forward_cols(cols).reshape(grid.size, m, b)
    if s > 1:
        sino = sino.reshape(grid.size, n, s, b).mean(dim=2) / s
    return sino


def draw_images(spec: DatasetSpec, indices: Sequence[int], size: int, *, holdout: bool = False,
                source: str | None = None, options: PairOptions | None = None) -> np.ndarray:
    """Ground truths of ``indices``: ``(B, size, size)`` float32 in [0, 1] (CPU, NumPy).

    With ``options.exceed_fov > 0`` the stack is ``(B, M, M)``, ``M = fov_size(size)``: the
    samples whose object exceeds the field of view (:func:`exceeds_fov`) drawn at ``M``, the
    others at ``size`` in the centre of zeros (:func:`make_batch` keeps the central ``size``).
    """
    if options is None or not options.exceed_fov:
        return np.stack([spec.image(int(i), size, holdout=holdout, source=source) for i in indices])
    m = fov_size(size)
    c = (m - size) // 2
    out = np.zeros((len(indices), m, m), np.float32)
    for k, i in enumerate(indices):
        if exceeds_fov(int(i), options, holdout=holdout):
            out[k] = spec.image(int(i), m, holdout=holdout, source=source)
        else:
            out[k, c:c + size, c:c + size] = spec.image(int(i), size, holdout=holdout, source=source)
    return out


def make_pair(
    spec: DatasetSpec | str,
    index: int,
    options: PairOptions | None = None,
    *,
    size: int | None = None,
    tilt_step_deg: float | None = None,
    asymmetric: bool | None = None,
    noise: float | None = None,
    oversample: int | None = None,
    holdout: bool = False,
    wedge_deg: float | None = None,
    tilt_range_deg: tuple[float, float] | None = None,
    device: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One pair ``(wbp_input, ground_truth)``, both ``(size, size)`` float32, normalised by the input.

    ``options`` (default :class:`PairOptions`) with the keywords given replacing its fields
    (``tilt_step_deg`` sets ``tilt_steps_deg = (tilt_step_deg,)``); see :func:`make_batch`
    for the rest. The pair is a pure function of ``(spec, index, options)`` and equals the
    same index's pair in any batch :func:`make_batch` makes with these options.
    """
    from dataclasses import replace

    given: dict[str, Any] = {"size": size, "asymmetric": asymmetric, "noise": noise, "oversample": oversample,
             "tilt_steps_deg": None if tilt_step_deg is None else (tilt_step_deg,)}
    opts = replace(options or PairOptions(), **{k: v for k, v in given.items() if v is not None})
    b = make_batch(spec, [index], opts, holdout=holdout, wedge_deg=wedge_deg, tilt_range_deg=tilt_range_deg,
                   device=device)
    return b.inputs[0, 0].cpu().numpy(), b.targets[0, 0].cpu().numpy()
