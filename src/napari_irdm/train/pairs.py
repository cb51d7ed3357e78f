"""Training pairs (WBP input with missing-wedge artefacts, ground truth), deterministic per index.

Pipeline for one sample (DESIGN rule 13: made with the project's own projector):

1. ground truth ``f(z, x)`` from the dataset's source (rows ``z`` = beam direction at 0°);
2. missing wedge ``w`` drawn for the index from the spec's range, quantised to 0.5°;
   tilt range ``[lo, hi]`` with ``hi − lo = 180° − w`` (symmetric ``±(90° − w/2)``, or
   shifted by up to ±10° when ``asymmetric``); angles are the multiples of the tilt step
   inside the range plus the two end angles;
3. projections with :class:`napari_irdm.tomo.ParallelProjector`;
   (on a 2× finer grid by default, see ``PairOptions.oversample``);
4. optional Gaussian noise (σ drawn per index in ``[0, noise]`` × the projection maximum);
5. weighted back-projection (ramp filter, angular weights as :func:`napari_irdm.tomo.wbp`);
6. the pair is normalised with the WBP's robust range (:func:`napari_irdm.dl.normalise_pair`),
   exactly as inference normalises a WBP slice.

Fast batches (:func:`make_batch`): all geometries a spec can produce are sub-sets of one
fixed grid of angles, so a batch is one forward projection over the grid, a per-sample
mask of angular weights (zero for angles outside the sample's range), one filter and one
back-projection — a single cached projector serves the whole training run, on CPU or GPU.
"""

from __future__ import annotations

from collections import OrderedDict
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

__all__ = ["PairBatch", "PairOptions", "draw_images", "geometry", "make_batch", "make_pair", "project_batch"]

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
    """

    size: int = 256
    tilt_steps_deg: tuple[float, ...] = (2.0,)
    asymmetric: bool = False
    noise: float | None = None
    filter_name: str = "ramp"
    oversample: int = 2

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


def _quantise(x: float, q: float) -> float:
    return float(np.round(x / q) * q)


def geometry(spec: DatasetSpec, index: int, options: PairOptions, *, holdout: bool = False,
             wedge_deg: float | None = None) -> tuple[float, float, float, float]:
    """``(wedge, lo, hi, step)`` in degrees for sample ``index`` (deterministic).

    ``wedge_deg`` overrides the spec's draw (used by evaluation at fixed wedges).
    """
    rng = source_rng(_KEY_GEOM, int(index) + (HOLDOUT_OFFSET if holdout else 0))
    w = spec.wedge_deg(index, holdout=holdout) if wedge_deg is None else float(wedge_deg)
    w = _quantise(w, _WEDGE_QUANTUM)
    if not 0.0 <= w < 180.0:
        raise ValueError(f"missing wedge must be in [0°, 180°), got {w}")
    step = float(options.tilt_steps_deg[int(rng.integers(len(options.tilt_steps_deg)))])
    half = 90.0 - w / 2.0
    shift = 0.0
    if options.asymmetric:
        m = min(_MAX_SHIFT, w / 2.0)
        shift = _quantise(float(rng.uniform(-m, m)), _WEDGE_QUANTUM)
    return w, -half + shift, half + shift, step


def _angle_grid(geoms: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    return np.unique(np.concatenate([angles_on_grid(lo, hi, st) for _w, lo, hi, st in geoms]))


def _spec_grid(spec: DatasetSpec, options: PairOptions) -> np.ndarray:
    """Every angle any sample of ``spec`` can use (so one projector serves the whole run)."""
    wlo, whi = spec.wedge_range_deg
    wq = np.arange(_quantise(wlo, _WEDGE_QUANTUM), _quantise(whi, _WEDGE_QUANTUM) + 1e-9, _WEDGE_QUANTUM)
    geoms = []
    for w in wq:
        half = 90.0 - w / 2.0
        m = min(_MAX_SHIFT, w / 2.0) if options.asymmetric else 0.0
        for shift in np.arange(-_quantise(m, _WEDGE_QUANTUM), _quantise(m, _WEDGE_QUANTUM) + 1e-9, _WEDGE_QUANTUM):
            for st in options.tilt_steps_deg:
                geoms.append((w, -half + shift, half + shift, st))
    return _angle_grid(geoms)


class _ProjectorCache:
    """Small LRU of projectors keyed by (angle grid, size, device)."""

    def __init__(self, maxsize: int = 4):
        self.maxsize = maxsize
        self._d: OrderedDict = OrderedDict()

    def get(self, grid: np.ndarray, size: int, device: torch.device) -> ParallelProjector:
        key = (grid.tobytes(), size, str(device))
        if key in self._d:
            self._d.move_to_end(key)
            return self._d[key]
        proj = ParallelProjector(grid, (size, 1, size), n_det=size, device=device)
        self._d[key] = proj
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)
        return proj


_CACHE = _ProjectorCache()
_GRID_CACHE: dict = {}


def make_batch(
    spec: DatasetSpec | str,
    indices: Sequence[int],
    options: PairOptions | None = None,
    *,
    holdout: bool = False,
    source: str | None = None,
    wedge_deg: float | None = None,
    images: np.ndarray | None = None,
    device: Any = None,
) -> PairBatch:
    """Make the pairs of ``indices`` in one batched projection + WBP.

    Parameters
    ----------
    spec : DatasetSpec or str
        Dataset (name or spec).
    indices : sequence of int
        Sample indices (training: ``0 ≤ i < len(spec)``; held-back: any ``i ≥ 0``).
    options : PairOptions, optional
        Size, tilt step(s), asymmetry, noise, filter.
    holdout : bool
        Make held-back samples (source indices ≥ :data:`HOLDOUT_OFFSET`, never trained on).
    source : str, optional
        With ``holdout``: take every sample from this source.
    wedge_deg : float, optional
        Force this missing wedge (degrees) instead of the spec's draw.
    images : ndarray, shape (B, size, size), optional
        Ground truths already drawn (e.g. by a data-loader worker); skips drawing.
    device : str or torch.device, optional
        Where projection, WBP and normalisation run.

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
    if images is None:
        images = draw_images(spec, idx, options.size, holdout=holdout, source=source)
    imgs = torch.as_tensor(np.asarray(images, dtype=np.float32)).to(dev)
    if imgs.shape != (len(idx), n, n):
        raise ValueError(f"images must have shape {(len(idx), n, n)}, got {tuple(imgs.shape)}")
    geoms = [geometry(spec, i, options, holdout=holdout, wedge_deg=wedge_deg) for i in idx]
    if wedge_deg is None:
        gkey = (spec.wedge_range_deg, options.tilt_steps_deg, options.asymmetric)
        if gkey not in _GRID_CACHE:
            _GRID_CACHE[gkey] = _spec_grid(spec, options)
        grid = _GRID_CACHE[gkey]
    else:
        grid = _angle_grid(geoms)
    proj = _CACHE.get(grid, n, dev)
    b = len(idx)
    # per-sample angular weights on the grid (0 outside the sample's tilt range)
    wmat = np.zeros((grid.size, b), np.float32)
    for k, (_w, lo, hi, st) in enumerate(geoms):
        ang = angles_on_grid(lo, hi, st)
        pos = np.searchsorted(grid, ang)
        wmat[pos, k] = angular_weights(ang)
    wt = torch.as_tensor(wmat, device=dev)
    sino = project_batch(imgs, grid, options.oversample, dev)  # (angle, u, B)
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
    )


