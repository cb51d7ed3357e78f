"""Power spectra of volumes, slices and projections with frequency axes in 1/Å.

Conventions: spectra are ``fftshift``-ed, so zero frequency sits at index ``n // 2`` of every
axis; axes keep the array order, i.e. a volume ``(nz, ny, nx)`` gives a spectrum indexed
``(kz, ky, kx)``. Frequencies are ``fftshift(fftfreq(n, d=pixel_size_A))`` in 1/Å.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "central_sections",
    "frequency_axes",
    "power_spectrum",
    "power_spectrum_3d",
    "spectrum_2d",
    "window_nd",
]

WindowName = Literal["hann", "tukey", "none"]


def _check_pixel(pixel_size_A) -> float:
    if pixel_size_A is None:
        raise ParameterError("pixel size is missing: give `pixel_size_A` in Å, frequencies need it", "pixel_size_A")
    p = float(pixel_size_A)
    if not np.isfinite(p) or p <= 0:
        raise ParameterError(f"pixel size `pixel_size_A` must be a positive number of Å, got {pixel_size_A}", "pixel_size_A")
    return p


def window_nd(shape, window: str | None = "hann") -> np.ndarray | None:
    """Separable apodisation window for ``shape`` (``None`` for ``"none"``).

    ``"hann"``: a Hann window along every axis; ``"tukey"``: flat top with cosine edges over the
    outer 10 % (keeps more of an off-centre particle).
    """
    name = "none" if window is None else str(window).lower()
    if name == "none":
        return None
    from scipy.signal import windows

    out = None
    for ax, n in enumerate(shape):
        if name == "hann":
            w = windows.hann(n, sym=False) if n > 1 else np.ones(1)
        elif name == "tukey":
            w = windows.tukey(n, alpha=0.2, sym=False) if n > 1 else np.ones(1)
        else:
            raise ValueError(f"unknown window {window!r}: use 'hann', 'tukey' or 'none'")
        sh = [1] * len(shape)
        sh[ax] = n
        w = w.reshape(sh)
        out = w if out is None else out * w
    return out


def frequency_axes(shape, pixel_size_A: float) -> tuple[np.ndarray, ...]:
    """Centred frequency axis (1/Å) of each dimension, matching an ``fftshift``-ed spectrum."""
    p = _check_pixel(pixel_size_A)
    return tuple(np.fft.fftshift(np.fft.fftfreq(int(n), d=p)) for n in shape)


def power_spectrum(data, pixel_size_A: float, *, window: str | None = "hann", log: bool = True):
    """Power spectrum of an N-D array; see :func:`power_spectrum_3d` (any dimension)."""
    from scipy import fft

    p = _check_pixel(pixel_size_A)
    # double precision keeps the log floor clean; large volumes use single precision to bound memory
    a = np.asarray(data, dtype=np.float64 if np.size(data) <= 256**3 else np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError("data contains NaN or Inf: replace them (e.g. np.nan_to_num) before taking a spectrum")
    a = a - a.mean()
    w = window_nd(a.shape, window)
    if w is not None:
        a = a * w
    f = fft.fftn(a, workers=-1)
    power = f.real**2 + f.imag**2
    power = fft.fftshift(power)
    if log:
        floor = max(float(power.max()) * 1e-16, np.finfo(np.float64).tiny)
        power = np.log10(power + floor)
    return power.astype(np.float32), frequency_axes(a.shape, p)


def power_spectrum_3d(volume, pixel_size_A: float, *, window: str | None = "hann", log: bool = True):
    """Power spectrum of a volume.

    Parameters
    ----------
    volume : array_like, shape (nz, ny, nx)
        Real-space volume (mean removed before the transform).
    pixel_size_A : float
        Voxel size in Å.
    window : {"hann", "tukey", "none"}
        Apodisation against the box edges.
    log : bool
        ``log10(|F|² + floor)`` when true (floor: 1e-16 of the maximum), else ``|F|²``.

    Returns
    -------
    spec : ndarray, shape (nz, ny, nx), float32
        ``fftshift``-ed: zero frequency at ``(nz//2, ny//2, nx//2)``, axes ``(kz, ky, kx)``.
    freqs : tuple of 3 ndarrays
        ``(kz, ky, kx)`` frequency axes in 1/Å.

    Raises
    ------
    ValueError
        Not 3-D, missing pixel size, NaN/Inf.
    """
    shape = tuple(np.shape(volume))
    if len(shape) != 3:
        raise ValueError(f"volume must be 3-D (nz, ny, nx), got shape {shape}: pass a reconstructed volume")
    return power_spectrum(volume, pixel_size_A, window=window, log=log)


def spectrum_2d(image, pixel_size_A: float, *, window: str | None = "hann", log: bool = True):
    """Power spectrum of a 2-D slice or projection.

    Parameters
    ----------
    image : array_like, shape (ny, nx)
    pixel_size_A : float

    Returns
    -------
    spec : ndarray, shape (ny, nx), float32
        ``fftshift``-ed, zero frequency at ``(ny//2, nx//2)``.
    freqs : (ky, kx)
        Frequency axes in 1/Å.
    """
    shape = tuple(np.shape(image))
    if len(shape) != 2:
        raise ValueError(f"image must be 2-D (ny, nx), got shape {shape}: pick one slice or projection")
    return power_spectrum(image, pixel_size_A, window=window, log=log)


def central_sections(spec, *, half_width: int = 0, reduce: Literal["max", "mean"] = "max") -> dict[str, np.ndarray]:
    """Central planes of a centred 3-D spectrum ``(kz, ky, kx)``.

    Parameters
    ----------
    spec : ndarray, shape (nz, ny, nx)
        From :func:`power_spectrum_3d`.
    half_width : int
        Reduce a slab of ``2·half_width + 1`` planes (``max`` shows Bragg spots lying a little
        off the plane).
    reduce : {"max", "mean"}

    Returns
    -------
    dict
        ``"kx-kz"``: ``(nz, nx)`` (the plane perpendicular to the tilt axis: the missing wedge
        shows here, around ``kz``); ``"kx-ky"``: ``(ny, nx)``; ``"ky-kz"``: ``(nz, ny)``.
    """
    s = np.asarray(spec)
    if s.ndim != 3:
        raise ValueError(f"spectrum must be 3-D (kz, ky, kx), got shape {s.shape}")
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    h = max(0, int(half_width))
    op = np.max if reduce == "max" else np.mean

    def slab(axis):
        c = s.shape[axis] // 2
        sl = [slice(None)] * 3
        sl[axis] = slice(max(0, c - h), c + h + 1)
        return op(s[tuple(sl)], axis=axis)

    return {"kx-kz": slab(1), "kx-ky": slab(0), "ky-kz": slab(2)}
