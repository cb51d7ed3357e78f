"""The run's tables: ``log.csv`` (losses) and ``val.csv`` (held-back metrics), written atomically."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from napari_irdm.io import atomic_write_bytes

__all__ = ["LOG_HEADER", "VAL_HEADER", "RunLog"]

LOG_HEADER = ["step", "epoch", "lr_g", "loss_d", "loss_g", "loss_gan", "loss_l1", "elapsed_s", "pairs_per_s"]
VAL_HEADER = ["step", "method", "psnr", "ssim", "nrmse"]


def _read_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.reader(fh))[1:]


def _write_rows(path: Path, header: list[str], rows: list[list]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


class RunLog:
    """Rows of ``log.csv`` and ``val.csv`` of a run folder.

    Parameters
    ----------
    out : path
        The run folder.
    step : int
        With ``resume``: the checkpoint's step; the rows after it (written by a run that
        went on past its last checkpoint) are dropped.
    resume : bool
        Continue the tables already in ``out`` (else start empty).
    """

    def __init__(self, out: Path, step: int = 0, resume: bool = False):
        self.out = Path(out)
        keep = (lambda rows: [r for r in rows if int(r[0]) <= step]) if resume else (lambda rows: [])
        self.loss_rows = keep(_read_rows(self.out / "log.csv"))
        self.val_rows = keep(_read_rows(self.out / "val.csv"))

    def add_loss(self, step: int, epoch: float, lr: float, losses: Mapping[str, float], elapsed_s: float,
                 pairs_per_s: float) -> None:
        """One row of ``log.csv``."""
        self.loss_rows.append([step, f"{epoch:.4f}", f"{lr:.3g}"]
                              + [f"{losses[k]:.6f}" for k in ("loss_d", "loss_g", "loss_gan", "loss_l1")]
                              + [f"{elapsed_s:.1f}", f"{pairs_per_s:.2f}"])

    def add_val(self, step: int, method: str, metrics: Mapping[str, float]) -> None:
        """One row of ``val.csv``: the mean held-back PSNR / SSIM / NRMSE of ``method`` at ``step``."""
        self.val_rows.append([step, method, f"{metrics['psnr']:.4f}", f"{metrics['ssim']:.5f}",
                              f"{metrics['nrmse']:.5f}"])

    def has_val(self, step: int, method: str) -> bool:
        """Whether the last validation row is ``method`` at ``step``."""
        return bool(self.val_rows) and int(self.val_rows[-1][0]) == step and self.val_rows[-1][1] == method

    def write(self, *, losses: bool = True) -> None:
        """Write ``val.csv`` (and ``log.csv`` unless ``losses`` is false)."""
        if losses:
            _write_rows(self.out / "log.csv", LOG_HEADER, self.loss_rows)
        _write_rows(self.out / "val.csv", VAL_HEADER, self.val_rows)