def project_batch(imgs: torch.Tensor, grid: np.ndarray, oversample: int = 1, device: Any = None) -> torch.Tensor:
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
    proj = _CACHE.get(grid, m, dev)
    cols = fine.reshape(b, m * m).T.contiguous()  # (nz·nx, B), pixel p = z·nx + x
    sino = proj.forward_cols(cols).reshape(grid.size, m, b)
    if s > 1:
        sino = sino.reshape(grid.size, n, s, b).mean(dim=2) / s
    return sino


def draw_images(spec: DatasetSpec, indices: Sequence[int], size: int, *, holdout: bool = False,
                source: str | None = None) -> np.ndarray:
    """Ground truths of ``indices``: ``(B, size, size)`` float32 in [0, 1] (CPU, NumPy)."""
    return np.stack([spec.image(int(i), size, holdout=holdout, source=source) for i in indices])


def make_pair(
    spec: DatasetSpec | str,
    index: int,
    *,
    size: int = 256,
    tilt_step_deg: float = 2.0,
    asymmetric: bool = False,
    noise: float | None = None,
    oversample: int = 2,
    holdout: bool = False,
    wedge_deg: float | None = None,
    device: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One pair ``(wbp_input, ground_truth)``, both ``(size, size)`` float32, normalised by the input.

    See :func:`make_batch` for the parameters. The pair is a pure function of
    ``(spec, index, options)``.
    """
    opts = PairOptions(size=size, tilt_steps_deg=(tilt_step_deg,), asymmetric=asymmetric, noise=noise,
                       oversample=oversample)
    b = make_batch(spec, [index], opts, holdout=holdout, wedge_deg=wedge_deg, device=device)
    return b.inputs[0, 0].cpu().numpy(), b.targets[0, 0].cpu().numpy()
