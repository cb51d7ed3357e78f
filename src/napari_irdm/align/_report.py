"""The alignment report as a picture: shifts vs tilt, residual vs iteration, and before/after slices.

Pure compute and matplotlib's object API (no pyplot, no backend switch): the CLI writes the
PNG, the napari Align widget shows it.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["preview_slices", "report_png"]


def preview_slices(raw: np.ndarray, aligned: np.ndarray, tilt_angles_deg, n: int = 3) -> dict:
    """WBP of ``n`` slices perpendicular to the tilt axis, before and after alignment.

    Parameters
    ----------
    raw, aligned : ndarray, shape (n_tilts, ny, nx)
        The series before and after alignment (tilt axis along ``y``).
    tilt_angles_deg : array_like
        Angles of ``aligned`` (used for both: a preview, not a reconstruction).
    n : int
        Slices at ``y`` = 1/(n+1) ... n/(n+1) of the height.

    Returns
    -------
    dict
        ``{"y": [...], "before": (nz, n, nx), "after": (nz, n, nx)}``.
    """
    from napari_irdm.tomo import wbp

    ny = int(np.asarray(aligned).shape[1])
    ys = [int(round((k + 1) * ny / (n + 1))) for k in range(n)]
    ys = [min(max(y, 0), ny - 1) for y in ys]
    angles = np.asarray(tilt_angles_deg, dtype=np.float64)

    def rec(series):
        sub = np.ascontiguousarray(np.asarray(series, dtype=np.float32)[:, ys, :])
        return np.asarray(wbp(sub, angles, device="cpu"), dtype=np.float32)

    return {"y": ys, "before": rec(raw), "after": rec(aligned)}


def report_png(result, preview: dict | None = None, dpi: int = 90) -> bytes:
    """PNG bytes of the alignment report of ``result`` (an ``AlignResult``), with ``preview`` slices."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = result.transforms
    rows = 1 + (2 if preview is not None else 0)
    cols = max(2, len(preview["y"]) if preview is not None else 2)
    fig = Figure(figsize=(3.0 * cols, 2.9 * rows))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, cols)
    a = fig.add_subplot(grid[0, : cols // 2 or 1])
    b = fig.add_subplot(grid[0, cols // 2 or 1:])
    angles = np.asarray(t.tilt_angles_deg)
    a.plot(angles, t.shifts_xy[:, 0], ".-", label="dx")
    a.plot(angles, t.shifts_xy[:, 1], ".-", label="dy")
    a.set_xlabel("tilt (°)")
    a.set_ylabel("shift (px)")
    a.set_title(f"shifts; tilt axis {t.rotation_deg:.2f}°", fontsize=9)
    a.legend(fontsize=7)
    residuals = result.report.get("residuals", {}) or {}
    for key, res in residuals.items():
        b.plot(range(len(res)), res, "o-", ms=3, label=f"bin {key}")
    b.set_xlabel("accepted iteration")
    b.set_ylabel("re-projection residual")
    b.set_title("projection matching" if residuals else "no projection matching", fontsize=9)
    if residuals:
        b.legend(fontsize=7)
    if preview is not None:
        for row, key in ((1, "before"), (2, "after")):
            vols = preview[key]
            for j, y in enumerate(preview["y"]):
                ax = fig.add_subplot(grid[row, j])
                img = vols[:, j, :]
                lo, hi = np.percentile(img, [1, 99.5])
                ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1)
                ax.set_title(f"{key}: WBP slice y={y}", fontsize=8)
                ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
