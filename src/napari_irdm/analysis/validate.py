"""Trust report for a reconstruction: even/odd-tilt FSC (overall and directional), re-projection, wedge energy.

"Can I believe this volume?" has no single answer, but four measurements bound it:

- **Even/odd-tilt FSC.** The tilt series is split into its even- and odd-numbered
  tilts (in angle order); each half is reconstructed *by the same method* (for IRDM: a
  WBP of the half, then the network, run separately on each half) and the Fourier shell
  correlation of the two halves is compared with the ½-bit threshold (van Heel & Schatz
  2005). The crossing gives a resolution in Å. The halves share the missing wedge, so
  what a method puts into the wedge is only *reproducible* across the halves, not
  proven: a network that fills the wedge the same way from both halves scores high
  there whatever the truth (see ``docs/validate.md``).
- **Directional FSC** in cones around ``x`` (perpendicular to the tilt axis and the
  beam, measured), ``y`` (the tilt axis) and ``z`` (the beam at 0°, the middle of the
  missing wedge): the wedge shows as a worse ``z`` resolution.
- **Re-projection residual per tilt**: ``‖P_i v − b_i‖ / ‖b_i‖`` of the volume against each
  measured image.
- **Spectral energy in the missing wedge**: the fraction of the volume's Fourier energy
  (mean removed, DC excluded) on directions no tilt measured, beside the fraction of
  Fourier voxels there (what an isotropic object would have).

FSC curves come from ``torch-fourier-shell-correlation`` (``fourier_shell_correlation`` with
an ``fft_mask`` per cone); the thresholds, cones and resolutions are computed here.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from napari_irdm.progress import Progress, run_to_completion

__all__ = [
    "DIRECTIONS",
    "FSCResult",
    "ValidationReport",
    "cone_mask",
    "directional_fsc",
    "even_odd_split",
    "half_bit_threshold",
    "validate",
    "validate_iter",
    "wedge_energy_fraction",
]

#: axis of each direction's cone in the (nz, ny, nx) volume
DIRECTIONS = {"x": 2, "y": 1, "z": 0}
#: reconstruction methods the halves can be made with
HALF_METHODS = ("wbp", "sirt", "tv", "irdm")


@dataclass
class FSCResult:
    """One FSC curve and the resolution where it crosses its threshold.

    ``freq`` (cycles/pixel), ``fsc``, ``threshold`` (½-bit), ``n_voxels`` per shell,
    ``resolution_A`` (Å; ``None`` without a pixel size), ``resolution_px`` (pixels per cycle),
    ``at_nyquist`` (True if the curve never fell below the threshold: the resolution is a bound).
    """

    freq: list[float]
    fsc: list[float]
    threshold: list[float]
    n_voxels: list[int]
    resolution_px: float
    resolution_A: float | None
    at_nyquist: bool


@dataclass
class ValidationReport:
    """Everything :func:`validate` measured; ``to_dict`` / ``to_json`` / ``summary_lines`` / ``plot``."""

    method: str
    shape: tuple[int, int, int]
    pixel_size_A: float | None
    n_tilts: int
    tilt_range_deg: tuple[float, float]
    cone_half_angle_deg: float
    fsc: dict[str, FSCResult]
    reprojection_angles_deg: list[float]
    reprojection_residual: list[float]
    wedge_energy_fraction: float
    wedge_voxel_fraction: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able types."""
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["tilt_range_deg"] = list(self.tilt_range_deg)
        d["reprojection_residual_mean"] = float(np.mean(self.reprojection_residual))
        return d

    def to_json(self) -> str:
        """The report as indented JSON text."""
        return json.dumps(self.to_dict(), indent=1)

    def _res_text(self, name: str) -> str:
        r = self.fsc[name]
        bound = "≤ " if r.at_nyquist else ""  # never below threshold: resolution at least Nyquist
        if r.resolution_A is not None:
            return f"{bound}{r.resolution_A:.2f} Å"
        return f"{bound}{r.resolution_px:.2f} px"

    def summary_lines(self) -> list[str]:
        """One line per measurement, for a terminal or a log."""
        lo, hi = self.tilt_range_deg
        res = self.reprojection_residual
        worst = int(np.argmax(res))
        lines = [
            f"FSC (even/odd tilts, {self.method}, ½-bit): {self._res_text('all')} overall",
            "directional FSC (cones of " + f"{self.cone_half_angle_deg:g}°): "
            + ", ".join(f"{n} {self._res_text(n)}" for n in DIRECTIONS if n in self.fsc)
            + " (z = beam; the missing wedge lies around it)",
            f"re-projection residual: mean {np.mean(res):.3f}, worst {res[worst]:.3f} at "
            f"{self.reprojection_angles_deg[worst]:g}° ({self.n_tilts} tilts, {lo:g}..{hi:g}°)",
            f"spectral energy in the missing wedge: {100 * self.wedge_energy_fraction:.1f} % "
            f"(the wedge holds {100 * self.wedge_voxel_fraction:.1f} % of Fourier space)",
        ]
        return lines + [f"note: {n}" for n in self.notes]

    def plot(self, path=None):
        """FSC curves (overall and per direction), thresholds and the per-tilt residual; PNG bytes or a file."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 3.8))  # no pyplot: the process's backend and figure list stay as they are
        FigureCanvasAgg(fig)
        ax, ax2 = fig.subplots(1, 2)
        colors = {"all": "k", "x": "tab:blue", "y": "tab:green", "z": "tab:red"}
        px = self.pixel_size_A
        for name, r in self.fsc.items():
            f = np.asarray(r.freq)
            lab = f"{name} ({self._res_text(name)})"
            ax.plot(f, r.fsc, color=colors.get(name, "tab:gray"), lw=2 if name == "all" else 1.3, label=lab)
        r = self.fsc["all"]
        ax.plot(r.freq, r.threshold, "k:", lw=1, label="½-bit (overall)")
        if "z" in self.fsc:
            ax.plot(self.fsc["z"].freq, self.fsc["z"].threshold, ":", color="tab:red", lw=1, label="½-bit (z cone)")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.set_ylim(-0.2, 1.02)
        ax.set_xlim(0, 0.5)
        ax.set_xlabel("spatial frequency (1/Å)" if px else "spatial frequency (cycles/pixel)")
        if px:
            ticks = np.linspace(0, 0.5, 6)
            ax.set_xticks(ticks, [f"{t / px:.2g}" for t in ticks])
        ax.set_ylabel("FSC (even vs odd tilts)")
        ax.set_title(f"{self.method}: even/odd-tilt FSC, cones of {self.cone_half_angle_deg:g}°")
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(alpha=0.3)
        ax2.plot(self.reprojection_angles_deg, self.reprojection_residual, "o-", ms=3)
        ax2.set_xlabel("tilt angle (°)")
        ax2.set_ylabel("‖P v − b‖ / ‖b‖")
        ax2.set_title(f"re-projection residual per tilt; wedge energy {100 * self.wedge_energy_fraction:.1f} %")
        ax2.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        data = buf.getvalue()
        if path is not None:
            from napari_irdm.io import atomic_write_bytes

            atomic_write_bytes(path, data)
        return data


def _freq_grid(shape) -> torch.Tensor:
    """``(kz, ky, kx)`` of the rfftn grid of a ``shape`` volume (cycles/pixel), shape ``(3, nz, ny, nx//2+1)``."""
    nz, ny, nx = shape
    kz = torch.fft.fftfreq(nz)[:, None, None].expand(nz, ny, nx // 2 + 1)
    ky = torch.fft.fftfreq(ny)[None, :, None].expand(nz, ny, nx // 2 + 1)
    kx = torch.fft.rfftfreq(nx)[None, None, :].expand(nz, ny, nx // 2 + 1)
    return torch.stack([kz, ky, kx])


def cone_mask(shape, axis: int, half_angle_deg: float) -> torch.Tensor:
    """Boolean mask on the ``rfftn`` grid of a ``(nz, ny, nx)`` volume: within ``half_angle_deg`` of ``axis``.

    The origin is included. ``axis`` 0 = z, 1 = y, 2 = x (see :data:`DIRECTIONS`).
    """
    if not 0 < half_angle_deg <= 90:
        raise ValueError(f"cone half-angle must be in (0, 90] degrees, got {half_angle_deg}")
    k = _freq_grid(tuple(int(s) for s in shape))
    mag = torch.sqrt((k**2).sum(0))
    m = k[int(axis)].abs() >= math.cos(math.radians(half_angle_deg)) * mag - 1e-12
    return m | (mag == 0)


def half_bit_threshold(n_voxels) -> np.ndarray:
    """½-bit information threshold for shells of ``n_voxels`` Fourier voxels (van Heel & Schatz 2005)."""
    n = np.maximum(np.asarray(n_voxels, np.float64), 1.0)
    s = np.sqrt(n)
    return (0.2071 + 1.9102 / s) / (1.2071 + 0.9102 / s)


def _shell_counts(shape, mask: torch.Tensor | None, n_bins: int) -> np.ndarray:
    """Fourier voxels per shell of the full (Hermitian) spectrum, nearest shell of spacing ``1/min(shape)``."""
    k = _freq_grid(shape)
    mag = torch.sqrt((k**2).sum(0))
    idx = torch.round(mag * min(shape)).long()
    weight = torch.full(mag.shape, 2.0)  # each rfft voxel stands for itself and its mirror
    weight[..., 0] = 1.0
    if shape[2] % 2 == 0:
        weight[..., -1] = 1.0
    if mask is not None:
        weight = weight * mask
    sel = idx < n_bins
    return torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx[sel], weight[sel].double()).numpy()


def _resolution(freq: np.ndarray, fsc: np.ndarray, thr: np.ndarray) -> tuple[float, bool]:
    """First crossing below the threshold (after the first shell), linearly interpolated; cycles/pixel."""
    for i in range(1, len(freq)):
        if fsc[i] < thr[i]:
            d0, d1 = fsc[i - 1] - thr[i - 1], fsc[i] - thr[i]
            t = d0 / (d0 - d1) if d0 > d1 else 0.0
            return float(freq[i - 1] + t * (freq[i] - freq[i - 1])), False
    return float(freq[-1]), True


def directional_fsc(a, b, *, pixel_size_A: float | None = None, cone_half_angle_deg: float = 20.0,
                    directions=("all", "x", "y", "z"), threshold: str = "half-bit") -> dict[str, FSCResult]:
    """FSC of two volumes overall and in cones around x, y and z, with resolutions.

    Parameters
    ----------
    a, b : array-like, shape (nz, ny, nx)
        Two volumes on the same grid (half maps, or a map and the truth).
    pixel_size_A : float, optional
        Voxel size in Å (resolutions then in Å as well as in pixels).
    cone_half_angle_deg : float
        Half-angle of the directional cones.
    directions : sequence of str
        ``"all"`` (the whole shell) and/or ``"x"``, ``"y"``, ``"z"``.
    threshold : {"half-bit", "0.5", "0.143"}
        ½-bit for half maps; 0.5 is the usual criterion of a map against the truth.

    Returns
    -------
    dict of FSCResult
        By direction. The curves are ``torch_fourier_shell_correlation.fourier_shell_correlation``.
    """
    from torch_fourier_shell_correlation import fourier_shell_correlation

    ta = torch.as_tensor(np.asarray(a, np.float32))
    tb = torch.as_tensor(np.asarray(b, np.float32))
    if ta.ndim != 3 or ta.shape != tb.shape:
        raise ValueError(f"FSC needs two 3-D volumes of one shape, got {tuple(ta.shape)} and {tuple(tb.shape)}")
    if min(ta.shape) < 8:
        raise ValueError(f"volume {tuple(ta.shape)} too small for an FSC: need at least 8 voxels on each side")
    shape = tuple(int(s) for s in ta.shape)
    ta, tb = ta - ta.mean(), tb - tb.mean()
    freq = np.fft.rfftfreq(min(shape))
    out = {}
    for name in directions:
        mask = None if name == "all" else cone_mask(shape, DIRECTIONS[name], cone_half_angle_deg)
        curve = fourier_shell_correlation(ta, tb, fft_mask=mask).double().numpy()
        curve = np.nan_to_num(curve, nan=0.0)
        counts = _shell_counts(shape, mask, len(freq))
        if threshold == "half-bit":
            thr = half_bit_threshold(counts)
        else:
            thr = np.full(len(freq), float(threshold))
        f_res, at_nyq = _resolution(freq, curve, thr)
        res_px = 1.0 / max(f_res, 1e-9)
        out[name] = FSCResult(freq=freq.tolist(), fsc=curve.tolist(), threshold=thr.tolist(),
                              n_voxels=[int(c) for c in counts], resolution_px=res_px,
                              resolution_A=res_px * float(pixel_size_A) if pixel_size_A else None,
                              at_nyquist=at_nyq)
    return out


def even_odd_split(tilt_angles_deg) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the even- and odd-numbered tilts in angle order (each spans the whole range)."""
    a = np.asarray(tilt_angles_deg, np.float64)
    if a.size < 4:
        raise ValueError(f"an even/odd FSC needs at least 4 tilts, got {a.size}")
    order = np.argsort(a, kind="stable")
    return np.sort(order[0::2]), np.sort(order[1::2])


def wedge_energy_fraction(volume, tilt_angles_deg) -> tuple[float, float]:
    """``(energy, voxels)``: fractions of the spectral energy and of the Fourier voxels in the missing wedge.

    The wedge is the set of directions ``atan2(kz, kx)`` outside ``[θmin, θmax]`` (the same in
    every ``ky`` plane, hard edge); the volume's mean is removed and DC excluded.
    """
    from napari_irdm.geometry import wedge_mask

    v = torch.as_tensor(np.asarray(volume, np.float32))
    nz, ny, nx = v.shape
    spec = torch.fft.rfftn(v - v.mean()).abs().pow(2).double()
    measured2d = wedge_mask((nz, nx), tilt_angles_deg, soft_deg=0.0)[:, : nx // 2 + 1]  # (nz, nx//2+1)
    wedge = torch.as_tensor(measured2d < 0.5)[:, None, :].expand(nz, ny, nx // 2 + 1)
    w = torch.full((nz, ny, nx // 2 + 1), 2.0, dtype=torch.float64)  # Hermitian mirror
    w[..., 0] = 1.0
    if nx % 2 == 0:
        w[..., -1] = 1.0
    w[0, 0, 0] = 0.0  # DC
    total = float((spec * w).sum())
    e = float((spec * w)[wedge].sum()) / total if total > 0 else 0.0
    vox = float(w[wedge].sum() / w.sum())
    return e, vox


def _reconstruct(method: str, series, angles, nz: int, *, model, device, data_consistency):
    from napari_irdm import tomo

    if method == "wbp":
        return tomo.wbp(series, angles, thickness=nz, device=device)
    if method == "sirt":
        return tomo.sirt(series, angles, iterations=50, thickness=nz, device=device)
    if method == "tv":
        return tomo.tv(series, angles, tv_weight="auto", nonnegative=True, thickness=nz, device=device)
    from napari_irdm.dl import inpaint

    w = tomo.wbp(series, angles, thickness=nz, device=device)
    if data_consistency in ("iterative", "tv"):
        return inpaint(w, angles, model=model, consistency=data_consistency, tilt_series=series, device=device)
    return inpaint(w, angles, model=model, data_consistency=bool(data_consistency), device=device)


def validate_iter(volume, tilt_series, tilt_angles_deg, *, method: str = "wbp", pixel_size_A: float | None = None,
                  cone_half_angle_deg: float = 20.0, model="general", data_consistency: bool | str = False,
                  device: Any = None) -> Generator[Progress, None, ValidationReport]:
    """Trust report of ``volume`` reconstructed from ``tilt_series`` (generator; ``return``s the report).

    Parameters
    ----------
    volume : array-like, shape (nz, ny, nx)
        The reconstruction to judge (its re-projection and wedge energy are measured).
    tilt_series : array-like, shape (n_tilts, ny, nx)
        The measured projections (tilt axis ``y``).
    tilt_angles_deg : array_like, shape (n_tilts,)
        Tilt angles in degrees.
    method : {"wbp", "sirt", "tv", "irdm"}
        How ``volume`` was made: each even/odd half is reconstructed the same way (``"irdm"``:
        WBP of the half, then :func:`napari_irdm.dl.inpaint` with ``model`` on each half
        separately; ``"tv"``: automatic weight; ``"sirt"``: 50 iterations).
    pixel_size_A : float, optional
        Voxel size in Å (resolutions in Å).
    cone_half_angle_deg : float
        Half-angle of the directional cones (default 20°; choose it below the half-opening
        of the wedge, ``90 − θmax``, for a z cone entirely inside the wedge).
    model, data_consistency
        IRDM settings for ``method="irdm"``; ``data_consistency`` is False, True (Fourier),
        ``"iterative"`` (SIRT on each half's own projections after the network) or ``"tv"``
        (network-prior TV on each half's own projections).
    device : str or torch.device, optional

    Returns
    -------
    ValidationReport
    """
    from napari_irdm.tomo import ParallelProjector
    from napari_irdm.tomo._common import check_series

    method = str(method).lower()
    if method not in HALF_METHODS:
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(HALF_METHODS)}")
    angles = check_series(tilt_series, tilt_angles_deg)
    vol = np.asarray(volume, np.float32)
    series = np.asarray(tilt_series, np.float32)
    if vol.ndim != 3 or vol.shape[1:] != series.shape[1:]:
        raise ValueError(f"volume {vol.shape} does not match the tilt series {series.shape}: expected "
                         f"(nz, {series.shape[1]}, {series.shape[2]})")
    nz = vol.shape[0]
    even, odd = even_odd_split(angles)
    yield Progress(0, 4, f"validate: reconstructing the even tilts ({method})")
    va = _reconstruct(method, series[even], angles[even], nz, model=model, device=device,
                      data_consistency=data_consistency)
    yield Progress(1, 4, f"validate: reconstructing the odd tilts ({method})")
    vb = _reconstruct(method, series[odd], angles[odd], nz, model=model, device=device,
                      data_consistency=data_consistency)
    yield Progress(2, 4, "validate: FSC")
    fsc = directional_fsc(np.asarray(va), np.asarray(vb), pixel_size_A=pixel_size_A,
                          cone_half_angle_deg=cone_half_angle_deg)
    yield Progress(3, 4, "validate: re-projection and wedge energy")
    rep = ParallelProjector(angles, vol.shape, device=device).forward(vol)
    num = np.sqrt(((rep - series) ** 2).sum(axis=(1, 2)))
    den = np.sqrt((series.astype(np.float64) ** 2).sum(axis=(1, 2))).clip(min=1e-30)
    e_frac, v_frac = wedge_energy_fraction(vol, angles)
    notes = []
    half_open = 90.0 - max(abs(float(angles.min())), abs(float(angles.max())))
    if cone_half_angle_deg > half_open:
        notes.append(f"the z cone ({cone_half_angle_deg:g}°) is wider than the wedge's half-opening "
                     f"({half_open:g}°): its FSC mixes measured and missing directions")
    if method == "irdm":
        notes.append("IRDM halves share the missing wedge: the z FSC shows how reproducibly the network fills "
                     "it, not that the filling is true")
    report = ValidationReport(
        method=method, shape=(int(vol.shape[0]), int(vol.shape[1]), int(vol.shape[2])),
        pixel_size_A=float(pixel_size_A) if pixel_size_A else None, n_tilts=int(angles.size),
        tilt_range_deg=(float(angles.min()), float(angles.max())), cone_half_angle_deg=float(cone_half_angle_deg),
        fsc=fsc, reprojection_angles_deg=[float(a) for a in angles], reprojection_residual=(num / den).tolist(),
        wedge_energy_fraction=e_frac, wedge_voxel_fraction=v_frac, notes=notes,
    )
    yield Progress(4, 4, "validate: done")
    return report


def validate(volume, tilt_series, tilt_angles_deg, **kwargs) -> ValidationReport:
    """Eager :func:`validate_iter`; same arguments."""
    return run_to_completion(validate_iter(volume, tilt_series, tilt_angles_deg, **kwargs))


def settings_from_provenance(provenance) -> dict[str, Any]:
    """How a volume was made, read back from its provenance lines (for an honest re-run of each half).

    Parameters
    ----------
    provenance : sequence of str
        The volume's history (``"... method=irdm model=general data_consistency=True ..."``).

    Returns
    -------
    dict
        ``method`` (``"wbp"``, ``"sirt"``, ``"tv"`` or ``"irdm"``; ``"wbp"`` when unknown), ``model``
        (``None`` when not recorded) and ``data_consistency`` (``False``, ``True`` = Fourier, or
        ``"iterative"``) — the keywords :func:`validate_iter` takes.
    """
    import re

    def last(key):
        found = None
        for line in provenance or ():
            m = re.search(rf"\b{key}=(\S+)", str(line))
            if m:
                found = m.group(1)
        return found

    method = last("method")
    dc = {"True": True, "fourier": True, "iterative": "iterative", "tv": "tv"}.get(last("data_consistency") or "", False)
    return {"method": method if method in ("wbp", "sirt", "tv", "irdm") else "wbp", "model": last("model"),
            "data_consistency": dc}
