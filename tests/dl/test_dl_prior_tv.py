"""Network-prior TV (``consistency="tv"``): the solver, the weight choice, the IRDM mode."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from napari_irdm.dl import inpaint
from napari_irdm.progress import run_to_completion
from napari_irdm.tomo import ParallelProjector, tv, wbp
from napari_irdm.tomo.tv_cp import choose_prior_weights, choose_tv_weight, cp_tv_cols, operator_norm_sq

ANGLES = np.arange(-60.0, 61.0, 3.0)
N = 32


def _truth(ny: int = 3) -> np.ndarray:
    z, x = np.mgrid[:N, :N] - (N - 1) / 2.0
    s = ((z / 10.0) ** 2 + (x / 13.0) ** 2 < 1).astype(np.float32)
    s[(np.abs(z - 3) < 3) & (np.abs(x + 4) < 4)] = 2.0
    return np.ascontiguousarray(np.repeat(s[:, None, :], ny, axis=1))


def _noisy(b: np.ndarray, rel: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (b + rng.normal(0.0, rel * float(np.abs(b).max()), b.shape)).astype(np.float32)


class Oracle(nn.Module):
    """Returns the true slices whatever it is given (with normalise='none')."""

    def __init__(self, truth, offset: float = 0.0):
        super().__init__()
        self.t = torch.from_numpy(truth).permute(1, 0, 2)[:, None]  # (ny, 1, nz, nx)
        self.offset = offset

    def forward(self, x):
        return self.t[: x.shape[0]].to(x) + self.offset


def test_cp_with_a_prior_solves_the_regularised_least_squares():
    """TV weight 0, no clip: CP must reach ``(AᵀA/N + μI) x = Aᵀb/N + μz`` (dense solve)."""
    n = 12
    ang = np.arange(-50.0, 51.0, 10.0)
    proj = ParallelProjector(ang, (n, 1, n))
    eye = torch.eye(n * n)
    a = proj.forward_cols(eye).double()  # (n_tilts·n, n²): column j is A e_j
    rng = np.random.default_rng(1)
    truth = torch.as_tensor(rng.random((n * n, 1)))
    b = (a @ truth).float()
    z = torch.as_tensor(rng.random((n * n, 1)), dtype=torch.float32)
    norm = float(len(ang) * n)
    op = operator_norm_sq(proj, "cpu")
    mu = 0.2 * op / norm
    x = run_to_completion(cp_tv_cols(proj, b, 0.0, iterations=300, norm=norm, op_norm_sq=op, nonnegative=False,
                        prior=z, prior_weight=mu))
    lhs = a.T @ a / norm + mu * torch.eye(n * n, dtype=torch.float64)
    ref = torch.linalg.solve(lhs, a.T @ b.double() / norm + mu * z.double())
    assert float(torch.linalg.vector_norm(x.double() - ref) / torch.linalg.vector_norm(ref)) < 2e-3
    # a prior weight of 0 is plain CP, bit for bit
    plain = run_to_completion(cp_tv_cols(proj, b, 1e-4, iterations=50, norm=norm, op_norm_sq=op))
    zero = run_to_completion(cp_tv_cols(proj, b, 1e-4, iterations=50, norm=norm, op_norm_sq=op, prior=z, prior_weight=0.0))
    assert torch.equal(plain, zero)


def test_choose_prior_weights_trusts_a_true_prior_and_not_a_wrong_one():
    truth = _truth(4)
    b = _noisy(ParallelProjector(ANGLES, truth.shape).forward(truth), 0.02)

    def true_prior(series, fit_angles):
        return truth[:, : series.shape[1]]

    def wrong_prior(series, fit_angles):  # the object mirrored and moved: right values, wrong place
        return np.roll(truth[::-1], 6, axis=2)[:, : series.shape[1]]

    (w_t, m_t), (cands, scores) = choose_prior_weights(b, ANGLES, true_prior, tv_weight=1e-5, iterations=60,
                                                       return_scores=True)
    assert m_t > 0
    assert scores[cands.index((w_t, m_t))] < scores[0]  # better held-out prediction than plain TV
    w_f, m_f = choose_prior_weights(b, ANGLES, wrong_prior, tv_weight=1e-5, iterations=60)
    assert m_f == 0.0 and w_f == 1e-5
    with pytest.raises(ValueError, match="prior_fn returned"):
        choose_prior_weights(b, ANGLES, lambda s, a: truth[:4], tv_weight=1e-5, iterations=5)


def test_the_prior_needs_a_minimum_relative_gain(monkeypatch):
    """Besides one standard error, the prior must lower TV's held-out error by PRIOR_MIN_GAIN."""
    from napari_irdm.tomo import tv_cp

    truth = _truth(4)
    b = _noisy(ParallelProjector(ANGLES, truth.shape).forward(truth), 0.02)

    def true_prior(series, fit_angles):
        return truth[:, : series.shape[1]]

    (w, m), (cands, scores) = choose_prior_weights(b, ANGLES, true_prior, tv_weight=1e-5, iterations=60,
                                                   return_scores=True)
    gain = 1.0 - (scores[cands.index((w, m))] / scores[0]) ** 2  # scores are RMS errors
    assert m > 0 and gain > tv_cp.PRIOR_MIN_GAIN
    monkeypatch.setattr(tv_cp, "PRIOR_MIN_GAIN", gain + 0.01)  # the same evidence, a margin it does not meet
    assert choose_prior_weights(b, ANGLES, true_prior, tv_weight=1e-5, iterations=60) == (1e-5, 0.0)


