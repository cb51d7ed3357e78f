"""Benchmark IRDM against WBP, SART and TV on held-back pairs (the paper's Figs. 2–4).

For every source and missing wedge the same held-back ground truths (never used in
training) are projected over ``±(90° − wedge/2)`` and reconstructed by each method; PSNR,
SSIM and NRMSE against the truth go to ``per_sample.csv`` and ``summary.csv``, plots of
the means against the wedge to ``metrics_vs_wedge*.png`` (Fig. 4) and example grids to
``grid_<source>.png`` (Figs. 2–3). Plots are drawn with matplotlib's object API (no pyplot,
no change of the process's backend).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_irdm.device import resolve_device
from napari_irdm.geometry import angles_on_grid
from napari_irdm.io import atomic_write_bytes
from napari_irdm.methods import TV_FIXED_WEIGHT
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.tomo import sart, sirt, tv
from napari_irdm.train._metrics import batch_metrics
from napari_irdm.train.library import get_spec
from napari_irdm.train.pairs import PairOptions, Projectors, geometry, make_batch

__all__ = ["CLASSICAL", "EVAL_OFFSET", "ITERATIVE", "METHODS", "best_classical", "evaluate", "evaluate_iter",
           "reconstruct_iterative"]

METHODS = ("wbp", "sart", "tv", "tv_auto", "sirt_stop", "irdm", "irdm_nonneg", "irdm_dc", "irdm_iter", "irdm_tv")
#: the methods that use no training data (the "strongest classical" is the best of these)
CLASSICAL = ("wbp", "sart", "tv", "tv_auto", "sirt_stop")
#: held-back evaluation indices start here (apart from the training run's validation seeds)
EVAL_OFFSET = 10**6

#: iterative classical method -> (the function, the keywords that define the method); the
#: settings of a run (iterations, weight) are added by :func:`evaluate_iter`, each under the
#: function's own keyword: a keyword the function does not take is a ``TypeError``
ITERATIVE: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "sart": (sart, {"nonnegative": True}),
    "tv": (tv, {"nonnegative": True}),
    "tv_auto": (tv, {"nonnegative": True, "tv_weight": "auto"}),
    "sirt_stop": (sirt, {"nonnegative": True, "stop": "discrepancy"}),
}


def reconstruct_iterative(method: str, series: torch.Tensor, angles, device, **settings) -> torch.Tensor:
    """Slices ``(B, nz, nx)`` of ``series`` ``(n_tilts, B, n_det)`` by an :data:`ITERATIVE` method.

    ``settings`` go to the method's function as they are (``iterations=…``, ``tv_weight=…``).

    Raises
    ------
    ValueError
        ``method`` is not one of :data:`ITERATIVE`.
    TypeError
        A setting the function does not take (nothing is dropped silently).
    """
    if method not in ITERATIVE:
        raise ValueError(f"no iterative method {method!r}: choose from {', '.join(ITERATIVE)}")
    fn, fixed = ITERATIVE[method]
    r = fn(series, angles, device=device, **fixed, **settings)
    return torch.as_tensor(r).to(device).permute(1, 0, 2)


def _load_model(model, device):
    if isinstance(model, torch.nn.Module):
        return model.to(device).eval()
    from napari_irdm.dl.registry import load_model

    return load_model(model, device=device)


def evaluate_iter(
    model,
    *,
    dataset: str = "D2",
    wedges: Sequence[float] = (40, 50, 60, 70, 80),
    n: int = 100,
    sources: Sequence[str] | None = None,
    size: int = 256,
    tilt_step_deg: float = 2.0,
    noise: float | None = None,
    oversample: int = 2,
    tilt_ranges: Sequence[tuple[float, float]] = (),
    dose: tuple[float, float] | None = None,
    read_noise: float = 0.0,
    methods: Sequence[str] = METHODS,
    sart_iterations: int = 20,
    tv_iterations: int = 50,
    tv_weight: float | None = None,
    sirt_iterations: int = 300,
    consistency_iterations: int = 30,
    batch_size: int = 16,
    tta: bool = False,
    out_dir: str | os.PathLike | None = None,
    device: Any = None,
) -> Generator[Progress, None, dict[str, Any]]:
    """Reconstruct held-back pairs with each method and score them against the truth.

    Parameters
    ----------
    model : str, path or torch.nn.Module
        IRDM generator (shipped name, path, or a module); ``None`` skips IRDM.
    dataset : str
        Dataset spec whose sources are used (default sources: all of the spec's).
    wedges : sequence of float
        Missing-wedge openings in degrees (tilt range ``±(90 − w/2)``).
    n : int
        Samples per source and wedge (the same truths at every wedge).
    sources : sequence of str, optional
        Source names (``phantom``, ``mgh``, ``nbia``, ``medical``, ``natural``, ``atomic``).
    size : int
        Slice side in pixels.
    tilt_step_deg : float
        Tilt step of the simulated series.
    noise : float, optional
        Relative Gaussian noise on the projections (σ drawn per sample in ``[0, noise]``).
    oversample : int
        Projection oversampling (see :class:`~napari_irdm.train.pairs.PairOptions`); 2 avoids
        the inverse crime of making the data with the reconstructions' own matrix.
    tilt_ranges : sequence of (float, float)
        Tilt ranges ``(lo, hi)`` (degrees, inside ±90°, e.g. asymmetric) evaluated after the ``wedges``;
        every row carries its ``tilt_range`` (``"lo:hi"``, the symmetric ones too) besides ``wedge_deg``.
    dose, read_noise
        Poisson dose range (counts per pixel; ``lo == hi``: fixed) and maximum relative read
        noise, as :class:`~napari_irdm.train.pairs.PairOptions` makes them.
    methods : sequence of str
        Subset of :data:`METHODS`. ``tv_auto`` is non-negative Chambolle–Pock TV with its weight
        chosen by cross-validation on held-out tilts (:func:`~napari_irdm.tomo.tv_cp.choose_tv_weight`,
        one weight per batch of one source, no ground truth); ``sirt_stop`` is non-negative SIRT
        stopped per slice by the discrepancy principle (at most ``sirt_iterations``); ``irdm_nonneg`` is
        IRDM clipped at 0 (the non-negativity SART and TV are given here); ``irdm_dc`` is IRDM followed by
        Fourier data consistency (:func:`~napari_irdm.dl.apply_data_consistency`: the WBP's
        spectrum on the measured cone, the network's in the wedge), as ``inpaint(...,
        data_consistency=True)``; ``irdm_iter`` is IRDM followed by ``consistency_iterations``
        non-negative SIRT updates on the measured projections, as ``inpaint(...,
        consistency="iterative", nonnegative=True)``; ``irdm_tv`` is ``inpaint(..., consistency="tv",
        nonnegative=True)`` (IRDM as the prior of TV; one weight choice per batch, as ``tv_auto``).
    sart_iterations, tv_iterations, tv_weight, sirt_iterations
        Settings of :func:`~napari_irdm.tomo.sart` / :func:`~napari_irdm.tomo.tv` (also ``tv_auto``, ``irdm_tv``) / :func:`~napari_irdm.tomo.sirt`.
    batch_size : int
        Slices per batch.
    tta : bool
        IRDM with test-time augmentation (:func:`napari_irdm.dl.inference.tta_flips`).
    out_dir : path, optional
        Where to write ``per_sample.csv``, ``summary.csv`` and PNGs.
    device : str or torch.device, optional

    Returns
    -------
    dict
        ``rows`` (per-sample dicts), ``summary`` (mean per wedge/method/source, source
        ``"all"`` pooled), ``best`` (:func:`best_classical` of the summary), ``files`` (written
        paths), ``examples`` (first sample's images), ``methods`` (those evaluated).
    """
    spec = get_spec(dataset)
    dev = resolve_device(device)
    methods, wedges, srcs = _checked(spec, model, methods, wedges, n, sources)
    geoms = _geometries(wedges, tilt_ranges)
    g = _load_model(model, dev) if any(m.startswith("irdm") for m in methods) else None
    # "tv" is TV at a fixed weight (tomo.tv's own default is "auto", which is the "tv_auto" row)
    tv_kw = {"tv_weight": TV_FIXED_WEIGHT if tv_weight is None else tv_weight}
    settings = {"sart": {"iterations": sart_iterations}, "tv": {"iterations": tv_iterations, **tv_kw},
                "tv_auto": {"iterations": tv_iterations}, "sirt_stop": {"iterations": sirt_iterations}}
    settings = {m: s for m, s in settings.items() if m in methods}
    opts = PairOptions(size=size, tilt_steps_deg=(tilt_step_deg,), noise=noise, oversample=oversample,
                       dose=None if dose is None else (float(dose[0]), float(dose[1])), read_noise=read_noise)
    total = len(srcs) * len(geoms) * int(np.ceil(n / batch_size))
    rows: list[dict[str, Any]] = []
    examples: dict[str, dict[float | str, dict[str, np.ndarray]]] = {s: {} for s in srcs}
    yield Progress(0, total, "evaluating")
    done, projectors = 0, Projectors()  # this evaluation's projectors (freed when it ends)
    for w, rng, label in geoms:  # geometry outermost: the projectors of one geometry serve every source
        fix = {"wedge_deg": w} if rng is None else {"tilt_range_deg": rng}
        for src in srcs:
            for b0 in range(0, n, batch_size):
                idx = [EVAL_OFFSET + i for i in range(b0, min(n, b0 + batch_size))]
                batch = make_batch(spec, idx, opts, holdout=True, source=src, device=dev, projectors=projectors, **fix)
                _w, lo, hi, st = geometry(spec, idx[0], opts, holdout=True, **fix)
                ang = angles_on_grid(lo, hi, st)
                recs = _reconstruct(batch, ang, methods, g, settings, tta, consistency_iterations, dev, tv_iterations)
                rows += [dict(r, tilt_range=label) for r in _score(recs, methods, batch, ang, dev, src, idx, w)]
                if b0 == 0:
                    examples[src][w if rng is None else label] = {"truth": batch.truth[0].cpu().numpy(), **{
                        m: recs[m][0].detach().float().cpu().numpy() for m in methods}}
                done += 1
                yield Progress(done, total, f"{src} {'wedge ' + format(w, 'g') + '°' if rng is None else label}")
    summary = _summarise(rows, methods, srcs, geoms)
    best = best_classical(summary)
    files = [] if out_dir is None else _write_results(Path(out_dir), rows, summary, best, examples, methods, srcs,
                                                      wedges)
    return {"rows": rows, "summary": summary, "best": best, "files": files, "examples": examples, "methods": methods}


def evaluate(model, **kwargs) -> dict[str, Any]:
    """Eager wrapper of :func:`evaluate_iter`."""
    return run_to_completion(evaluate_iter(model, **kwargs))


def _checked(spec, model, methods, wedges, n, sources) -> tuple[list[str], list[float], list[str]]:
    """The methods (IRDM's dropped without a model), wedges and sources to evaluate, checked."""
    from napari_irdm.train.sources import get_source

    methods = [m.lower() for m in methods]
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}: choose from {', '.join(METHODS)}")
    if model is None:
        methods = [m for m in methods if not m.startswith("irdm")]
    if n < 1:
        raise ValueError(f"n must be >= 1 (samples per source and wedge), got {n}")
    wedges = [float(w) for w in wedges]
    for w in wedges:
        if not 0 <= w < 180:
            raise ValueError(f"wedge {w}° outside [0, 180): give wedges as missing-wedge openings in degrees, "
                             "e.g. 40 60 80")
    srcs = list(sources) if sources else list(spec.sources)
    for s in srcs:
        get_source(s)
    return methods, wedges, srcs


def _geometries(wedges, tilt_ranges) -> list[tuple[float, tuple[float, float] | None, str]]:
    """``(wedge, range or None, "lo:hi")`` of every evaluated geometry: the wedges, then the ranges."""
    out: list[tuple[float, tuple[float, float] | None, str]] = []
    for w in wedges:
        h = 90.0 - w / 2.0
        out.append((w, None, f"{-h:g}:{h:g}"))
    for r in tilt_ranges:
        lo, hi = (float(a) for a in r)
        if not -90.0 <= lo < hi <= 90.0:
            raise ValueError(f"tilt range {lo:g}..{hi:g} must satisfy -90 <= lo < hi <= 90 (degrees)")
        out.append((180.0 - (hi - lo), (lo, hi), f"{lo:g}:{hi:g}"))
    labels = [g[2] for g in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"tilt ranges repeat ({', '.join(labels)}): give each wedge or range once")
    return out


def _reconstruct(batch, ang, methods, g, settings, tta, consistency_iterations, dev,
                 tv_iterations: int = 100) -> dict[str, torch.Tensor]:
    """Slices ``(B, nz, nx)`` of every method for one batch (WBP is the batch's own)."""
    recs: dict[str, torch.Tensor] = {"wbp": batch.wbp}
    series = batch.sinogram.permute(0, 2, 1).contiguous()  # (n_tilts, B, n_det)
    if settings and not np.array_equal(np.round(batch.grid_deg, 6), np.round(ang, 6)):  # pragma: no cover
        raise RuntimeError("evaluation batch has mixed geometries")
    for m, kw in settings.items():
        recs[m] = reconstruct_iterative(m, series, ang, dev, **kw)
    if g is not None:
        recs.update(_irdm_variants(g, batch, series, ang, methods, tta, consistency_iterations, dev, tv_iterations))
    return recs


def _irdm_variants(g, batch, series, ang, methods, tta, consistency_iterations, dev,
                   tv_iterations: int = 100) -> dict[str, torch.Tensor]:
    """IRDM, clipped at 0, with Fourier data consistency, with SIRT updates and as the prior of TV."""
    from napari_irdm.dl import denormalise
    from napari_irdm.dl.consistency import apply_data_consistency, consistency_mask
    from napari_irdm.dl.inference import flip_average, is_conditioned, tta_flips
    from napari_irdm.dl.unetpp import acquisition_from_angles

    cond = acquisition_from_angles(ang).to(batch.inputs.device) if is_conditioned(g) else None
    flips = tta_flips(ang, conditioned=cond is not None) if tta else ((),)
    with torch.no_grad():  # flips act on the last two axes of (B, 1, H, W)
        y = flip_average(g, batch.inputs, flips, cond)[:, 0]
    out = {"irdm": denormalise(y, batch.lo, batch.hi)}
    out["irdm_nonneg"] = out["irdm"].clamp(min=0.0)
    if "irdm_dc" in methods:
        mask = torch.from_numpy(consistency_mask(tuple(batch.wbp.shape[-2:]), ang)).to(dev)
        out["irdm_dc"] = apply_data_consistency(batch.wbp, out["irdm"], mask)
    if "irdm_iter" in methods:
        x0 = out["irdm_nonneg"].permute(1, 0, 2).contiguous()
        r = sirt(series, ang, iterations=consistency_iterations, x0=x0, nonnegative=True, device=dev)
        out["irdm_iter"] = r.permute(1, 0, 2)
    if "irdm_tv" in methods:
        from napari_irdm.dl import inpaint

        r = inpaint(batch.wbp.permute(1, 0, 2).contiguous(), ang, model=g, device=dev, consistency="tv",
                    tilt_series=series, nonnegative=True, tta=tta, consistency_iterations=tv_iterations)
        out["irdm_tv"] = torch.as_tensor(r).to(dev).permute(1, 0, 2)
    return out


def _score(recs, methods, batch, ang, dev, src, idx, w) -> list[dict[str, Any]]:
    """Per-sample rows: PSNR / SSIM / NRMSE against the truth and the re-projection residual."""
    reproj = _reprojection(recs, methods, batch.sinogram, ang, dev)
    rows = []
    for m in methods:
        met = batch_metrics(recs[m], batch.truth)
        for k, i in enumerate(idx):
            rows.append({"source": src, "index": i, "wedge_deg": w, "method": m, "psnr": met["psnr"][k],
                         "ssim": met["ssim"][k], "nrmse": met["nrmse"][k], "reproj": reproj[m][k]})
    return rows


def _write_results(out: Path, rows, summary, best, examples, methods, srcs, wedges) -> list[str]:
    """``per_sample.csv``, ``summary.csv``, ``best_classical.csv`` and the PNGs; the paths written."""
    files = _write_csv(out / "per_sample.csv", ["source", "index", "wedge_deg", "tilt_range", "method", "psnr", "ssim",
                                                "nrmse", "reproj"], rows)
    files += _write_csv(out / "summary.csv", ["source", "wedge_deg", "tilt_range", "method", "n", "psnr", "ssim", "nrmse",
                                              "reproj",
                                              "psnr_std", "ssim_std", "nrmse_std", "reproj_std"], summary)
    if best:
        files += _write_csv(out / "best_classical.csv", list(best[0].keys()), best)
    files += _plot_metrics(out, summary, methods, srcs, wedges)
    files += _plot_grids(out, examples, methods, wedges)
    return files


def _reprojection(recs, methods, sinogram, angles, device) -> dict[str, list[float]]:
    """Relative re-projection residual ``‖A x − b‖ / ‖b‖`` of every slice, per method.

    ``sinogram`` is ``(n_tilts, n_det, B)`` as made by :func:`make_batch`; slices ``(B, nz, nx)``
    are projected with the reconstructions' own projector (the data were made 2× oversampled,
    so even the truth does not reach 0).
    """
    from napari_irdm.tomo import ParallelProjector

    b = sinogram.permute(0, 2, 1).contiguous()  # (n_tilts, B, n_det)
    nz, nx = recs["wbp"].shape[-2:]
    proj = ParallelProjector(angles, (nz, b.shape[1], nx), device=device)
    bn = torch.linalg.vector_norm(b.double(), dim=(0, 2)).clamp(min=1e-30)
    out = {}
    for m in methods:
        v = recs[m].detach().float().permute(1, 0, 2).contiguous()  # (nz, B, nx)
        r = proj.forward(v) - b.to(v.device)
        out[m] = (torch.linalg.vector_norm(r.double(), dim=(0, 2)) / bn.to(r.device)).cpu().tolist()
    return out


def best_classical(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per source and wedge: the strongest classical method by mean PSNR, and each IRDM variant against it.

    Returns one dict per ``(source, wedge)``: ``best_classical`` (method name),
    ``best_psnr``, ``best_ssim`` and, for every IRDM variant ``m`` evaluated,
    ``m_dpsnr`` / ``m_dssim`` (IRDM minus the best classical; positive = IRDM better).
    """
    out = []
    keys = sorted({(r["source"], r["wedge_deg"], r.get("tilt_range", "")) for r in summary},
                  key=lambda k: (k[0] != "all", k[0], k[1], k[2]))
    for src, w, tr in keys:
        sel = [r for r in summary if r["source"] == src and r["wedge_deg"] == w and r.get("tilt_range", "") == tr]
        cls = [r for r in sel if r["method"] in CLASSICAL]
        if not cls:
            continue
        b = max(cls, key=lambda r: r["psnr"])
        d = {"source": src, "wedge_deg": w, "tilt_range": tr, "best_classical": b["method"], "best_psnr": b["psnr"],
             "best_ssim": b["ssim"]}
        for r in sel:
            if r["method"].startswith("irdm"):
                d[f"{r['method']}_dpsnr"] = r["psnr"] - b["psnr"]
                d[f"{r['method']}_dssim"] = r["ssim"] - b["ssim"]
        out.append(d)
    return out


def _summarise(rows, methods, srcs, geoms) -> list[dict[str, Any]]:
    out = []
    for src in list(srcs) + (["all"] if len(srcs) > 1 else []):
        for w, _rng, label in geoms:
            for m in methods:
                sel = [r for r in rows if r["tilt_range"] == label and r["method"] == m
                       and (src == "all" or r["source"] == src)]
                if not sel:
                    continue
                d = {"source": src, "wedge_deg": w, "tilt_range": label, "method": m, "n": len(sel)}
                for k in ("psnr", "ssim", "nrmse", "reproj"):
                    v = np.array([r[k] for r in sel], np.float64)
                    d[k] = float(v.mean())
                    d[f"{k}_std"] = float(v.std())
                out.append(d)
    return out


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> list[str]:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_bytes(path, buf.getvalue().encode())
    return [str(path)]


_STYLE = {"wbp": ("tab:gray", "o"), "sart": ("tab:blue", "s"), "tv": ("tab:green", "^"), "irdm": ("tab:red", "D"),
          "tv_auto": ("tab:olive", "v"), "sirt_stop": ("tab:cyan", "P"), "irdm_iter": ("tab:purple", "X")}


def _figure(**kw):
    """A matplotlib figure with its own Agg canvas (no pyplot: no global backend or figure list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _savefig(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def _plot_metrics(out: Path, summary, methods, srcs, wedges) -> list[str]:
    files = []
    groups = (["all"] if len(srcs) > 1 else []) + list(srcs)
    for src in groups:
        fig = _figure(figsize=(13, 3.8))
        axes = fig.subplots(1, 3)
        for ax, (key, label) in zip(axes, [("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("nrmse", "NRMSE")]):
            for m in methods:
                sel = [r for r in summary if r["source"] == src and r["method"] == m]
                c, mk = _STYLE.get(m, ("k", "o"))
                for sym in (True, False):  # symmetric ranges: a line; asymmetric ones: open markers
                    pts = sorted((r["wedge_deg"], r[key], r[f"{key}_std"]) for r in sel if _symmetric(r) == sym)
                    if not pts:
                        continue
                    x, y, e = (np.array(v) for v in zip(*pts))
                    ax.errorbar(x, y, yerr=e, color=c, marker=mk, capsize=3, linestyle="-" if sym else "none",
                                markerfacecolor=None if sym else "none",
                                label=m.upper() if sym else f"{m.upper()} (asymmetric)")
            ax.set_xlabel("missing wedge (°)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.suptitle(f"held-back {src if src != 'all' else ', '.join(srcs)}: mean ± sd vs missing wedge")
        name = "metrics_vs_wedge.png" if src == groups[0] else f"metrics_vs_wedge_{src}.png"
        files.append(_savefig(fig, out / name))
    return files


def _symmetric(r: dict) -> bool:
    """Whether a summary row's tilt range is symmetric (rows without one are)."""
    tr = r.get("tilt_range")
    if not tr:
        return True
    lo, hi = (float(a) for a in tr.split(":"))
    return abs(lo + hi) < 1e-9


def _plot_grids(out: Path, examples, methods, wedges) -> list[str]:
    files = []
    want = [w for w in (40.0, 60.0, 80.0) if w in wedges] or list(wedges)[:3]
    cols = ["truth"] + [m for m in METHODS if m in methods]
    for src, by_w in examples.items():
        rows_w = [w for w in want if w in by_w]
        if not rows_w:
            continue
        fig = _figure(figsize=(2.3 * len(cols), 2.4 * len(rows_w)))
        axes = fig.subplots(len(rows_w), len(cols), squeeze=False)
        for r, w in enumerate(rows_w):
            for c, name in enumerate(cols):
                ax = axes[r, c]
                ax.imshow(by_w[w][name], cmap="gray", vmin=0.0, vmax=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(name.upper() if name != "truth" else "ground truth")
                if c == 0:
                    ax.set_ylabel(f"wedge {w:g}°")
        fig.suptitle(f"{src}: held-back sample (tilt axis normal to the page, z (beam at 0°) vertical)")
        files.append(_savefig(fig, out / f"grid_{src}.png"))
    return files
