"""Evaluate with a different prior-weight grid (diagnostic)."""
import sys
import napari_irdm.tomo.tv_cp as tc
GRID = tuple(float(g) for g in sys.argv[1].split(","))
orig = tc.choose_prior_weights
def wrapped(*a, **kw):
    kw["prior_weights"] = GRID
    return orig(*a, **kw)
tc.choose_prior_weights = wrapped
from napari_irdm.cli import main
sys.exit(main(sys.argv[2:]))