def test_tv_consistency_keeps_a_good_network_and_fixes_a_biased_one():
    truth = _truth()
    b = _noisy(ParallelProjector(ANGLES, truth.shape).forward(truth), 0.03)
    w = wbp(b, ANGLES)
    err = lambda v: float(np.linalg.norm(v - truth) / np.linalg.norm(truth))  # noqa: E731
    plain_tv = tv(b, ANGLES, tv_weight="auto", nonnegative=True)
    good = inpaint(w, ANGLES, model=Oracle(truth), normalise="none", consistency="tv", tilt_series=b,
                   nonnegative=True, batch_size=8, consistency_iterations=60)
    # a perfect wedge filler: closer to the truth than TV alone, which cannot fill the wedge
    assert err(good) < 0.6 * err(plain_tv), (err(good), err(plain_tv))
    # a network off by a constant: the measured projections pull the result back
    off = inpaint(w, ANGLES, model=Oracle(truth, 0.3), normalise="none", batch_size=8)
    fixed = inpaint(w, ANGLES, model=Oracle(truth, 0.3), normalise="none", consistency="tv", tilt_series=b,
                    nonnegative=True, batch_size=8, consistency_iterations=60)
    assert err(fixed) < 0.5 * err(off), (err(fixed), err(off))
    res = lambda v: float(np.linalg.norm(ParallelProjector(ANGLES, v.shape).forward(v) - b) / np.linalg.norm(b))  # noqa: E731
    assert res(fixed) < 0.5 * res(off)


def test_tv_consistency_errors_and_provenance():
    from napari_irdm import Volume
    from napari_irdm.analysis.validate import settings_from_provenance

    truth = _truth()
    b = ParallelProjector(ANGLES, truth.shape).forward(truth)
    w = wbp(b, ANGLES)
    net = Oracle(truth)
    with pytest.raises(ValueError, match="pass tilt_series"):
        inpaint(w, ANGLES, model=net, consistency="tv")
    with pytest.raises(ValueError, match="rounds must be 1"):
        inpaint(w, ANGLES, model=net, consistency="tv", tilt_series=b, rounds=2)
    with pytest.raises(ValueError, match="'tv'"):
        inpaint(w, ANGLES, model=net, consistency="cg", tilt_series=b)
    out = inpaint(Volume(w, tilt_angles_deg=ANGLES), model=net, normalise="none", consistency="tv", tilt_series=b,
                  consistency_iterations=5, batch_size=8)
    assert isinstance(out, Volume)
    assert settings_from_provenance(out.provenance)["data_consistency"] == "tv"
    # the weights chosen on held-out tilts are in the line: TV-auto's, and the prior's (0: not trusted)
    chosen = dict(re.findall(r"(\w+)=([^\s;]+)", out.provenance[-1].split("; chosen ", 1)[1]))
    assert float(chosen["tv_weight"]) == pytest.approx(choose_tv_weight(b, ANGLES, iterations=5, thickness=N), rel=1e-5)
    assert float(chosen["prior_weight"]) >= 0.0
    with pytest.raises(ValueError, match="needs solver='cp'"):
        tv(b, ANGLES, tv_weight=1e-5, solver="fista", prior=w)
