"""Replace some methods' rows of an ``evaluate`` summary with those of a newer run of the same grid.

Run::

    python tools/merge_summaries.py OLD/summary.csv NEW/summary.csv --replace irdm_tv --check tv_auto \
        --out MERGED_summary.csv [--best MERGED_best_classical.csv]

For a change that touches one method only (e.g. the prior rule of ``irdm_tv``): re-run the grid with
that method and the ones it is compared with, and merge instead of re-running every method.
``--check`` methods must be in both runs with equal PSNR / SSIM on every row (the same grid and a
deterministic evaluation), else nothing is written. ``--best`` also writes the best-classical
table (``napari_irdm.train.evaluate.best_classical``) of the merged summary.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

NUMERIC = ("n", "psnr", "ssim", "nrmse", "reproj", "psnr_std", "ssim_std", "nrmse_std", "reproj_std")


def _rows(path: str) -> tuple[list[str], list[dict]]:
    """The header and rows of a summary, numbers as floats (as ``evaluate`` holds them)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    for r in rows:
        for k in NUMERIC:
            if r.get(k) not in (None, ""):
                r[k] = float(r[k])
    return header, rows


def _key(r: dict) -> tuple:
    return r["source"], r["wedge_deg"], r.get("tilt_range", ""), r["method"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--replace", nargs="+", required=True, help="methods taken from NEW")
    ap.add_argument("--check", nargs="*", default=[], help="methods that must agree between OLD and NEW")
    ap.add_argument("--out", required=True)
    ap.add_argument("--best", default=None)
    args = ap.parse_args(argv)
    header, old = _rows(args.old)
    _, new = _rows(args.new)
    new_by = {_key(r): r for r in new}
    for r in old:
        if r["method"] in args.check:
            n = new_by.get(_key(r))
            if n is None or abs(n["psnr"] - r["psnr"]) > 1e-4 or abs(n["ssim"] - r["ssim"]) > 1e-5:
                print(f"merge_summaries: {_key(r)} differs between the runs: not the same grid", file=sys.stderr)
                return 2
    merged = []
    for r in old:
        if r["method"] in args.replace:
            if _key(r) not in new_by:
                print(f"merge_summaries: {_key(r)} missing from {args.new}", file=sys.stderr)
                return 2
            merged.append(new_by[_key(r)])
        else:
            merged.append(r)
    from napari_irdm.train.evaluate import _write_csv, best_classical  # evaluate's own writer (atomic)

    _write_csv(Path(args.out), header, merged)
    if args.best:
        best = best_classical(merged)
        _write_csv(Path(args.best), list(best[0].keys()), best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
