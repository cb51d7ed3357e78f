"""Draw docs/img/families.png: examples of each nanoparticle ground-truth family (128², one row per family).

Usage: ``python tools/families_figure.py [--out docs/img/families.png] [--per-family 4] [--size 128]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    from napari_irdm.train.families import FAMILIES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "families.png"))
    p.add_argument("--per-family", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(FAMILIES)
    k = args.per_family
    fig, axes = plt.subplots(len(names), k, figsize=(1.6 * k + 1.0, 1.6 * len(names)))
    for r, name in enumerate(names):
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(FAMILIES[name](c, args.size), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.suptitle(f"training families (index 0–{k - 1}, {args.size}², rows z = beam, columns x)", fontsize=9)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(out)
    print(f"wrote {out} ({np.prod(axes.shape)} panels)")


if __name__ == "__main__":
    main()
