"""The alignment pipeline: coarse translation, tilt axis, rotation centre, projection matching."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from napari_irdm.align._pm import (
    Level,
    projection_matching_level,
    reprojection_residual,
    sharpness_loss,
    sweep_centre,
    sweep_rotation,
    sweep_tilt_offset,
)
from napari_irdm.align._register import com_shifts, xcorr_shifts
from napari_irdm.align._transforms import Transforms, apply_transforms
from napari_irdm.data import TiltSeries
from napari_irdm.progress import Progress, run_to_completion

__all__ = ["METHODS", "AlignResult", "align", "align_iter"]

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
        ``residual_final`` (at the finest level), ``levels``, ``method``.
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


def align_iter(
    tilt_series: TiltSeries | np.ndarray,
    tilt_angles_deg=None,
    *,
    method: Literal["xcorr", "com", "pm"] = "pm",
    rotation_deg: float = 0.0,
    refine_rotation: bool = True,
    rotation_range_deg: float = 3.0,
    refine_centre: bool = True,
    centre_range_px: float | None = None,
    refine_tilt_offset: bool = False,
    levels: tuple[int, ...] = (4, 2, 1),
    iterations: int = 8,
    max_rows: int = 96,
    min_level_size: int = 32,
    fine_rounds: int = 1,
    coarse_method: Literal["xcorr", "com"] = "xcorr",
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
        Search ``φ`` within ``± rotation_range_deg`` of the start by minimising the re-projection
        residual (after the coarse shifts, at the coarsest and the finest level).
    refine_centre, centre_range_px
        Search a common x-shift (rotation-centre offset) the same way (default range: ``nx/8``).
    refine_tilt_offset : bool
        Also fit one offset added to all tilt angles (within ±3°).
    levels : tuple of int
        Binning factors from coarse to fine for the searches and projection matching; levels
        whose images would be smaller than ``min_level_size`` pixels are skipped.
    iterations : int
        Projection-matching iterations per level (``pm`` only).
    coarse_method : {"xcorr", "com"}
        Start of ``pm`` (centre of mass suits isolated HAADF objects with a flat background).
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
    a constant x-shift is the rotation-centre offset. The residual minimised throughout is the
    re-projection residual of a weighted back-projection, ``‖p − s·A W p‖² / ‖p‖²``.
    """
    from napari_irdm.device import resolve_device

    ts = tilt_series if isinstance(tilt_series, TiltSeries) else None
    data = ts.data if ts is not None else tilt_series
    angles_in = ts.tilt_angles_deg if (ts is not None and tilt_angles_deg is None) else tilt_angles_deg
    angles, lv = _check(data, angles_in, method, levels, iterations)
    dev = resolve_device(device)
    raw = torch.as_tensor(np.asarray(data, np.float32), device=dev)
    if not bool(torch.isfinite(raw).all()):
        raise ValueError("the tilt series contains NaN or Inf values: replace them before aligning")
    n, ny, nx = raw.shape
    lv = tuple(b for b in lv if min(ny, nx) // b >= min_level_size) or (1,)
    lv = tuple(sorted(set(lv), reverse=True))
    px = ts.pixel_size_A if ts is not None else None
    centre_range = float(centre_range_px) if centre_range_px is not None else nx / 8.0
    report: dict[str, Any] = {"method": method, "levels": list(lv), "residuals": {}}
    total = 4 + (iterations * len(lv) if method == "pm" else 0) + 2 * len(lv)
    step = 0
    yield Progress(step, total, f"coarse alignment ({method})")

    # 1. coarse translation (in the raw frame), then expressed after the rotation: d = A s
    coarse = Level(raw, lv[0], max_rows=max_rows)
    if method == "com" or coarse_method == "com":
        s, c_com = com_shifts(coarse.data, angles)
        report["com_centre_offset_px"] = c_com * coarse.binning
    else:
        s = xcorr_shifts(coarse.data, angles, rotation_deg=rotation_deg)
    t = coarse.from_level(Transforms.from_parameters(s, 0.0, angles))
    rot = Transforms.from_parameters(np.zeros((n, 2)), rotation_deg, angles)
    t = t.compose(rot)
    report["coarse_shifts"] = t.shifts_xy
    step += 1
    yield Progress(step, total, "coarse shifts found")

    rotation_done = False

    def searches(level: Level, t: Transforms):
        """Tilt-axis angle (wide grid once the images are ≥ 64 px, then ±0.5°) and centre."""
        nonlocal step, rotation_done
        tl = level.to_level(t)
        if refine_rotation and (min(level.ny, level.nx) >= 64 or level is finest):
            span = 0.5 if rotation_done else rotation_range_deg
            tl, _ = sweep_rotation(level, tl, span, tol_deg=0.01)
            rotation_done = True
            step = min(total, step + 1)
            yield Progress(step, total, f"tilt axis {tl.rotation_deg:.2f} deg (bin {level.binning})")
        if refine_centre:
            tl, _ = sweep_centre(level, tl, centre_range / level.binning if level is coarse else 1.5,
                                 tol_px=0.01)
            step = min(total, step + 1)
            yield Progress(step, total, f"rotation centre (bin {level.binning})")
        if refine_tilt_offset:
            tl, _ = sweep_tilt_offset(level, tl, 3.0 if level is coarse else 1.0, tol_deg=0.02)
        return level.from_level(tl)

    # 2. per level, coarse to fine: geometry searches, projection matching (pm), centre again;
    #    xcorr / com search at the coarsest and the finest level only
    finest = coarse if lv[-1] == lv[0] else Level(raw, lv[-1], max_rows=max_rows)
    report["residual_initial"] = reprojection_residual(finest, finest.to_level(t))
    todo = lv if method == "pm" else tuple(dict.fromkeys((lv[0], lv[-1])))
    # the tilt axis and the shifts are coupled: alternate them once more at the finest level
    todo = todo + (todo[-1],) * int(fine_rounds)
    for b in todo:
        level = coarse if b == coarse.binning else (finest if b == finest.binning else Level(raw, b, max_rows=max_rows))
        t = yield from searches(level, t)
        if method == "xcorr" and level is coarse and rotation_done and abs(t.rotation_deg - rotation_deg) > 0.2:
            # redo the stretched correlation on images rotated so that the axis runs along y
            rot_l = coarse.to_level(Transforms.from_parameters(np.zeros((n, 2)), t.rotation_deg, angles))
            s2 = xcorr_shifts(apply_transforms(coarse.data, rot_l), angles, rotation_deg=0.0)
            m = rot_l.matrices.copy()
            m[:, :, 2] += s2  # shifts found after the rotation: x' = A x + d_rot + s2
            t2, _ = sweep_centre(coarse, rot_l.replace(matrices=m), centre_range / coarse.binning, tol_px=0.05)
            if sharpness_loss(coarse, t2) < sharpness_loss(coarse, coarse.to_level(t)):
                t = coarse.from_level(t2)
        if method == "pm":
            tl, res = yield from projection_matching_level(level, level.to_level(t), iterations=iterations,
                                                           max_shift=max(4.0, 16.0 / b))
            report["residuals"][b] = res
            if refine_centre:
                tl, _ = sweep_centre(level, tl, 1.0, tol_px=0.01)
            t = level.from_level(tl)
        step = min(total, step + 1)
        yield Progress(step, total, f"bin {b} done")
    if refine_rotation and method == "pm":
        # the shifts are now accurate: one last look at the tilt axis (and the centre) with them
        tl, _ = sweep_rotation(finest, finest.to_level(t), 0.5, tol_deg=0.01)
        if refine_centre:
            tl, _ = sweep_centre(finest, tl, 1.0, tol_px=0.01)
        t = finest.from_level(tl)
        step = min(total, step + 1)
        yield Progress(step, total, f"tilt axis {t.rotation_deg:.2f} deg (final)")
    report["residual_final"] = reprojection_residual(finest, finest.to_level(t))
    report["rotation_deg"] = t.rotation_deg
    d = t.shifts_xy
    th = np.deg2rad(t.tilt_angles_deg)
    g = np.stack([np.ones_like(th), np.cos(th), np.sin(th)], 1)
    report["centre_offset_px"] = float(np.linalg.lstsq(g, d[:, 0], rcond=None)[0][0])
    report["tilt_offset_deg"] = float(np.mean(t.tilt_angles_deg - angles))
    t = t.replace(pixel_size_A=px, image_shape=(ny, nx), provenance=(
        f"napari-irdm align method={method} levels={','.join(map(str, lv))} rotation={t.rotation_deg:.3f} deg",))
    aligned = apply_transforms(raw, t).cpu().numpy()
    prov = (tuple(ts.provenance) if ts is not None else ()) + (
        f"aligned: method={method}, tilt axis {t.rotation_deg:.3f} deg, centre offset "
        f"{report['centre_offset_px']:.2f} px, residual {report['residual_initial']:.4g} -> {report['residual_final']:.4g}",)
    out = TiltSeries(data=aligned, tilt_angles_deg=t.tilt_angles_deg.copy(), pixel_size_A=px,
                     angle_source=ts.angle_source if ts is not None else "explicit",
                     tilt_axis=ts.tilt_axis if ts is not None else "y",
                     source=ts.source if ts is not None else None, provenance=prov)
    yield Progress(total, total, "aligned")
    return AlignResult(series=out, transforms=t, report=report)


def align(tilt_series, tilt_angles_deg=None, **kwargs) -> AlignResult:
    """Eager wrapper of :func:`align_iter` (same parameters)."""
    return run_to_completion(align_iter(tilt_series, tilt_angles_deg, **kwargs))
