"""Preprocessing of raw tilt series before alignment / reconstruction (NumPy in, NumPy out)."""

from __future__ import annotations

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "bin_images",
    "check_bin",
    "normalise_intensity",
    "parse_crop",
    "parse_exclude",
    "preprocess_series",
    "read_preprocessed",
    "remove_hot_pixels",
    "subtract_background",
]


def bin_images(data: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor × factor`` blocks of each image ``(n, ny, nx)``.

    Images are first cropped to a multiple of ``factor`` (the remainder split between both
    edges), so the binned pixel centres stay on the original image centre (exactly for an even
    remainder, within half an original pixel otherwise).
    """
    b = int(factor)
    if b < 1 or b != factor:
        raise ValueError(f"binning factor must be a positive whole number, got {factor}")
    if b == 1:
        return np.asarray(data, np.float32)
    n, ny, nx = data.shape
    if ny < b or nx < b:
        raise ValueError(f"cannot bin {ny}x{nx} images by {b}: the factor is larger than the image")
    ry, rx = ny % b, nx % b
    d = np.asarray(data[:, ry // 2 : ny - (ry - ry // 2), rx // 2 : nx - (rx - rx // 2)], np.float32)
    return d.reshape(n, ny // b, b, nx // b, b).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)


def subtract_background(data: np.ndarray, *, percentile: float = 5.0) -> np.ndarray:
    """Subtract each image's ``percentile`` (detector offset / vacuum level)."""
    d = np.asarray(data, np.float32)
    return d - np.percentile(d.reshape(d.shape[0], -1), percentile, axis=1).astype(np.float32)[:, None, None]


def normalise_intensity(data: np.ndarray) -> np.ndarray:
    """Scale images to a common total intensity (beam-current drift); the mean total is kept."""
    d = np.asarray(data, np.float32)
    tot = d.reshape(d.shape[0], -1).sum(axis=1, dtype=np.float64)
    if np.any(tot <= 0):
        raise ValueError("intensity normalisation needs images with a positive total: subtract the background first")
    return (d * (tot.mean() / tot)[:, None, None]).astype(np.float32)


def remove_hot_pixels(data: np.ndarray, *, threshold: float = 8.0) -> np.ndarray:
    """Replace pixels more than ``threshold`` robust standard deviations above their 3×3 median."""
    from scipy import ndimage

    d = np.array(data, np.float32)
    for k in range(d.shape[0]):
        med = ndimage.median_filter(d[k], size=3)
        diff = d[k] - med
        mad = np.median(np.abs(diff)) * 1.4826 + 1e-12
        hot = diff > threshold * mad
        d[k][hot] = med[hot]
    return d


def parse_exclude(text: str | None, n: int) -> list[int]:
    """``"0,5,70-76"`` → sorted indices; ``ValueError`` with the fix for anything else."""
    if not text:
        return []
    out: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                out.update(range(min(lo, hi), max(lo, hi) + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise ParameterError(f"`exclude` {text!r}: give 0-based image indices and ranges such as 0,5,70-76",
                             "exclude") from None
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ParameterError(f"`exclude`: image {bad[0]} does not exist (the series has images 0..{n - 1})", "exclude")
    if n - len(out) < 3:
        raise ParameterError(f"`exclude` leaves {n - len(out)} images: at least 3 are needed", "exclude")
    return sorted(out)


def parse_crop(crop: str, ny: int, nx: int) -> tuple[int, int, int, int]:
    """``"Y0:Y1,X0:X1"`` → ``(y0, y1, x0, x1)`` inside ``ny × nx`` images (at least 16×16 kept)."""
    try:
        ys, xs = str(crop).split(",")
        y0, y1 = (int(v) for v in ys.split(":"))
        x0, x1 = (int(v) for v in xs.split(":"))
    except ValueError:
        raise ParameterError(f"`crop` {crop!r}: give rows and columns as Y0:Y1,X0:X1 (e.g. 0:512,100:612)",
                             "crop") from None
    if not (0 <= y0 < y1 <= ny and 0 <= x0 < x1 <= nx) or min(y1 - y0, x1 - x0) < 16:
        raise ParameterError(f"`crop` {crop}: must lie inside the {ny}x{nx} images and keep at least 16x16 pixels",
                             "crop")
    return y0, y1, x0, x1


def check_bin(factor) -> int:
    """The binning factor (``None`` → 1); ``ValueError`` unless a positive whole number."""
    b = 1 if factor is None else factor
    if int(b) != b or int(b) < 1:
        raise ParameterError(f"`bin` must be a positive whole number, got {factor}", "bin")
    return int(b)


#: the filters by step (the keyword arguments of preprocess_series carry the same names)
_STEPS = {"hot": remove_hot_pixels, "background": subtract_background, "normalise": normalise_intensity}


def _per_image_steps(shape, *, crop, remove_hot_pixels, subtract_background, b):
    """``(function of a chunk of images, provenance steps)``: crop, hot pixels, background, bin.

    Every step works image by image, so it gives the same result on the whole series or on
    any chunk of it (which is what lets :func:`read_preprocessed` stream).
    """
    steps = []
    box = None
    if crop:
        box = parse_crop(crop, *shape)
        steps.append(f"cropped rows {box[0]}:{box[1]}, columns {box[2]}:{box[3]}")
    if remove_hot_pixels:
        steps.append("hot pixels replaced by their 3x3 median (> 8 robust sigma)")
    if subtract_background:
        steps.append("subtracted each image's 5th percentile")
    if b > 1:
        ny, nx = (box[1] - box[0], box[3] - box[2]) if box else shape
        if ny < b or nx < b:
            raise ParameterError(f"`bin` {b} is larger than the {ny}x{nx} images: use a smaller factor", "bin")
        steps.append(f"binned {b}x{b}")

    def apply(data: np.ndarray) -> np.ndarray:
        if box is not None:
            data = np.ascontiguousarray(data[:, box[0] : box[1], box[2] : box[3]])
        if remove_hot_pixels:
            data = _STEPS["hot"](data)
        if subtract_background:
            data = _STEPS["background"](data)
        return bin_images(data, b) if b > 1 else data

    return apply, steps


def _finish(ts, data, angles, excluded, steps, normalise: bool, b: int):
    """Exclusion and intensity normalisation (whole-series steps), pixel size, provenance."""
    if excluded:
        keep = np.setdiff1d(np.arange(data.shape[0]), excluded)
        data, angles = np.ascontiguousarray(data[keep]), angles[keep]
        steps.insert(0, f"excluded images {','.join(map(str, excluded))} (0-based)")
    if normalise:
        data = _STEPS["normalise"](data)
        steps.append("images scaled to one total intensity")
    if not steps:
        return ts, excluded
    px = ts.pixel_size_A
    px = None if px is None else px * b
    prov = tuple(ts.provenance) + tuple(f"preprocessed: {s}" for s in steps)
    return ts.replace(data=data, tilt_angles_deg=angles, pixel_size_A=px, provenance=prov), excluded


def preprocess_series(ts, *, exclude: str | None = None, crop: str | None = None, remove_hot_pixels: bool = False,
                      subtract_background: bool = False, normalise_intensity: bool = False, bin=None):
    """A :class:`~napari_irdm.data.TiltSeries` preprocessed in a fixed order, each step in its provenance.

    Order: ``exclude`` (``"0,5,70-76"``, 0-based), ``crop`` (``"Y0:Y1,X0:X1"`` of the images as
    read), hot-pixel removal, background subtraction, ``bin`` (pixel size scaled), intensity
    normalisation. Shared by the Align widget; ``napari-irdm align`` and ``reconstruct`` use
    :func:`read_preprocessed` (the same steps while reading). Provenance lines start with
    ``preprocessed:``.

    Returns
    -------
    series : TiltSeries
    excluded : list of int
        The excluded image indices.
    """
    b = check_bin(bin)
    excluded = parse_exclude(exclude, ts.n_tilts)
    apply, steps = _per_image_steps(ts.data.shape[1:], crop=crop, remove_hot_pixels=remove_hot_pixels,
                                    subtract_background=subtract_background, b=b)
    data = apply(ts.data) if steps else ts.data
    return _finish(ts, data, ts.tilt_angles_deg, excluded, steps, normalise_intensity, b)


def read_preprocessed(path, *, exclude: str | None = None, crop: str | None = None, remove_hot_pixels: bool = False,
                      subtract_background: bool = False, normalise_intensity: bool = False, bin=None, **read_kwargs):
    """Read a tilt series and preprocess it while reading: the full-size series is never in memory.

    Crop, hot pixels, background and ``bin`` run on each chunk of images as it comes off the
    file (:func:`napari_irdm.io.read_tilt_series` ``prepare``), so a 4k series binned 4× needs
    the memory of the binned series plus one chunk. The result equals
    ``preprocess_series(read_tilt_series(path, **read_kwargs), ...)`` exactly.

    Parameters
    ----------
    path
        Any tilt series :func:`napari_irdm.io.read_tilt_series` reads.
    exclude, crop, remove_hot_pixels, subtract_background, normalise_intensity, bin
        As in :func:`preprocess_series`.
    **read_kwargs
        Passed to :func:`napari_irdm.io.read_tilt_series` (angles, tilt axis, pixel size...).

    Returns
    -------
    series : TiltSeries
    excluded : list of int
    """
    from napari_irdm.io import read_tilt_series

    b = check_bin(bin)
    plan: dict = {}

    def prepare(chunk: np.ndarray) -> np.ndarray:
        if "apply" not in plan:  # the image shape is known from the first chunk
            plan["apply"], plan["steps"] = _per_image_steps(
                chunk.shape[1:], crop=crop, remove_hot_pixels=remove_hot_pixels,
                subtract_background=subtract_background, b=b)
        return plan["apply"](chunk)

    ts = read_tilt_series(path, prepare=prepare, **read_kwargs)
    excluded = parse_exclude(exclude, ts.n_tilts)
    return _finish(ts, ts.data, ts.tilt_angles_deg, excluded, list(plan.get("steps", [])), normalise_intensity, b)
