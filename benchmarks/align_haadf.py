"""Align the raw NIST HAADF series (etspy test data) and compare with etspy's aligned copy.

Usage: python benchmarks/align_haadf.py [DATA_DIR] [OUT.png] [--no-rotation]
Prints both re-projection residuals (SIRT, bin 2) and writes a figure of WBP cross-sections.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    refine_rotation = "--no-rotation" not in argv
    argv = [a for a in argv if a != "--no-rotation"]
    data = Path(argv[0]) if argv else Path("/work/shared/data/etspy-needle-haadf")
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "docs/img/align_haadf.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_irdm.align import Transforms, align
    from napari_irdm.align._pm import Level, reprojection_residual
    from napari_irdm.io import read_tilt_series
    from napari_irdm.tomo import wbp

    raw = read_tilt_series(data / "HAADF.mrc", tilt_axis="x")
    ref = read_tilt_series(data / "HAADF_aligned.mrc", tilt_axis="x")
    t0 = time.perf_counter()
    result = align(raw, method="pm", levels=(4, 2), iterations=6, refine_rotation=refine_rotation)
    took = time.perf_counter() - t0
    ours = result.series
    print(f"aligned {raw.data.shape} in {took:.0f} s: tilt axis {result.transforms.rotation_deg:.2f} deg, "
          f"centre offset {result.report['centre_offset_px']:.2f} px; start {result.report['coarse_method']}; "
          f"centre by {result.report['centre_method']}")

    def residual(series):
        lv = Level(torch.from_numpy(np.ascontiguousarray(series.data)), 2)
        return reprojection_residual(lv, Transforms.identity(series.tilt_angles_deg))

    r_raw, r_ours, r_ref = residual(raw), residual(ours), residual(ref)
    print(f"re-projection residual (SIRT, bin 2): raw {r_raw:.4f}, napari-irdm {r_ours:.4f}, etspy {r_ref:.4f}")
    vols = {name: wbp(s.data, s.tilt_angles_deg) for name, s in
            (("raw (unaligned)", raw), ("napari-irdm align", ours), ("etspy aligned copy", ref))}
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
    for k, (name, v) in enumerate(vols.items()):
        ny = v.shape[1]
        for row, y in enumerate((ny // 2, ny // 3)):
            ax = axes[row, k]
            ax.imshow(v[:, y, :], cmap="gray")
            ax.set_title(f"{name}\nWBP slice y={y}" if row == 0 else f"y={y}", fontsize=9)
            ax.axis("off")
    fig.suptitle(f"NIST HAADF needle, cross-sections perpendicular to the tilt axis; re-projection residual (SIRT, bin 2): raw {r_raw:.4f}, "
                 f"ours {r_ours:.4f}, etspy {r_ref:.4f}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
