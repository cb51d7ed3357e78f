"""One model across tilt ranges, in miniature (issue #15): conditioned vs unconditioned vs a family.

Trains, with the same initialisation and batch order, on 32² phantom pairs from two very
different missing wedges (30° and 110°):

- ``uncond``: one unconditioned U-Net++ (width 6, depth 2) on both wedges;
- ``film``: the same network conditioned on the acquisition (``condition="film"``) on both;
- ``specialist``: one unconditioned network per wedge (the "family" that ``model="auto"``
  would pick from), ``SPECIALIST_STEPS`` steps each;

and prints the held-back L1 per wedge. L1 content loss only (no GAN): a CPU-sized stand-in
for the GPU comparison of ``tools/gpu_train_conditioned.sh``. Usage::

    python benchmarks/condition_vs_family.py SEED [STEPS] [SPECIALIST_STEPS]

Measured numbers are in docs/training.md ("Conditioning on the acquisition").
"""

from __future__ import annotations

import sys

import torch

from napari_irdm.dl.unetpp import UNetPlusPlus
from napari_irdm.train.pairs import PairOptions, make_batch

WEDGES = (30.0, 110.0)


def pairs(wedge: float, idx: list[int], holdout: bool, opts: PairOptions):
    """Normalised (WBP, truth) pairs at one wedge and their acquisitions ``(lo, hi, step)``."""
    b = make_batch("D2", idx, opts, holdout=holdout, wedge_deg=wedge, device="cpu",
                   source="phantom" if holdout else None)
    lo, hi = b.ranges_deg[0]
    return b.inputs, b.targets, torch.tensor([[lo, hi, opts.tilt_steps_deg[0]]] * len(idx))


def train(condition, data, steps: int, seed: int) -> UNetPlusPlus:
    """``steps`` Adam L1 steps of batch 8 on the pooled ``data``."""
    x, y, c = (torch.cat([d[k] for d in data]) for k in range(3))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = UNetPlusPlus(base_width=6, depth=2, condition=condition)
    order = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(steps):
        i = torch.randint(0, x.shape[0], (8,), generator=order)
        pred = net(x[i]) if condition is None else net(x[i], c[i])
        loss = (pred - y[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def held_out_l1(net: UNetPlusPlus, data, condition) -> float:
    x, y, c = data
    with torch.no_grad():
        pred = net(x) if condition is None else net(x, c)
    return float((pred - y).abs().mean())


def main(argv: list[str]) -> None:
    seed = int(argv[0]) if argv else 0
    steps = int(argv[1]) if len(argv) > 1 else 150
    sp_steps = int(argv[2]) if len(argv) > 2 else steps // len(WEDGES)
    torch.set_num_threads(1)
    opts = PairOptions(size=32, oversample=1, tilt_steps_deg=(2.0,))
    tr = {w: pairs(w, list(range(64)), False, opts) for w in WEDGES}
    va = {w: pairs(w, list(range(16)), True, opts) for w in WEDGES}
    uncond = train(None, list(tr.values()), steps, seed)
    film = train("film", list(tr.values()), steps, seed)
    spec = {w: train(None, [tr[w]], sp_steps, seed) for w in WEDGES}
    for w in WEDGES:
        wbp = float((va[w][0] - va[w][1]).abs().mean())
        print(f"seed {seed} wedge {w:.0f}: WBP {wbp:.4f} uncond {held_out_l1(uncond, va[w], None):.4f} "
              f"film {held_out_l1(film, va[w], 'film'):.4f} specialist({sp_steps} steps) "
              f"{held_out_l1(spec[w], va[w], None):.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
