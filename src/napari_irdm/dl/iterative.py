"""Projection-domain data consistency for IRDM: network, then SIRT on the measured projections.

The Fourier data consistency of :func:`napari_irdm.dl.apply_data_consistency` keeps the
WBP's coefficients on the measured cone, and with them the WBP's own errors there
(streaks, interpolation, noise). Here the network's restored volume instead *starts* an
iterative reconstruction on the measured tilt series: a few SIRT updates move the volume
towards ``A x = b`` along directions the projections see, while what they do not see (the
missing wedge, the null space of ``A``) keeps the network's content. The result both
fills the wedge and re-projects to what was measured.

``rounds > 1`` alternates network and SIRT (plug-and-play). With the shipped model the
second network pass, fed a data-consistent volume instead of the WBP it was trained on,
loses several dB (measured in ``docs/validate.md``); one round is the default.

``consistency="tv"`` (network-prior TV, recommended for real, noisy series): the network's
restoration ``z`` becomes a prior of a non-negative TV reconstruction of the measured series,

``min_x  1/(2N)‖A x − b‖² + w TV(x) + (μ/2)‖x − z‖²``   (Chambolle–Pock, started at ``z``),

so the data decide what the projections see (TV suppresses their noise), and the network
what they do not. Both weights come from the data, with no ground truth: ``w`` as for TV
(:func:`napari_irdm.tomo.choose_tv_weight`), then ``(w, μ)`` by how well each candidate predicts
held-out tilts (:func:`napari_irdm.tomo.tv_cp.choose_prior_weights`), the network's trial
priors made from the remaining tilts only. When no prior weight predicts the held-out tilts
clearly better than plain TV does, ``μ = 0`` and the result is plain TV from zero (the network
is not trusted for this series).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch

from napari_irdm.progress import Progress, run_to_completion

__all__ = ["iterative_consistency_iter"]


def iterative_consistency_iter(volume, tilt_angles_deg, tilt_series, *, network: Callable[..., Generator],
                               consistency: str = "iterative", iterations: int | None = None, rounds: int = 1,
                               data_consistency: bool = False, nonnegative: bool = False, out=None,
                               net_kwargs: dict | None = None) -> Generator[Progress, Any, Any]:
    """Network on ``volume`` (a WBP), then ``iterations`` SIRT updates on ``tilt_series``; ``rounds`` times.

    Called by :func:`napari_irdm.dl.inpaint_iter` with ``consistency="iterative"``; see there
    for the parameters. ``network(volume, tilt_angles_deg, nonnegative=..., **net_kwargs)`` is
    the network pass (a generator returning the restored volume; ``inpaint_iter`` hands in
    its own). Returns the volume (NumPy in → NumPy out, tensor in → tensor out).
    """
    from napari_irdm.methods import CONSISTENCY_ITERATIONS, IRDMParams
    from napari_irdm.tomo import sirt_iter
    from napari_irdm.tomo._common import check_positive

    if consistency not in ("iterative", "tv"):
        raise ValueError(f"consistency must be None, 'iterative' or 'tv', got {consistency!r}")
    if data_consistency:
        raise ValueError("choose one data consistency: data_consistency=True (Fourier) or consistency='iterative'")
    if tilt_series is None:
        raise ValueError(f"consistency={consistency!r} needs the measured projections: pass tilt_series")
    if tilt_angles_deg is None:
        raise ValueError(f"consistency={consistency!r} needs the tilt angles: pass tilt_angles_deg")
    IRDMParams(consistency_iterations=iterations)  # the rule of napari_irdm.methods (and of the CLI)
    if iterations is None:
        iterations = CONSISTENCY_ITERATIONS[consistency]
    check_positive("rounds", rounds, integer=True)
    vshape = tuple(int(s) for s in volume.shape)
    sshape = tuple(int(s) for s in tilt_series.shape)
    if len(sshape) != 3 or len(vshape) != 3 or sshape[1:] != vshape[1:]:
        raise ValueError(f"tilt_series {sshape} does not fit the volume {vshape}: expected (n_tilts, {vshape[1]}, "
                         f"{vshape[2]}), the series the volume was reconstructed from")
    kw = dict(net_kwargs or {})
    device = kw.get("device")
    is_tensor = isinstance(volume, torch.Tensor)
    if consistency == "tv":
        if int(rounds) != 1:
            raise ValueError("consistency='tv' runs the network once: rounds must be 1")
        x = yield from _prior_tv_iter(volume, tilt_angles_deg, tilt_series, network=network, iterations=iterations,
                                      nonnegative=nonnegative, out=out, kw=kw)
        if is_tensor and not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x), device=volume.device)
        return x
    x = volume
    nz = vshape[0]
    total = 2 * int(rounds)
    for r in range(int(rounds)):
        yield Progress(2 * r, total, f"IRDM network, round {r + 1}/{rounds}")
        gen = network(x, tilt_angles_deg, nonnegative=nonnegative, **kw)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            z = stop.value
        yield Progress(2 * r + 1, total, f"SIRT on the measured projections, round {r + 1}/{rounds}")
        last = r == int(rounds) - 1
        gen = sirt_iter(tilt_series, tilt_angles_deg, iterations=int(iterations), x0=z, nonnegative=nonnegative,
                        thickness=nz, device=device if not is_tensor else volume.device,
                        out=out if last else None)
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            x = stop.value
    if is_tensor and not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x), device=volume.device)
    yield Progress(total, total, "IRDM with iterative data consistency: done")
    return x


def _prior_tv_iter(volume, tilt_angles_deg, tilt_series, *, network: Callable[..., Generator], iterations: int,
                   nonnegative: bool, out, kw: dict) -> Generator[Progress, Any, Any]:
    """``consistency="tv"``: the network's output as the prior of a TV reconstruction (module docstring)."""
    from napari_irdm.tomo import tv_iter, wbp
    from napari_irdm.tomo.tv_cp import choose_prior_weights, choose_tv_weight

    device = kw.get("device")
    if isinstance(volume, torch.Tensor):
        device = volume.device if device is None else device
    nz = int(volume.shape[0])
    angles = np.asarray(tilt_angles_deg, np.float64)
    total = 4
    yield Progress(0, total, "IRDM network")
    z = run_to_completion(network(volume, angles, nonnegative=nonnegative, **kw))
    yield Progress(1, total, "network-prior TV: choosing the TV weight on held-out tilts")
    w0 = choose_tv_weight(tilt_series, angles, iterations=int(iterations), thickness=nz, device=device)

    def prior_fn(series, fit_angles):
        start = wbp(series, fit_angles, thickness=nz, device=device)
        return run_to_completion(network(start, fit_angles, nonnegative=nonnegative, **kw))

    yield Progress(2, total, f"network-prior TV: TV weight {w0:.3g}; choosing the prior weight on held-out tilts")
    w, mu = choose_prior_weights(tilt_series, angles, prior_fn, tv_weight=w0, iterations=int(iterations),
                                 thickness=nz, nonnegative=True, device=device)
    yield Progress(3, total, f"network-prior TV: weights TV {w:.3g}, prior {mu:.3g}")
    use = mu > 0  # else plain TV (from zero): the held-out tilts did not trust the network
    x = run_to_completion(tv_iter(tilt_series, angles, tv_weight=float(w), iterations=int(iterations), nonnegative=nonnegative,
                       thickness=nz, device=device, x0=z if use else None, prior=z if use else None,
                       prior_weight=float(mu), solver="cp", out=out))
    yield Progress(total, total, f"IRDM with network-prior TV (TV {w:.3g}, prior {mu:.3g}): done")
    return x
