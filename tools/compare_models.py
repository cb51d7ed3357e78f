"""Compare one method of two ``evaluate`` summaries (e.g. a candidate model against the shipped one).

Run::

    python tools/compare_models.py shipped/summary.csv candidate/summary.csv [--method irdm] [--labels general ft_dr]

Prints a markdown table: for every source and tilt range, both models' mean PSNR / SSIM and the
candidate's difference; then the mean over the rows per source (``all``: the summary's pooled
rows) and over every source's rows (the numbers a shipping rule is written in).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict


def _read(path: str, method: str) -> dict[tuple[str, str, str], tuple[float, float]]:
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["method"] == method:
                out[(r["source"], r.get("tilt_range") or "", r["wedge_deg"])] = (float(r["psnr"]), float(r["ssim"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--method", default="irdm")
    ap.add_argument("--labels", nargs=2, default=["A", "B"])
    args = ap.parse_args(argv)
    a, b = _read(args.a, args.method), _read(args.b, args.method)
    keys = [k for k in a if k in b]
    if not keys:
        print(f"no common rows of method {args.method!r}", file=sys.stderr)
        return 2
    la, lb = args.labels
    print(f"| source | range | wedge | {la} PSNR / SSIM | {lb} PSNR / SSIM | {lb} − {la} |")
    print("|---|---|---|---|---|---|")
    per: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for k in keys:
        (pa, sa), (pb, sb) = a[k], b[k]
        per[k[0]].append((pb - pa, sb - sa))
        if k[0] != "all":  # the summary's own pooled rows are not counted twice
            per["every source row"].append((pb - pa, sb - sa))
        print(f"| {k[0]} | {k[1]} | {k[2]}° | {pa:.2f} / {sa:.3f} | {pb:.2f} / {sb:.3f} | {pb - pa:+.2f} dB, {sb - sa:+.3f} |")
    print()
    print(f"| source | rows | mean ΔPSNR ({lb} − {la}) | mean ΔSSIM |")
    print("|---|---|---|---|")
    for src, d in per.items():
        print(f"| {src} | {len(d)} | {sum(x for x, _ in d) / len(d):+.2f} dB | {sum(y for _, y in d) / len(d):+.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
