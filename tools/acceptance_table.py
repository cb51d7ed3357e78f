"""Markdown table of an ``evaluate`` summary: the strongest classical method against each IRDM variant.

Run::

    python tools/acceptance_table.py eval/summary.csv [--variants irdm irdm_iter irdm_tv]

For every source and wedge (and tilt range, when the summary has one): the best classical
method by mean PSNR (WBP, SART, TV, TV-auto, SIRT-stopped: those evaluated), its PSNR / SSIM,
each IRDM variant's PSNR / SSIM and the difference to the best, and whether the issue's bar
(≥ best + 2 dB PSNR and ≥ its SSIM) is met.
"""

from __future__ import annotations

import argparse
import csv
import sys

CLASSICAL = ("wbp", "sart", "tv", "tv_auto", "sirt_stop")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("summary")
    ap.add_argument("--variants", nargs="+", default=["irdm", "irdm_iter", "irdm_tv"])
    ap.add_argument("--bar", type=float, default=2.0, help="PSNR margin of the bar (dB, default 2)")
    args = ap.parse_args(argv)
    rows = list(csv.DictReader(open(args.summary, newline="")))
    keys: list[tuple] = []
    table: dict[tuple, dict[str, tuple[float, float]]] = {}
    for r in rows:
        k = (r["source"], r.get("tilt_range") or "", r["wedge_deg"])
        if k not in table:
            keys.append(k)
            table[k] = {}
        table[k][r["method"]] = (float(r["psnr"]), float(r["ssim"]))
    head = "| source | range | wedge | best classical | " + " | ".join(args.variants) + " | bar met |"
    print(head)
    print("|" + "---|" * (5 + len(args.variants)))
    met_all = 0
    for k in keys:
        v = table[k]
        cls = [(v[m][0], m) for m in CLASSICAL if m in v]
        if not cls:
            continue
        bp, bm = max(cls)
        bs = v[bm][1]
        cells = []
        for m in args.variants:
            if m not in v:
                cells.append("–")
                continue
            p, s = v[m]
            cells.append(f"{p:.2f} / {s:.3f} ({p - bp:+.2f} dB, {s - bs:+.3f})")
        last = args.variants[-1]
        ok = last in v and v[last][0] >= bp + args.bar and v[last][1] >= bs
        met_all += ok
        print(f"| {k[0]} | {k[1] or '±' + format(90 - float(k[2]) / 2, 'g')} | {float(k[2]):g}° | "
              f"{bm} {bp:.2f} / {bs:.3f} | " + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")
    print(f"\nbar (≥ best + {args.bar:g} dB and ≥ its SSIM) met by {args.variants[-1]} in {met_all} of "
          f"{len(keys)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
