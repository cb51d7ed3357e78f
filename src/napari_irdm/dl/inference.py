"""Slice-wise IRDM inference on volumes (``inpaint``) and on stacks of 2-D slices."""

from __future__ import annotations

import copy
import functools
import inspect
import os
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import torch
from torch import nn

from napari_irdm.device import available_memory_bytes, resolve_device
from napari_irdm.dl._norm import NormMethod, apply_norm, denormalise, slice_range
from napari_irdm.dl.consistency import DC_MIN_FREQ, apply_data_consistency, consistency_mask
from napari_irdm.geometry import check_angles
from napari_irdm.methods import IRDMParams
from napari_irdm.progress import Progress, run_to_completion
from napari_irdm.tomo._common import is_float32 as _is_float32
from napari_irdm.tomo._common import recorded_parameters

__all__ = ["inpaint", "inpaint_iter", "predict_slices", "prepare_model", "tta_flips"]

#: the user-facing defaults (napari_irdm.methods.IRDMParams: one definition for the core, CLI and widgets)
_D = IRDMParams()
DEFAULT_MODEL = _D.model


def prepare_model(
    model: str | os.PathLike | nn.Module = DEFAULT_MODEL, *, device=None, tilt_angles_deg=None
) -> nn.Module:
    """Return an inference-ready copy of ``model`` (eval mode, on ``device``, channels-last).

    A name or path is loaded with :func:`napari_irdm.dl.registry.load_model` (sha256
    verified); ``"auto"`` picks a shipped model for ``tilt_angles_deg``
    (:func:`napari_irdm.dl.registry.pick_model`); an ``nn.Module`` is deep-copied so the
    caller's module (e.g. a generator in training) keeps its mode, device and memory layout.
    """
    dev = resolve_device(device)
    if isinstance(model, nn.Module):
        net = copy.deepcopy(model).to(dev).eval()
    elif isinstance(model, str) and model == "auto":
        from napari_irdm.dl.registry import load_model, pick_model

        if tilt_angles_deg is None:
            raise ValueError("model='auto' needs the tilt angles to choose a model: pass tilt_angles_deg")
        net = load_model(pick_model(tilt_angles_deg), device=dev)
    elif isinstance(model, (str, os.PathLike)):
        from napari_irdm.dl.registry import load_model

        net = load_model(model, device=dev)
    else:
        raise ValueError(f"model must be a shipped name, a .pt path or an nn.Module, got {type(model).__name__}")
    _fuse_conv_bn(net)
    # channels-last roughly halves CPU (oneDNN) convolution time for these nets
    # (torch's Module.to stubs omit memory_format, accepted at run time)
    return net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def _fuse_conv_bn(module: nn.Module) -> None:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d in a Sequential into it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.children():
        if isinstance(child, nn.Sequential):
            for k in range(len(child) - 1):
                conv, bn = child[k], child[k + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not bn.training:
                    if bn.track_running_stats and bn.running_mean is not None:
                        child[k] = fuse_conv_bn_eval(conv, bn)
                        child[k + 1] = nn.Identity()
        _fuse_conv_bn(child)


def tta_flips(tilt_angles_deg=None, *, symmetric_tol_deg: float = 1.0,
              conditioned: bool = False) -> tuple[tuple[int, ...], ...]:
    """Flips of a ``(B, nz, nx)`` batch that keep a slice's missing wedge where it was.

    A 180° rotation (flip of both ``z`` and ``x``) maps every Fourier direction onto its own
    line, so it is valid for any tilt range. A single mirror (``z`` or ``x``) maps a tilt angle
    θ to −θ, so it is valid only for a range symmetric about 0 (within ``symmetric_tol_deg``),
    or for a model conditioned on the acquisition (``conditioned=True``), which is told the
    mirrored range ``(−hi, −lo)`` for those passes (:func:`flip_average`).

    Returns
    -------
    tuple of axis tuples for :func:`predict_slices`: ``((), (-2, -1))`` or, for a symmetric
    range or a conditioned model, ``((), (-2,), (-1,), (-2, -1))``.
    """
    if conditioned:
        return ((), (-2,), (-1,), (-2, -1))
    if tilt_angles_deg is not None:
        a = np.asarray(tilt_angles_deg, dtype=np.float64)
        if a.size and abs(float(a.min()) + float(a.max())) <= symmetric_tol_deg:
            return ((), (-2,), (-1,), (-2, -1))
    return ((), (-2, -1))


def is_conditioned(net: nn.Module) -> bool:
    """Whether ``net`` takes the acquisition (``net(x, cond)``; ``UNetPlusPlus(condition=...)``)."""
    return getattr(net, "condition", None) is not None


def flipped_acquisition(cond: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """The acquisition ``(lo, hi, step)`` of a slice flipped along ``axes`` (of ``(…, z, x)``).

    One mirror (``z`` or ``x``) maps θ → −θ, so ``(lo, hi)`` → ``(−hi, −lo)``; flipping both
    (a 180° rotation) or neither keeps it.
    """
    from napari_irdm.dl.unetpp import mirror_acquisition

    mirrors = len({int(a) % 2 for a in axes if int(a) in (-2, -1)})  # z (-2) and x (-1), each once
    return mirror_acquisition(cond) if mirrors == 1 else cond


def flip_average(net: nn.Module, x: torch.Tensor, flips: tuple[tuple[int, ...], ...] = ((),),
                 cond: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``flip(net(flip(x)))`` over ``flips`` (axis tuples of ``x``; ``()`` = as is), float32.

    ``cond`` (the acquisition ``(lo, hi, step)``, for a conditioned ``net``) goes with each
    pass, mirrored for a pass flipped along one axis (:func:`flipped_acquisition`).
    """
    y: torch.Tensor | None = None
    for axes in flips:
        xi = torch.flip(x, axes) if axes else x
        out = net(xi) if cond is None else net(xi, flipped_acquisition(cond, axes))
        yi = (torch.flip(out, axes) if axes else out).float()
        y = yi if y is None else y + yi
    if y is None:
        raise ValueError("`flips` is empty: give at least one axis tuple (`()` = as is)")
    return y / len(flips)


def predict_slices(
    net: nn.Module,
    slices: torch.Tensor,
    *,
    normalise: NormMethod = "robust",
    mask: torch.Tensor | None = None,
    min_span: float | None = None,
    nonnegative: bool = False,
    flips: tuple[tuple[int, ...], ...] = ((),),
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run a prepared model on a batch of 2-D slices, in their own intensity units.

    Parameters
    ----------
    net : nn.Module
        From :func:`prepare_model` (eval mode, on the slices' device).
    slices : Tensor, shape (B, nz, nx)
        Input slices (e.g. WBP), any intensity scale.
    normalise : {"robust", "minmax", "none"}
        Per-slice normalisation before the model; the output is mapped back with the same
        parameters (:mod:`napari_irdm.dl._norm`).
    mask : Tensor, shape (nz, nx), optional
        :func:`~napari_irdm.dl.consistency.consistency_mask`; when given, each output
        slice's spectrum is ``mask · input + (1 − mask) · network`` (data consistency).
    min_span : float, optional
        Slices whose contrast (max − min, input units) is at most this are returned unchanged
        (see :func:`inpaint_iter`); constant slices always are.
    nonnegative : bool
        Clip the restored slices at 0 (after data consistency).
    flips : tuple of axis tuples
        Test-time augmentation: the network runs on each flipped copy (axes of the
        ``(B, nz, nx)`` batch, ``()`` = as is), each output is flipped back and the outputs
        are averaged. See :func:`tta_flips` for the flips a tilt range allows.
    cond : Tensor, shape (3,) or (B, 3), optional
        The acquisition ``(lo, hi, step)`` in degrees
        (:func:`~napari_irdm.dl.unetpp.acquisition_from_angles`) for a conditioned model
        (required by one; mirrored for mirrored TTA passes).

    Returns
    -------
    Tensor, shape (B, nz, nx), float32
    """
    if is_conditioned(net) and cond is None:
        raise ValueError("this IRDM model is conditioned on the tilt range: pass "
                         "cond=acquisition_from_angles(tilt_angles_deg)")
    x = slices.to(torch.float32)
    lo, hi = slice_range(x, method=normalise)
    xn = apply_norm(x, lo, hi)
    with torch.inference_mode():
        c = None if cond is None or not is_conditioned(net) else torch.as_tensor(cond, dtype=torch.float32,
                                                                                 device=x.device)
        y = flip_average(net, xn[:, None].contiguous(memory_format=torch.channels_last), flips, c)[:, 0]
    y = denormalise(y, lo, hi)
    if mask is not None:
        y = apply_data_consistency(x, y, mask)
    if nonnegative:
        y = y.clamp(min=0.0)
    # a constant or nearly empty slice (space beyond the sample along the tilt axis) holds
    # nothing to restore; normalising it would stretch rounding noise to full contrast and the
    # network's response (or, for a constant slice, its bias times an arbitrary range) would
    # come back brighter than the sample itself
    span = x.flatten(1).amax(1) - x.flatten(1).amin(1)
    flat = span <= (float(min_span) if min_span is not None else 0.0)
    if bool(flat.any()):
        y[flat] = x[flat]
    return y.contiguous()


def _bytes_per_slice(net: nn.Module, nz: int, nx: int) -> int:
    """Rough peak activation memory of one slice (U-Net++: ~3 copies of all level-0 nodes)."""
    width = int(getattr(net, "base_width", 32))
    depth = int(getattr(net, "depth", 4))
    m = 2**depth
    hp, wp = -(-nz // m) * m, -(-nx // m) * m
    return 4 * hp * wp * width * (depth + 1) * 3


def accepts_volume(label: str, settings: Callable[[dict], dict] | None = None) -> Callable[[Callable], Callable]:
    """Let ``fn(volume, tilt_angles_deg, **kw)`` (a progress generator) also take a Volume.

    Arrays and tensors go through unchanged. A :class:`~napari_irdm.data.Volume` is unpacked
    (its angles unless ``tilt_angles_deg`` is given) and the result comes back as a Volume:
    the input's pixel size, the angles used, and its provenance plus one line
    ``"<label> key=value ..."`` (:meth:`~napari_irdm.data.Volume.with_step`) of the
    parameters the result depends on, passed through ``settings`` when given.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        def describe(**kwargs) -> str:
            from napari_irdm.data import format_step

            params = recorded_parameters(sig, kwargs)
            return format_step(label, settings(params) if settings else params)

        @functools.wraps(fn)
        def wrapper(volume, tilt_angles_deg=None, **kwargs):
            from napari_irdm.data import Volume

            if not isinstance(volume, Volume):
                return (yield from fn(volume, tilt_angles_deg, **kwargs))
            from napari_irdm.data import format_choices, recording_choices

            angles = volume.tilt_angles_deg if tilt_angles_deg is None else tilt_angles_deg
            with recording_choices() as chosen:
                out = yield from fn(volume.data, angles, **kwargs)
            return volume.with_step(format_choices(describe(**kwargs), chosen), data=out,
                                    tilt_angles_deg=None if angles is None else np.asarray(angles, np.float64))

        wrapper.describe = describe  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _irdm_settings(params: dict) -> dict:
    """The provenance of an IRDM run.

    ``data_consistency`` says which (``False``, ``True`` =
    Fourier, ``"iterative"``, ``"tv"``), as :func:`napari_irdm.analysis.validate.settings_from_provenance`
    reads it; options of a consistency not used are left out.
    """
    p = dict(params)
    mode = p.pop("consistency", None)
    p.pop("tilt_series", None)  # data, not a setting
    if mode is not None:
        p["data_consistency"] = mode
        if mode == "tv":
            p.pop("rounds", None)
    else:
        for key in ("tilt_series", "consistency_iterations", "rounds"):
            p.pop(key, None)
    if p.get("data_consistency") is not True:
        p.pop("soft_deg", None)
        p.pop("dc_min_freq", None)
    return p


@accepts_volume("IRDM inpaint method=irdm", _irdm_settings)
def inpaint_iter(
    volume,
    tilt_angles_deg=None,
    *,
    model: str | os.PathLike | nn.Module = _D.model,
    batch_size: int | None = None,
    device=None,
    data_consistency: bool = _D.data_consistency,
    normalise: NormMethod = "robust",
    soft_deg: float = 3.0,
    dc_min_freq: float = DC_MIN_FREQ,
    empty_fraction: float = 1e-3,
    nonnegative: bool = _D.nonnegative,
    tta: bool = _D.tta,
    out=None,
    consistency: str | None = _D.consistency,
    tilt_series=None,
    consistency_iterations: int | None = _D.consistency_iterations,
    rounds: int = 1,
) -> Generator[Progress, Any, Any]:
    """Restore every ``(nz, nx)`` slice of a volume with an IRDM model (generator form of :func:`inpaint`).

    Parameters are those of :func:`inpaint`.

    Yields
    ------
    Progress
        One event per chunk of slices (``step`` = slices done of ``ny``).

    Returns
    -------
    ndarray, Tensor or Volume, shape (nz, ny, nx), float32
        As :func:`inpaint`.
    """
    if consistency is not None:
        from napari_irdm.dl.iterative import iterative_consistency_iter

        return (yield from iterative_consistency_iter(
            volume, tilt_angles_deg, tilt_series, network=inpaint_iter, consistency=consistency, iterations=consistency_iterations,
            rounds=rounds, data_consistency=data_consistency, nonnegative=nonnegative, out=out,
            net_kwargs=dict(model=model, batch_size=batch_size, device=device, normalise=normalise,
                            empty_fraction=empty_fraction, tta=tta)))
    is_tensor = isinstance(volume, torch.Tensor)
    if not is_tensor:
        volume = np.asarray(volume)
    angles = _check_inputs(volume, tilt_angles_deg, batch_size=batch_size, empty_fraction=empty_fraction,
                           normalise=normalise, data_consistency=data_consistency)
    nz, ny, nx = (int(s) for s in volume.shape)
    dev = resolve_device(device)
    from napari_irdm.resources import require_memory

    # the float32 input copy, the output and (data consistency / TTA) one more volume
    require_memory(4.0 * nz * ny * nx * (3 + bool(data_consistency) + bool(tta)),
                   f"IRDM on a {nz}x{ny}x{nx} volume", hint="bin or crop the volume, or give a smaller --thickness")
    yield Progress(0, ny, "loading IRDM model")
    net = prepare_model(model, device=dev, tilt_angles_deg=angles)
    cond = None
    if is_conditioned(net):
        if angles is None:
            raise ValueError("this IRDM model is conditioned on the tilt range: pass tilt_angles_deg (the series' "
                             "tilt angles in degrees)")
        from napari_irdm.dl.unetpp import acquisition_from_angles

        cond = acquisition_from_angles(angles).to(dev)
    bs = _batch_slices(net, batch_size, (nz, ny, nx), dev)
    min_span = float(empty_fraction) * _largest_contrast(volume)
    flips = tta_flips(angles, conditioned=cond is not None) if tta else ((),)
    mask: torch.Tensor | None = None
    if data_consistency:
        mask = torch.from_numpy(consistency_mask((nz, nx), angles, soft_deg=soft_deg, min_freq=dc_min_freq)).to(dev)
    out = _new_out(out, (nz, ny, nx), volume)

    def run(y0: int, y1: int) -> torch.Tensor:
        return predict_slices(net, _slices_on(volume, y0, y1, dev).permute(1, 0, 2), normalise=normalise, mask=mask,
                              min_span=min_span, nonnegative=nonnegative, flips=flips, cond=cond).permute(1, 0, 2)

    for y0, y1, res in _in_streams(run, [(y0, min(ny, y0 + bs)) for y0 in range(0, ny, bs)], dev):
        out[:, y0:y1, :] = res.to(out.device) if is_tensor else res.cpu().numpy()
        yield Progress(y1, ny, f"IRDM slices {y1}/{ny}")
    return out


def cpu_streams(dev: torch.device, n_batches: int) -> int:
    """How many batches run at once: on the CPU one per intra-op thread, each on one thread.

    Measured on the 2-core CPU (``general``, 256² slices): two batches side by side on one
    thread each are 1.2–1.3× faster than one batch at a time on two threads (the U-Net++'s
    small convolutions, concatenations and activations parallelise poorly inside one op).
    ``NAPARI_IRDM_CPU_STREAMS=1`` turns it off.
    """
    if dev.type != "cpu" or n_batches < 2:
        return 1
    env = os.environ.get("NAPARI_IRDM_CPU_STREAMS", "").strip()
    n = int(env) if env.isdigit() and int(env) > 0 else torch.get_num_threads()
    return max(1, min(n, n_batches))


def _in_streams(run: Callable[[int, int], torch.Tensor], ranges: list[tuple[int, int]], dev: torch.device):
    """``(y0, y1, run(y0, y1))`` for each range, in order; on the CPU several ranges at once (:func:`cpu_streams`).

    Each worker thread computes with one intra-op thread; the caller's thread count is restored
    at the end, also on cancel (closing the generator), after the running batches finish.
    """
    k = cpu_streams(dev, len(ranges))
    if k == 1:
        for y0, y1 in ranges:
            yield y0, y1, run(y0, y1)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()

    def one(y0: int, y1: int) -> torch.Tensor:
        torch.set_num_threads(1)
        return run(y0, y1)

    pending: deque = deque()
    todo = iter(ranges)
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="napari-irdm-irdm")
    try:
        for y0, y1 in todo:  # at most 2 batches per worker in flight (bounded memory)
            pending.append((y0, y1, pool.submit(one, y0, y1)))
            if len(pending) >= 2 * k:
                break
        while pending:
            y0, y1, fut = pending.popleft()
            res = fut.result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append((*nxt, pool.submit(one, *nxt)))
            yield y0, y1, res
    finally:
        for *_r, fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
        torch.set_num_threads(threads)


def _check_inputs(volume, tilt_angles_deg, *, batch_size, empty_fraction, normalise, data_consistency):
    """One-line ``ValueError`` for a bad volume or option; the checked angles (or ``None``)."""
    if volume.ndim != 3:
        raise ValueError(f"inpaint needs a (nz, ny, nx) volume, got shape {tuple(volume.shape)}: pass a 3-D volume")
    if getattr(volume, "is_meta", False):
        raise ValueError("inpaint got a tensor on the 'meta' device (it holds no data): pass real data")
    if min(volume.shape) < 1:
        raise ValueError(f"inpaint got an empty volume of shape {tuple(volume.shape)}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or int(batch_size) < 1):
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if "complex" in str(getattr(volume, "dtype", "")):
        raise ValueError(f"inpaint got complex values ({volume.dtype}): pass a real volume (e.g. np.abs or .real)")
    if not 0.0 <= float(empty_fraction) < 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1), got {empty_fraction}")
    if normalise not in ("robust", "minmax", "none"):
        raise ValueError(f"unknown normalisation {normalise!r}: use 'robust', 'minmax' or 'none'")
    if tilt_angles_deg is not None:
        return check_angles(tilt_angles_deg, what="inpaint")
    if data_consistency:
        raise ValueError("data_consistency=True needs the tilt angles: pass tilt_angles_deg")
    return None


#: on the CPU, slices per forward pass aim at activations of about this size (they then stay in
#: cache: 256² slices of the width-16 model ran 1.4x faster one at a time than in batches of 8)
_CPU_BATCH_BYTES = 32 * 2**20


def _batch_slices(net: nn.Module, batch_size: int | None, shape: tuple[int, int, int], dev) -> int:
    """Slices per forward pass, lowered to fit a quarter of the free memory.

    ``batch_size=None``: by device (CPU: :data:`_CPU_BATCH_BYTES` of activations, GPU: 8).
    """
    nz, ny, nx = shape
    per = max(_bytes_per_slice(net, nz, nx), 1)
    if batch_size is None:
        batch_size = max(1, min(8, _CPU_BATCH_BYTES // per)) if dev.type == "cpu" else 8
    fit = max(1, int(0.25 * available_memory_bytes(dev) // per))
    return max(1, min(int(batch_size), fit, ny))


def _largest_contrast(volume) -> float:
    """Largest slice contrast (max − min) over up to 64 evenly spaced ``(nz, nx)`` slices."""
    ny = int(volume.shape[1])
    probe = np.unique(np.linspace(0, ny - 1, min(ny, 64)).round().astype(int))
    contrast = 0.0
    for y in probe:
        sl = volume[:, int(y), :]
        sl = sl.float() if isinstance(volume, torch.Tensor) else np.asarray(sl, dtype=np.float32)
        c = float(sl.max() - sl.min())
        if np.isfinite(c):
            contrast = max(contrast, c)
    return contrast


def _new_out(out, shape: tuple[int, int, int], volume):
    """The output: ``out`` checked against the volume's kind and ``shape``, or a new float32 one."""
    is_tensor = isinstance(volume, torch.Tensor)
    if out is None:
        if is_tensor:
            return torch.empty(shape, dtype=torch.float32, device=volume.device)
        return np.empty(shape, dtype=np.float32)
    if tuple(out.shape) != shape or isinstance(out, torch.Tensor) != is_tensor:
        raise ValueError(
            f"out must be a {'tensor' if is_tensor else 'NumPy-like array'} of shape {shape}, "
            f"got {type(out).__name__} of shape {tuple(out.shape)}"
        )
    if not _is_float32(out.dtype):
        raise ValueError(f"out has dtype {out.dtype}: pass a float32 array of shape {shape}")
    return out


def _slices_on(volume, y0: int, y1: int, dev) -> torch.Tensor:
    """``volume[:, y0:y1, :]`` as float32 on ``dev``; NaN / Inf refused."""
    chunk = volume[:, y0:y1, :]
    if isinstance(volume, torch.Tensor):
        t = chunk.to(device=dev, dtype=torch.float32)
    else:
        t = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).to(dev)
    if not torch.isfinite(t).all():
        raise ValueError(f"volume slices {y0}–{y1 - 1} contain NaN or Inf: clean the reconstruction first")
    return t


def inpaint(volume, tilt_angles_deg=None, **kwargs):
    """Restore every ``(nz, nx)`` slice of a volume with an IRDM model.

    Parameters
    ----------
    volume : ndarray or Tensor, shape (nz, ny, nx), or napari_irdm.Volume
        A WBP/SIRT reconstruction; ``y`` is the tilt axis, so each ``volume[:, y, :]`` is
        one slice perpendicular to it (the plane the missing wedge lives in).
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles (degrees) of the series; define the measured Fourier region for data
        consistency. May be omitted for a :class:`~napari_irdm.Volume` carrying them, or
        when ``data_consistency`` is False.
    model : str, path or nn.Module
        Shipped model name (default ``"general"``), ``"auto"`` (the shipped model whose
        training wedge range covers this series' missing wedge), a ``.pt`` path, or a generator.
    batch_size : int, optional
        Slices per forward pass (default: by device — on the CPU as many as keep the
        activations near 32 MiB, one 256² slice for the shipped model; 8 on a GPU); lowered
        automatically to fit free memory.
    device : str or torch.device, optional
        See :func:`napari_irdm.device.resolve_device`.
    data_consistency : bool
        Keep the input's Fourier coefficients on the measured cone and take the network's
        only in the missing wedge (soft edge ``soft_deg`` degrees) and below
        ``dc_min_freq``. Ours, not the paper's.
    normalise : {"robust", "minmax", "none"}
        Per-slice normalisation (percentiles 0.5/99.5 → [0, 1] for ``"robust"``) and its
        inverse, matching how training pairs are normalised.
    soft_deg : float
        Edge width of the data-consistency mask in degrees.
    dc_min_freq : float
        Below this spatial frequency (cycles/pixel) data consistency keeps the network's
        output (a WBP's lowest frequencies are biased; see
        :func:`~napari_irdm.dl.consistency.consistency_mask`). 0 keeps the input's down to DC.
    empty_fraction : float
        Slices whose contrast (max − min) is at most this fraction of the volume's largest
        slice contrast (estimated on up to 64 evenly spaced slices) are passed through
        unchanged: empty space beyond the sample along the tilt axis has nothing to restore,
        and per-slice normalisation would blow its rounding noise up to full contrast.
    nonnegative : bool
        Clip the result at 0, the same prior SART/TV get with ``nonnegative=True``. Right for
        HAADF/ADF data whose vacuum level is 0 (background-subtracted series); wrong when the
        series was normalised to zero mean, which makes vacuum negative. Off by default.
    tta : bool
        Test-time augmentation: average the model over the flips that keep the missing wedge
        in place (:func:`tta_flips`: the 180° rotation, plus both mirrors for a symmetric tilt
        range). 2–4× the time; with the shipped model on held-back 256² phantoms it gained
        0.2–0.4 dB PSNR and 0.01–0.02 SSIM (docs/models/general.md).
    out : array-like, shape (nz, ny, nx), optional
        Written chunk by chunk (e.g. a memory-mapped MRC) and returned; a tensor for a
        tensor input.
    consistency : {None, "iterative", "tv"}
        Projection-domain data consistency (:mod:`napari_irdm.dl.iterative`); needs
        ``tilt_series`` and the angles; excludes ``data_consistency``. ``"iterative"``: the
        network's output starts ``consistency_iterations`` SIRT updates on the measured
        ``tilt_series``, so the result re-projects to what was measured while the wedge,
        which the projections do not constrain, keeps the network's content. ``"tv"``
        (recommended for real, noisy series): non-negative TV of the measured series with the
        network's output as a prior, both weights chosen on held-out tilts (no ground truth).
    tilt_series : array-like, shape (n_tilts, ny, nx), optional
        The measured projections ``volume`` was reconstructed from (for ``consistency``).
    consistency_iterations : int, optional
        SIRT updates per round (``"iterative"``, default 30) or Chambolle–Pock iterations
        (``"tv"``, default 100).
    rounds : int
        Network + SIRT rounds (default 1). Later rounds feed the network its own
        data-consistent output instead of a WBP, which it was not trained on: with the
        shipped model this *lowered* PSNR (docs/validate.md), so keep 1 unless a model
        was trained for it.

    Returns
    -------
    ndarray, Tensor or Volume, shape (nz, ny, nx), float32
        NumPy in → NumPy out; a tensor in → a tensor on the input's device; a
        :class:`~napari_irdm.Volume` in → a Volume with its pixel size, the angles and its
        provenance plus one line naming the model and options.
    """
    return run_to_completion(inpaint_iter(volume, tilt_angles_deg, **kwargs))
