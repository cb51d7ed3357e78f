"""Non-negative TV by Chambolle–Pock, and an automatic TV weight from held-out tilts.

The objective is the one of :func:`napari_irdm.tomo.tv` (so one weight means the same
in both solvers): for every slice ``x`` perpendicular to the tilt axis

``min_{x ≥ 0}  1/(2 N) ‖A x − b/s‖² + w Σ |∇x|₂``,   result ``s · x``,

with ``N = n_tilts · n_det`` and ``s = max |b|``. It is solved with the first-order
primal–dual algorithm of Chambolle & Pock (2011) on ``K = [c A; ∇]`` (``c`` scales the
projector to the gradient's norm, ``‖A‖`` by power iteration), all slices of a chunk
at once, each column with its own weight (which is what makes a weight sweep cheap).

The automatic weight (:func:`choose_tv_weight`) is chosen without any ground truth:
tilts are held out, a few slices are reconstructed from the rest with a range of
weights, and the weight whose reconstruction best predicts the held-out projections
wins (cross-validation). The held-out set holds the outermost tilts of each side as
well as interleaved ones, so the score rewards both noise suppression and the
extrapolation into a wider missing wedge that TV is used for.

References
----------
A. Chambolle and T. Pock, "A first-order primal-dual algorithm for convex problems
with applications to imaging", J. Math. Imaging Vis. 40, 120–145 (2011).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch

from napari_irdm.data import note_choice
from napari_irdm.tomo._common import Setup, as_series, check_positive
from napari_irdm.tomo.projector import ParallelProjector

__all__ = ["PRIOR_MIN_GAIN", "PRIOR_WEIGHT_GRID", "TV_WEIGHT_GRID", "choose_prior_weights", "choose_tv_weight", "cp_tv_cols", "holdout_split", "tv_objective"]

#: weights tried by the automatic choice (half-decades), refined around the best
TV_WEIGHT_GRID = tuple(float(w) for w in 10.0 ** np.arange(-6.5, -1.9, 0.5))


def _grad(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of slices ``(nz, nx, B)`` → ``(2, nz, nx, B)`` (zero at the far edge)."""
    g = torch.zeros((2, *x.shape), dtype=x.dtype, device=x.device)
    torch.sub(x[1:], x[:-1], out=g[0, :-1])
    torch.sub(x[:, 1:], x[:, :-1], out=g[1, :, :-1])
    return g


