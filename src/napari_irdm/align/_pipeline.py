"""The alignment pipeline: coarse translation, tilt axis, rotation centre, projection matching."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from napari_irdm.align._axis import AXIS_ELSEWHERE_RATIO, scan_axis, sweep_rotation_common_line
from napari_irdm.align._pm import (
    Level,
    projection_matching_level,
    reprojection_residual,
    sharpness_loss,
    sweep_centre,
    sweep_rotation,
    sweep_tilt_offset,
)
from napari_irdm.align._register import com_centre_offset, com_shifts, xcorr_shifts
from napari_irdm.align._transforms import Transforms, apply_transforms
from napari_irdm.data import TiltSeries
from napari_irdm.progress import Progress, run_to_completion

__all__ = ["AXIS_METHODS", "CENTRE_METHODS", "METHODS", "AlignResult", "align", "align_iter"]

METHODS = ("xcorr", "com", "pm")


@dataclass(frozen=True)
class AlignResult:
    """What :func:`align_iter` returns.

    Attributes
    ----------
    series : TiltSeries
        The aligned series (tilt axis along ``y`` through the image centre), refined angles.
    transforms : Transforms
        Raw → aligned, in pixels of the input series (``.xf`` semantics).
    report : dict
        ``coarse_shifts`` (n, 2), ``rotation_deg``, ``centre_offset_px``, ``tilt_offset_deg``,
        ``residuals`` (``{binning: [residual per accepted iteration]}``), ``residual_initial`` /
        ``residual_final`` (at the finest level), ``residual_per_image`` and ``suspect_images``
        (:func:`suspect_images`: residual at least :data:`SUSPECT_RESIDUAL_RATIO` × that of the
        neighbouring tilts, an image one shift cannot explain), ``levels``, ``method``.
    """

    series: TiltSeries
    transforms: Transforms
    report: dict = field(default_factory=dict)


def _check(data, angles, method, levels, iterations):
    if method not in METHODS:
        raise ValueError(f"alignment method {method!r} is unknown: use one of {', '.join(METHODS)}")
    shape = tuple(getattr(data, "shape", ()))
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"a tilt series to align must be 3-D (n_tilts, ny, nx), got shape {shape}")
    if shape[0] < 3:
        raise ValueError(f"aligning needs at least 3 images, got {shape[0]}")
    if min(shape[1:]) < 16:
        raise ValueError(f"images of {shape[1]}x{shape[2]} pixels are too small to align: need at least 16x16")
    from napari_irdm.geometry import check_angles

    a = check_angles(angles, shape[0], what="tilt series to align")
    lv = tuple(int(b) for b in levels)
    if not lv or any(b < 1 for b in lv):
        raise ValueError(f"levels must be positive binning factors such as (4, 2, 1), got {levels}")
    if int(iterations) < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    return a, lv


AXIS_METHODS = ("common-line", "reprojection")
CENTRE_METHODS = ("auto", "sharpness", "com")
#: ``centre_method="auto"`` takes the centre of mass when the mass varies less than this over the images
MASS_SPREAD_MAX = 0.03


@dataclass(frozen=True)
class _Options:
    """The keyword options of :func:`align_iter`, checked and resolved."""

    method: str
    rotation_deg: float
    refine_rotation: bool
    rotation_range_deg: float
    refine_centre: bool
    centre_range_px: float
    refine_tilt_offset: bool
    levels: tuple[int, ...]
    iterations: int
    max_rows: int
    fine_rounds: int
    coarse_method: str
    axis_method: str
    centre_method: str = "auto"


class _Steps:
    """Progress counter shared by the stages (never past ``total``)."""

    def __init__(self, total: int):
        self.step, self.total = 0, total

    def __call__(self, message: str, advance: int = 1) -> Progress:
        self.step = min(self.total, self.step + advance)
        return Progress(self.step, self.total, message)


def _coarse_transforms(coarse: Level, angles: np.ndarray, o: _Options, report: dict) -> Transforms:
    """Coarse translation (raw frame) composed with the starting rotation: full-resolution transforms.

    ``coarse_method="auto"`` (with ``pm``) computes both starts, the stretched-correlation chain
    and the centres of mass, and keeps the one whose coarse-level re-projection residual is
    lower (the chain accumulates error over many tilts; centres of mass fail on specimens that
    leave the field); the report's ``coarse_method`` records both residuals.
    """
    n = angles.size

    def start(how: str) -> Transforms:
        if how == "com":
            s, c_com = com_shifts(coarse.data, angles)
            report["com_centre_offset_px"] = c_com * coarse.binning
        else:
            s = xcorr_shifts(coarse.data, angles, rotation_deg=o.rotation_deg)
        t = coarse.from_level(Transforms.from_parameters(s, 0.0, angles))
        return t.compose(Transforms.from_parameters(np.zeros((n, 2)), o.rotation_deg, angles))

    if o.method == "com" or o.coarse_method == "com":
        t, report["coarse_method"] = start("com"), "com"
    elif o.coarse_method == "auto" and o.method == "pm":
        cands = {how: start(how) for how in ("xcorr", "com")}
        res = {how: reprojection_residual(coarse, coarse.to_level(t)) for how, t in cands.items()}
        best = min(res, key=lambda how: res[how])
        t = cands[best]
        report["coarse_method"] = f"{best} (coarse residual xcorr {res['xcorr']:.4g}, com {res['com']:.4g})"
    else:
        t, report["coarse_method"] = start("xcorr"), "xcorr"
    report["coarse_shifts"] = t.shifts_xy
    return t


def _axis_search(level: Level, tl: Transforms, o: _Options, span: float) -> Transforms:
    """Tilt-axis angle within ``± span`` degrees (level coordinates in and out)."""
    if o.axis_method == "common-line":
        return sweep_rotation_common_line(level.data, tl, span, tol_deg=0.005)[0]
    return sweep_rotation(level, tl, span, tol_deg=0.01)[0]


#: an image whose re-projection residual after alignment is this many times the median of its
#: neighbours in tilt (three on each side) is reported (``report["suspect_images"]``). The
#: residual grows smoothly towards the end tilts (to 9× the series' median on a 64² phantom at
#: ±70°; its neighbours are then ≤ 2.5× lower); a phantom image that jumped 20 px and was turned
#: over reached 68× the median, a NIST needle image treated so 27×
SUSPECT_RESIDUAL_RATIO = 6.0


def _final_residuals(finest: Level, t: Transforms, report: dict) -> None:
    """``residual_final``, ``residual_per_image`` and ``suspect_images`` of the report."""
    report["residual_final"], per = reprojection_residual(finest, finest.to_level(t), per_image=True)
    report["residual_per_image"] = per.tolist()
    report["suspect_images"] = suspect_images(per, t.tilt_angles_deg)


def suspect_images(per_image, tilt_angles_deg, *, ratio: float = SUSPECT_RESIDUAL_RATIO, half: int = 3) -> list[int]:
    """Indices whose residual is at least ``ratio`` × the median of their ``2·half`` nearest tilts."""
    per = np.asarray(per_image, np.float64)
    order = np.argsort(np.asarray(tilt_angles_deg, np.float64), kind="stable")
    r = per[order]
    n = r.size
    out = []
    width = min(n, 2 * half + 1)  # a window of this many tilts around each one, shifted inwards at the ends
    for k in range(n):
        lo = min(max(0, k - half), n - width)
        neigh = np.delete(r[lo : lo + width], k - lo)
        if neigh.size and r[k] >= ratio * max(float(np.median(neigh)), 1e-12):
            out.append(int(order[k]))
    return sorted(out)


#: the search near the start (degrees) after a wide scan has picked the start
LOCAL_AXIS_RANGE_DEG = 3.0


def _scan_every_direction(raw: torch.Tensor, angles: np.ndarray, o: _Options, report: dict) -> _Options:
    """Common-line scan of every tilt-axis direction (:func:`~napari_irdm.align._axis.scan_axis`).

    With ``rotation_range_deg`` wider than :data:`LOCAL_AXIS_RANGE_DEG` the scan's best angle
    within that range becomes the start of the usual search (``report["axis_scan_deg"]``).
    Otherwise the result is unchanged, and a clearly better direction elsewhere
    (:data:`~napari_irdm.align._axis.AXIS_ELSEWHERE_RATIO`) is recorded as
    ``report["axis_elsewhere_deg"]`` and ``report["axis_elsewhere_ratio"]`` for a warning.
    """
    if not (o.refine_rotation and o.axis_method == "common-line"):
        return o
    grid, spread = scan_axis(raw, angles, o.rotation_deg)
    near = np.abs(grid - o.rotation_deg) <= max(o.rotation_range_deg, 1.0)
    if o.rotation_range_deg > LOCAL_AXIS_RANGE_DEG:
        best = float(grid[near][int(np.argmin(spread[near]))])
        report["axis_scan_deg"] = best
        return replace(o, rotation_deg=best, rotation_range_deg=LOCAL_AXIS_RANGE_DEG)
    j = int(np.argmin(spread))
    ratio = float(spread[j] / max(float(spread[near].min()), 1e-30))
    if ratio < AXIS_ELSEWHERE_RATIO and abs(grid[j] - o.rotation_deg) > o.rotation_range_deg + 2.0:
        report["axis_elsewhere_deg"], report["axis_elsewhere_ratio"] = float(grid[j]), ratio
    return o


def _searches(level: Level, t: Transforms, o: _Options, state: dict, steps: _Steps):
    """Tilt axis (wide range once, then ±0.5°), rotation centre and tilt offset at one level."""
    tl = level.to_level(t)
    first = not state["rotation_done"]
    wide_enough = o.axis_method == "common-line" or min(level.ny, level.nx) >= 64 or level is state["finest"]
    if o.refine_rotation and wide_enough:
        tl = _axis_search(level, tl, o, o.rotation_range_deg if first else 0.5)
        state["rotation_done"] = True
        yield steps(f"tilt axis {tl.rotation_deg:.2f} deg (bin {level.binning})")
    if o.refine_centre:
        coarse = level is state["coarse"]
        tl = _centre(level, tl, state, o.centre_range_px / level.binning if coarse else 1.5, tol_px=0.01)
        yield steps(f"rotation centre (bin {level.binning})")
    if o.refine_tilt_offset:
        tl, _ = sweep_tilt_offset(level, tl, 3.0 if level is state["coarse"] else 1.0, tol_deg=0.02)
    return level.from_level(tl)


def _xcorr_again(coarse: Level, t: Transforms, o: _Options) -> Transforms:
    """Redo the stretched correlation on images rotated so that the axis runs along y (``xcorr``)."""
    angles = t.tilt_angles_deg
    rot_l = coarse.to_level(Transforms.from_parameters(np.zeros((angles.size, 2)), t.rotation_deg, angles))
    s2 = xcorr_shifts(apply_transforms(coarse.data, rot_l), angles, rotation_deg=0.0)
    m = rot_l.matrices.copy()
    m[:, :, 2] += s2  # shifts found after the rotation: x' = A x + d_rot + s2
    t2, _ = sweep_centre(coarse, rot_l.replace(matrices=m), o.centre_range_px / coarse.binning, tol_px=0.05)
    return coarse.from_level(t2) if sharpness_loss(coarse, t2) < sharpness_loss(coarse, coarse.to_level(t)) else t


def _level_pass(level: Level, t: Transforms, o: _Options, state: dict, steps: _Steps, report: dict):
    """One level: geometry searches, (xcorr) correlation again, projection matching (pm), centre."""
    t = yield from _searches(level, t, o, state, steps)
    coarse = level is state["coarse"]
    if o.method == "xcorr" and coarse and state["rotation_done"] and abs(t.rotation_deg - o.rotation_deg) > 0.2:
        t = _xcorr_again(level, t, o)
    if o.method == "pm":
        b = level.binning
        tl, res = yield from projection_matching_level(level, level.to_level(t), iterations=o.iterations,
                                                       max_shift=max(4.0, 16.0 / b))
        report["residuals"][b] = res
        if o.refine_centre:
            tl = _centre(level, tl, state, 1.0, tol_px=0.01)
        t = level.from_level(tl)
    yield steps(f"bin {level.binning} done")
    return t


def _final_axis(finest: Level, t: Transforms, o: _Options, state: dict, steps: _Steps):
    """With accurate shifts, one last look at the tilt axis and the centre (``pm``)."""
    if not (o.refine_rotation and o.method == "pm"):
        return t
    tl = _axis_search(finest, finest.to_level(t), o, 0.5)
    if o.refine_centre:
        tl = _centre(finest, tl, state, 1.0, tol_px=0.01)
    yield steps(f"tilt axis {tl.rotation_deg:.2f} deg (final)")
    return finest.from_level(tl)


def _centre(level: Level, tl: Transforms, state: dict, half_range_px: float, tol_px: float) -> Transforms:
    """The rotation centre at one level (level coordinates): centres of mass or the sharpest WBP.

    Centres of mass (:func:`com_centre_offset`, raw images mapped through the alignment) are
    exact for an object inside the field with mass-thickness contrast; the sharpest-WBP sweep
    works for any specimen but its optimum can sit pixels off on extended objects, whose
    limited-angle streaks change the sparsity too. ``state["com"]`` says which (decided once).
    """
    if not state["com"]:
        return sweep_centre(level, tl, half_range_px, tol_px=tol_px)[0]
    t = level.from_level(tl)
    c, _ = com_centre_offset(state["raw"], t)
    m = t.matrices.copy()
    m[:, 0, 2] -= c
    return level.to_level(t.replace(matrices=m))


def _centre_choice(raw: torch.Tensor, angles: np.ndarray, o: _Options, report: dict) -> bool:
    """Whether the centres use centres of mass (``centre_method``, the mass spread); in the report."""
    if not o.refine_centre:
        report["centre_method"] = "none"
        return False
    _, spread = com_centre_offset(raw, Transforms.identity(angles))
    report["mass_spread"] = spread
    if o.centre_method == "com" or (o.centre_method == "auto" and spread <= MASS_SPREAD_MAX):
        report["centre_method"] = f"centre of mass (mass spread {spread:.2%})"
        return True
    why = "" if o.centre_method == "sharpness" else f" (mass varies {spread:.1%} over the images)"
    report["centre_method"] = "sharpness" + why
    return False


def _result(raw: torch.Tensor, ts: TiltSeries | None, t: Transforms, angles: np.ndarray, o: _Options,
            report: dict) -> AlignResult:
    """Report the geometry, resample the raw images once and wrap them as the aligned series."""
    n, ny, nx = raw.shape
    px = ts.pixel_size_A if ts is not None else None
    report["rotation_deg"] = t.rotation_deg
    th = np.deg2rad(t.tilt_angles_deg)
    g = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
    report["centre_offset_px"] = float(np.linalg.lstsq(g, t.shifts_xy[:, 0], rcond=None)[0][0])
    report["tilt_offset_deg"] = float(np.mean(t.tilt_angles_deg - angles))
    lv = ",".join(map(str, o.levels))
    t = t.replace(pixel_size_A=px, image_shape=(ny, nx), provenance=(
        f"napari-irdm align method={o.method} levels={lv} rotation={t.rotation_deg:.3f} deg",))
    aligned = apply_transforms(raw, t).cpu().numpy()
    prov = (tuple(ts.provenance) if ts is not None else ()) + (
        f"aligned: method={o.method}, tilt axis {t.rotation_deg:.3f} deg, centre offset "
        f"{report['centre_offset_px']:.2f} px, residual {report['residual_initial']:.4g} -> {report['residual_final']:.4g}",)
    out = TiltSeries(data=aligned, tilt_angles_deg=t.tilt_angles_deg.copy(), pixel_size_A=px,
                     angle_source=ts.angle_source if ts is not None else "explicit",
                     tilt_axis=ts.tilt_axis if ts is not None else "y",
                     source=ts.source if ts is not None else None, provenance=prov)
    return AlignResult(series=out, transforms=t, report=report)


def align_iter(
    tilt_series: TiltSeries | np.ndarray,
    tilt_angles_deg=None,
    *,
    method: Literal["xcorr", "com", "pm"] = "pm",
    rotation_deg: float = 0.0,
    refine_rotation: bool = True,
    rotation_range_deg: float = 3.0,
    axis_method: Literal["common-line", "reprojection"] = "common-line",
    refine_centre: bool = True,
    centre_range_px: float | None = None,
    refine_tilt_offset: bool = False,
    levels: tuple[int, ...] = (4, 2, 1),
    iterations: int = 8,
    max_rows: int = 96,
    min_level_size: int = 32,
    fine_rounds: int = 1,
    coarse_method: Literal["auto", "xcorr", "com"] = "auto",
    centre_method: Literal["auto", "sharpness", "com"] = "auto",
    device: Any = None,
) -> Generator[Progress, None, AlignResult]:
    """Align a single-axis tilt series; a progress generator that ``return``s an :class:`AlignResult`.

    Parameters
    ----------
    tilt_series : TiltSeries or ndarray, shape (n_tilts, ny, nx)
        Raw images, tilt axis roughly along ``y`` (rows).
    tilt_angles_deg : array_like, optional
        Needed for an array; a TiltSeries brings its own.
    method : {"xcorr", "com", "pm"}
        ``xcorr``: cosine-stretched cross-correlation of neighbours outward from the lowest tilt
        (``torch-tiltxcorr``); ``com``: centre of mass (HAADF, object inside the field);
        ``pm``: ``xcorr`` then projection matching coarse to fine.
    rotation_deg : float
        Starting tilt-axis angle ``φ`` in the images (degrees, counter-clockwise from ``+y``).
    refine_rotation, rotation_range_deg
        Search ``φ`` within ``± rotation_range_deg`` of the start (then ±0.5° at each finer level
        and once more after projection matching). Every direction is first scanned on a small
        copy (common lines): with a range wider than 3° (up to 90°: any direction) the scan's
        best angle in the range starts a ±3° search; with 3° or less a much better direction
        elsewhere only goes into the report (``axis_elsewhere_deg``, ``axis_elsewhere_ratio``).
    axis_method : {"common-line", "reprojection"}
        Criterion of the tilt-axis search: the spread of the images summed along ``x`` after
        per-image ``y`` shifts (:mod:`napari_irdm.align._axis`; needs the specimen inside the
        field in ``x``), or the re-projection residual (any specimen, much flatter in ``φ``).
    refine_centre, centre_range_px
        Search a common x-shift (rotation-centre offset) making the WBP sharpest (default range ``nx/8``).
    centre_method : {"auto", "sharpness", "com"}
        Criterion of the rotation centre at every level: the sharpest WBP, or the centres of
        mass of the raw images mapped through the alignment (exact for an object inside the field with mass-thickness
        contrast). ``auto``: centre of mass when the background-subtracted mass varies by at
        most :data:`MASS_SPREAD_MAX` (3 %) over the images, else sharpness; the report's
        ``centre_method`` says which was used.
    refine_tilt_offset : bool
        Also fit one offset added to all tilt angles (within ±3°).
    levels : tuple of int
        Binning factors from coarse to fine for the searches and projection matching; levels
        whose images would be smaller than ``min_level_size`` pixels are skipped.
    iterations : int
        Projection-matching iterations per level (``pm`` only).
    coarse_method : {"auto", "xcorr", "com"}
        Start of ``pm``: the stretched-correlation chain, the centres of mass (isolated HAADF
        objects, flat background), or ``auto``: both, keeping the one with the lower coarse-level
        re-projection residual (recorded in the report's ``coarse_method``).
    fine_rounds : int
        Extra rounds of (tilt axis, centre, projection matching) at the finest level.
    max_rows : int
        Reconstruct at most this many (evenly spaced) rows per level; with fewer rows than the
        image only ``x`` is refined at that level.
    device : str or torch.device, optional

    Returns
    -------
    AlignResult

    Notes
    -----
    The misalignment model is one in-plane rotation of the tilt axis about the image centre plus
    one shift per image, ``aligned(A x + d) = raw(x)`` with ``A = R(−φ)``. Shifts of the form
    ``a cos θ + b sin θ`` (x) and constants (y) only translate the specimen and are not fitted;
    a constant x-shift is the rotation-centre offset. Projection matching minimises the
    re-projection residual of a SIRT reconstruction, ``‖p − s·A x‖² / ‖p‖²``.
    """
    from napari_irdm.device import resolve_device

    ts = tilt_series if isinstance(tilt_series, TiltSeries) else None
    data = ts.data if ts is not None else tilt_series
    angles_in = ts.tilt_angles_deg if (ts is not None and tilt_angles_deg is None) else tilt_angles_deg
    angles, lv = _check(data, angles_in, method, levels, iterations)
    _check_choices(axis_method, centre_method, rotation_range_deg)
    raw = torch.as_tensor(np.asarray(data, np.float32), device=resolve_device(device))
    if not bool(torch.isfinite(raw).all()):
        raise ValueError("the tilt series contains NaN or Inf values: replace them before aligning")
    n, ny, nx = raw.shape
    lv = tuple(sorted({b for b in lv if min(ny, nx) // b >= min_level_size} or {1}, reverse=True))
    o = _Options(method, float(rotation_deg), bool(refine_rotation), float(rotation_range_deg), bool(refine_centre),
                 float(centre_range_px) if centre_range_px is not None else nx / 8.0, bool(refine_tilt_offset), lv,
                 int(iterations), int(max_rows), int(fine_rounds), coarse_method, axis_method, centre_method)
    report: dict[str, Any] = {"method": method, "levels": list(lv), "residuals": {}, "axis_method": axis_method}
    steps = _Steps(4 + (o.iterations * len(lv) if method == "pm" else 0) + 2 * len(lv))
    yield Progress(0, steps.total, "tilt axis: scanning every direction")
    o = _scan_every_direction(raw, angles, o, report)
    yield Progress(0, steps.total, f"coarse alignment ({method})")
    coarse = Level(raw, lv[0], max_rows=max_rows)
    t = _coarse_transforms(coarse, angles, o, report)
    yield steps("coarse shifts found")
    finest = coarse if lv[-1] == lv[0] else Level(raw, lv[-1], max_rows=max_rows)
    report["residual_initial"] = reprojection_residual(finest, finest.to_level(t))
    state = {"rotation_done": False, "coarse": coarse, "finest": finest, "raw": raw,
             "com": _centre_choice(raw, angles, o, report)}
    todo = lv if method == "pm" else tuple(dict.fromkeys((lv[0], lv[-1])))
    # the tilt axis and the shifts are coupled: alternate them once more at the finest level
    for b in todo + (todo[-1],) * o.fine_rounds:
        level = {coarse.binning: coarse, finest.binning: finest}.get(b) or Level(raw, b, max_rows=max_rows)
        t = yield from _level_pass(level, t, o, state, steps, report)
    t = yield from _final_axis(finest, t, o, state, steps)
    _final_residuals(finest, t, report)
    result = _result(raw, ts, t, angles, o, report)
    yield Progress(steps.total, steps.total, "aligned")
    return result


def _check_choices(axis_method, centre_method, rotation_range_deg) -> None:
    """One-line ``ValueError`` for an unknown criterion or an axis range outside 0..90°."""
    if axis_method not in AXIS_METHODS:
        raise ValueError(f"axis_method {axis_method!r} is unknown: use one of {', '.join(AXIS_METHODS)}")
    if centre_method not in CENTRE_METHODS:
        raise ValueError(f"centre_method {centre_method!r} is unknown: use one of {', '.join(CENTRE_METHODS)}")
    if not 0.0 <= float(rotation_range_deg) <= 90.0:
        raise ValueError(f"rotation_range_deg {rotation_range_deg!r} must be within 0..90 degrees (90: any direction)")


def align(tilt_series, tilt_angles_deg=None, **kwargs) -> AlignResult:
    """Eager wrapper of :func:`align_iter` (same parameters)."""
    return run_to_completion(align_iter(tilt_series, tilt_angles_deg, **kwargs))