def _grad_adjoint(g: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_grad` (minus the divergence)."""
    out = torch.zeros(g.shape[1:], dtype=g.dtype, device=g.device)
    out[:-1] -= g[0, :-1]
    out[1:] += g[0, :-1]
    out[:, :-1] -= g[1, :, :-1]
    out[:, 1:] += g[1, :, :-1]
    return out


def operator_norm_sq(proj: ParallelProjector, device, iterations: int = 30) -> float:
    """``‖A‖²`` (largest eigenvalue of ``AᵀA``) by power iteration from a fixed start, +1 % margin."""
    g = torch.Generator(device="cpu").manual_seed(0)
    v = torch.rand((proj.nz * proj.nx, 1), generator=g).to(device)
    lam = 1.0
    for _ in range(iterations):
        v = proj.adjoint_cols(proj.forward_cols(v))
        lam = float(torch.linalg.vector_norm(v))
        if lam == 0.0:
            return 1.0
        v /= lam
    return lam * 1.01


def tv_objective(proj: ParallelProjector, x: torch.Tensor, b: torch.Tensor, weight, norm: float) -> torch.Tensor:
    """Per-column objective ``1/(2N)‖Ax − b‖² + w TV(x)`` of slice columns ``x`` ``(nz·nx, B)``."""
    nb = x.shape[1]
    r = proj.forward_cols(x).sub_(b)
    g = _grad(x.reshape(proj.nz, proj.nx, nb))
    tvx = torch.sqrt(g[0] ** 2 + g[1] ** 2).sum(dim=(0, 1))
    w = torch.as_tensor(weight, dtype=x.dtype, device=x.device)
    return 0.5 * (r**2).sum(dim=0) / norm + w * tvx


def cp_tv_cols(proj: ParallelProjector, b: torch.Tensor, weight, *, iterations: int, norm: float,
               op_norm_sq: float, x0: torch.Tensor | None = None, nonnegative: bool = True,
               step_ratio: float = 30.0, prior: torch.Tensor | None = None,
               prior_weight=0.0) -> Generator[int, None, torch.Tensor]:
    """Chambolle–Pock iterations on slice columns; yields the iteration number, ``return``s ``x``.

    Parameters
    ----------
    proj : ParallelProjector
        The geometry (``A``).
    b : tensor, shape (n_tilts·n_det, B)
        Scaled projections, slice-last.
    weight : float or tensor, shape (B,)
        TV weight ``w`` per column.
    iterations : int
        Primal–dual iterations.
    norm : float
        ``N`` of the data term.
    op_norm_sq : float
        ``‖A‖²`` (see :func:`operator_norm_sq`).
    x0 : tensor, shape (nz·nx, B), optional
        Start (default 0).
    nonnegative : bool
        Constrain ``x ≥ 0`` (the prox of the primal term is then the clip).
    step_ratio : float
        ``τ / σ`` (with ``τσ‖K‖² < 1``). Measured on 64²–256² phantoms: 1–3 converge
        several times slower than 10–50; 30 was best or near-best at 256² and a good
        compromise at 64² and 128².
    prior : tensor, shape (nz·nx, B), optional
        A prior image ``z`` (same units as ``x``): adds ``(μ/2)‖x − z‖²`` to the objective,
        ``μ`` = ``prior_weight`` (per column, like ``weight``). Its proximal step is exact:
        ``x = (v + τμz) / (1 + τμ)``, then the clip. Used to keep a network's restoration
        where the projections say nothing (:mod:`napari_irdm.dl.iterative`).
    prior_weight : float or tensor, shape (B,)
        ``μ`` (0: no prior).
    """
    nz, nx, nb = proj.nz, proj.nx, b.shape[1]
    c = float(np.sqrt(8.0 / op_norm_sq))  # ‖cA‖² = 8 = ‖∇‖² bound: balanced blocks, ‖K‖² ≤ 16
    nc = norm * c * c
    bc = b * c
    tau, sigma = 0.99 * step_ratio / 4.0, 0.99 / (4.0 * step_ratio)
    w = torch.as_tensor(weight, dtype=b.dtype, device=b.device).reshape(-1)
    w = w.expand(nb) if w.numel() == 1 else w
    x = torch.zeros((nz * nx, nb), dtype=b.dtype, device=b.device) if x0 is None else x0.clone()
    if nonnegative:
        x.clamp_(min=0.0)
    xbar = x.clone()
    mu = None
    if prior is not None:
        mu = torch.as_tensor(prior_weight, dtype=b.dtype, device=b.device).reshape(-1)
        mu = (mu.expand(nb) if mu.numel() == 1 else mu) * tau
        tz = prior * mu  # τμz
        den = 1.0 + mu
    p = torch.zeros_like(b)
    q = torch.zeros((2, nz, nx, nb), dtype=b.dtype, device=b.device)
    for it in range(int(iterations)):
        # dual ascent: data term (prox of σF*, F = 1/(2Nc²)‖· − cb‖²) and TV (projection on |q| ≤ w)
        p.add_(proj.forward_cols(xbar), alpha=sigma * c).sub_(bc, alpha=sigma).div_(1.0 + sigma * nc)
        q.add_(_grad(xbar.view(nz, nx, nb)), alpha=sigma)
        mag = torch.sqrt(q[0] ** 2 + q[1] ** 2).div_(w.clamp(min=1e-30)).clamp_(min=1.0)
        q.div_(mag)
        if bool((w <= 0).any()):
            q[..., w <= 0] = 0.0
        # primal descent and extrapolation
        x_new = x - tau * (c * proj.adjoint_cols(p) + _grad_adjoint(q).reshape(nz * nx, nb))
        if mu is not None:
            x_new.add_(tz).div_(den)
        if nonnegative:
            x_new.clamp_(min=0.0)
        torch.sub(2.0 * x_new, x, out=xbar)
        x = x_new
        yield it + 1
    return x


def holdout_split(angles_deg, *, every: int = 4, edge_fraction: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, held_out)`` of the tilts used to choose the TV weight.

    Held out: the outermost ``edge_fraction`` of the tilts on each side of the range
    (at least one each; none with ``edge_fraction=0``) and every ``every``-th tilt in
    between, so the choice is scored on both interpolation (noise) and extrapolation
    into a wider wedge (what TV fills in).
    """
    a = np.asarray(angles_deg, np.float64)
    n = a.size
    if n < 6:
        raise ValueError(f"an automatic TV weight needs at least 6 tilts to hold some out, got {n}: "
                         "give an explicit tv_weight")
    order = np.argsort(a, kind="stable")
    k = max(1, int(round(edge_fraction * n))) if edge_fraction > 0 else 0
    inner = order[k : n - k] if k else order[1:-1]
    held = set(inner[every // 2 :: every].tolist())
    if k:
        held |= set(order[:k].tolist()) | set(order[n - k :].tolist())
    held_idx = np.array(sorted(held), dtype=np.int64)
    fit_idx = np.setdiff1d(np.arange(n), held_idx)
    return fit_idx, held_idx


def _pick_slices(tilt_series, n_slices: int) -> list[int]:
    """Up to ``n_slices`` slices, one per band of ``y``, each the band's most energetic."""
    ny = int(tilt_series.shape[1])
    if isinstance(tilt_series, torch.Tensor):
        energy = (tilt_series.detach().float() ** 2).sum(dim=(0, 2)).cpu().numpy()
    else:
        energy = np.zeros(ny)
        for i in range(0, int(tilt_series.shape[0]), 16):
            energy += (np.asarray(tilt_series[i : i + 16], np.float64) ** 2).sum(axis=(0, 2))
    bands = np.array_split(np.arange(ny), min(ny, max(1, int(n_slices))))
    return sorted({int(band[np.argmax(energy[band])]) for band in bands if band.size})


class _HeldOut:
    """The cross-validation problem of a few slices: fitted and held-out tilts, their projectors and data.

    ``series`` is the picked slices' projections ``(n_tilts, k, nx)`` in the series' units,
    ``scale`` its largest magnitude; ``b_fit`` / ``b_held`` are the scaled fitted / held-out
    projections as slice columns ``(n·nx, k)``.
    """

    def __init__(self, tilt_series, tilt_angles_deg, *, thickness, device, n_slices: int):
        setup = Setup(tilt_series, tilt_angles_deg, thickness=thickness, device=device)
        self.angles = setup.angles
        self.fit, self.held = holdout_split(self.angles)
        ys = _pick_slices(tilt_series, n_slices)
        self.nz, self.nx, self.k, self.device = setup.nz, setup.nx, len(ys), setup.device
        sub: torch.Tensor | np.ndarray
        if isinstance(tilt_series, torch.Tensor):
            sub = tilt_series[:, ys, :]
        else:
            sub = np.stack([np.asarray(tilt_series[:, y, :], np.float32) for y in ys], axis=1)
        self.series = as_series(sub, self.device)  # (n_tilts, k, nx)
        self.scale = float(self.series.abs().max()) or 1.0
        shape = (self.nz, self.k, self.nx)
        self.p_fit = ParallelProjector(self.angles[self.fit], shape, device=self.device)
        self.p_held = ParallelProjector(self.angles[self.held], shape, device=self.device)
        s = self.series / self.scale
        self.b_fit = self._cols(s[torch.as_tensor(self.fit, device=self.device)])
        self.b_held = self._cols(s[torch.as_tensor(self.held, device=self.device)])
        self.norm = float(len(self.fit) * self.nx)  # N of the fitted data term

    def _cols(self, t: torch.Tensor) -> torch.Tensor:
        return t.transpose(1, 2).reshape(t.shape[0] * self.nx, t.shape[1]).contiguous()

    def held_out_errors(self, x: torch.Tensor, m: int) -> np.ndarray:
        """Relative squared held-out error ``(m, k)`` of ``m`` candidates' columns ``x`` ``(nz·nx, m·k)``."""
        err = ((self.p_held.forward_cols(x) - self.b_held.repeat(1, m)) ** 2).sum(dim=0)
        ref = (self.b_held.double() ** 2).sum(dim=0).cpu().numpy().clip(min=1e-30)
        return err.reshape(m, self.k).double().cpu().numpy() / ref


def choose_tv_weight(tilt_series, tilt_angles_deg, *, iterations: int = 100, thickness: int | None = None,
                     n_slices: int = 8, weights=TV_WEIGHT_GRID, nonnegative: bool = True, device: Any = None,
                     return_scores: bool = False):
    """Pick the TV weight by cross-validation on held-out tilts (no ground truth used).

    Parameters
    ----------
    tilt_series : ndarray or tensor, shape (n_tilts, ny, nx)
        Projections with the tilt axis along ``y``.
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees.
    iterations : int
        Chambolle–Pock iterations of each trial reconstruction (use those of the final one).
    thickness : int, optional
        ``nz`` of the volume (default ``nx``).
    n_slices : int
        Slices reconstructed per trial (one per band of ``y``, the band's most energetic).
    weights : sequence of float
        Candidate weights (default :data:`TV_WEIGHT_GRID`, 10^-6.5 … 10^-2 in half-decades).
    nonnegative : bool
        Trial reconstructions constrained to ``x ≥ 0``.
    device : str or torch.device, optional
    return_scores : bool
        Also return ``(weights, scores)``: the relative held-out error of each candidate.

    Returns
    -------
    weight : float
        The largest candidate whose held-out error is within one standard error (over
        the slices) of the smallest (the "one-standard-error rule" of cross-validation:
        the most regularised model the data cannot tell from the best).

    Notes
    -----
    The tilts of :func:`holdout_split` are left out; the selected slices are
    reconstructed from the rest (all candidates at once, one column per slice and
    weight) and re-projected at the held-out angles; the score is
    ``‖A_h x − b_h‖ / ‖b_h‖`` per slice. The data term is normalised by the number of rays, so a
    weight chosen on the reduced set carries over to the full series.
    """
    check_positive("iterations", iterations, integer=True)
    ws = np.asarray(sorted(float(w) for w in weights), np.float64)
    if ws.size < 1 or not np.all(ws > 0):
        raise ValueError("weights must be positive numbers")
    cv = _HeldOut(tilt_series, tilt_angles_deg, thickness=thickness, device=device, n_slices=n_slices)
    k, m, dev = cv.k, ws.size, cv.device
    b_rep = cv.b_fit.repeat(1, m)  # column j·k + i: slice i, weight j
    w_cols = torch.as_tensor(np.repeat(ws, k), dtype=torch.float32, device=dev)
    gen = cp_tv_cols(cv.p_fit, b_rep, w_cols, iterations=int(iterations), norm=cv.norm,
                     op_norm_sq=operator_norm_sq(cv.p_fit, dev), nonnegative=nonnegative)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        x = stop.value
    per_slice = cv.held_out_errors(x, m)  # (m, k): relative squared held-out error of each slice and weight
    scores = np.sqrt(per_slice.mean(axis=1))
    j = int(np.argmin(scores))
    # one-standard-error rule: the largest weight whose mean error exceeds the best by no
    # more than the standard error of the paired (per-slice) difference
    d = per_slice - per_slice[j]
    se = d.std(axis=1, ddof=1) / np.sqrt(k) if k > 1 else np.zeros(m)
    ok = np.flatnonzero(d.mean(axis=1) <= se)
    best = float(ws[max(j, int(ok.max()))])
    note_choice("tv_weight", best)
    if return_scores:
        return best, (ws, scores)
    return best


#: relative prior weights tried by :func:`choose_prior_weights` (``μ`` / ``‖A‖²/N``)
PRIOR_WEIGHT_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
#: TV weights tried with a prior, as factors of the weight chosen without one. Only the TV
#: weight's own choice: with noise, a smaller TV weight predicted the held-out tilts better
#: (it fits their noise) yet lowered PSNR against the truth (held-back 128² medical slices,
#: 3 % noise, 30° wedge: 27.1 dB with a third of the weight vs 29.2 dB with it; plain TV 28.9)
PRIOR_TV_FACTORS = (1.0,)
#: the prior must also lower plain TV's held-out error by at least this fraction (besides one
#: standard error): held-out tilts see only measured directions, and the best of the prior
#: weights wins by chance by a little. On the acceptance grids (128², 256²; 0 %, 1 %, 3 %,
#: dose 200) every case the prior helped had a gain ≥ 1.8 %, every case it hurt (all at dose
#: 200, −0.03 … −0.77 dB) one ≤ 0.9 % (docs/validate.md, "When is the prior trusted?")
PRIOR_MIN_GAIN = 0.01


def choose_prior_weights(tilt_series, tilt_angles_deg, prior_fn, *, tv_weight: float, iterations: int = 100,
                         thickness: int | None = None, n_slices: int = 8, prior_weights=PRIOR_WEIGHT_GRID,
                         tv_factors=PRIOR_TV_FACTORS, nonnegative: bool = True, device: Any = None,
                         return_scores: bool = False):
    """Pick the TV and prior weights of a prior-regularised TV by cross-validation on held-out tilts.

    Candidates: ``(tv_weight, 0)`` — plain TV started from zero, the reference — and every
    ``(tv_weight · f, μ)`` for ``f`` in ``tv_factors`` and ``μ`` in ``prior_weights``, started
    from the prior. As in :func:`choose_tv_weight`, the tilts of :func:`holdout_split` are
    held out, a few slices are reconstructed from the rest (all candidates at once) and
    re-projected at the held-out angles. The prior of the trial slices must not have seen the
    held-out tilts either, so it is made by ``prior_fn(fit_series, fit_angles)`` from the
    fitted tilts alone. The prior is trusted only when its best candidate beats plain TV by
    more than one standard error of the paired per-slice difference and by at least
    :data:`PRIOR_MIN_GAIN` of TV's held-out error (the benefit of the doubt goes to TV).

    Parameters
    ----------
    tilt_series : ndarray or tensor, shape (n_tilts, ny, nx)
    tilt_angles_deg : array_like, shape (n_tilts,)
    prior_fn : callable
        ``prior_fn(series (n_fit, k, nx), angles (n_fit,)) -> (nz, k, nx)``: the prior of ``k``
        slices from the fitted tilts only, in the series' units (e.g. WBP then a network).
    tv_weight : float
        The TV weight chosen without a prior (e.g. by :func:`choose_tv_weight`).
    iterations, thickness, n_slices, nonnegative, device
        As in :func:`choose_tv_weight`.
    prior_weights : sequence of float
        Relative prior weights (``μ`` over the data term's largest curvature ``‖A‖²/N``).
    tv_factors : sequence of float
        Factors of ``tv_weight`` tried with the prior.
    return_scores : bool
        Also return ``(candidates, scores)``.

    Returns
    -------
    (tv_weight, prior_weight) : (float, float)
        The prior candidate with the smallest held-out error, or ``(tv_weight, 0.0)`` (plain
        TV: the prior is not trusted) when it does not beat TV as above.
    """
    check_positive("iterations", iterations, integer=True)
    check_positive("tv_weight", tv_weight, allow_zero=True)
    cv = _HeldOut(tilt_series, tilt_angles_deg, thickness=thickness, device=device, n_slices=n_slices)
    nz, nx, k, dev = cv.nz, cv.nx, cv.k, cv.device
    zf = prior_fn(cv.series[torch.as_tensor(cv.fit, device=dev)], cv.angles[cv.fit])
    zf = torch.as_tensor(np.asarray(zf) if not isinstance(zf, torch.Tensor) else zf).to(dev, torch.float32)
    if tuple(zf.shape) != (nz, k, nx):
        raise ValueError(f"prior_fn returned {tuple(zf.shape)}, expected {(nz, k, nx)}")
    z_cols = (zf / cv.scale).permute(0, 2, 1).reshape(nz * nx, k).contiguous()
    cands = [(float(tv_weight), 0.0)] + [(float(tv_weight) * float(f), float(m))
                                          for f in tv_factors for m in prior_weights]
    if any(m < 0 for _w, m in cands) or any(f <= 0 for f in tv_factors):
        raise ValueError("prior weights must be >= 0 and TV factors > 0")
    m_c = len(cands)
    norm = cv.norm
    op = operator_norm_sq(cv.p_fit, dev)
    w_cols = torch.as_tensor(np.repeat([w for w, _m in cands], k), dtype=torch.float32, device=dev)
    mu_cols = torch.as_tensor(np.repeat([m for _w, m in cands], k) * (op / norm), dtype=torch.float32, device=dev)
    prior = z_cols.repeat(1, m_c)
    x0 = prior.clamp(min=0.0) if nonnegative else prior.clone()
    x0[:, :k] = 0.0  # the reference: plain TV from zero
    gen = cp_tv_cols(cv.p_fit, cv.b_fit.repeat(1, m_c), w_cols, iterations=int(iterations), norm=norm, op_norm_sq=op,
                     x0=x0, nonnegative=nonnegative, prior=prior, prior_weight=mu_cols)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        x = stop.value
    per_slice = cv.held_out_errors(x, m_c)  # (candidates, slices)
    scores = np.sqrt(per_slice.mean(axis=1))
    j = 1 + int(np.argmin(scores[1:]))
    d = per_slice[j] - per_slice[0]
    se = d.std(ddof=1) / np.sqrt(k) if k > 1 else 0.0
    gain_ok = d.mean() < -PRIOR_MIN_GAIN * float(per_slice[0].mean())  # a practically relevant gain
    best = cands[j] if d.mean() + se < 0 and gain_ok else cands[0]
    note_choice("tv_weight", float(best[0]))
    note_choice("prior_weight", float(best[1]))  # 0: the prior lost to plain TV (result = TV-auto)
    if return_scores:
        return best, (cands, scores)
    return best
