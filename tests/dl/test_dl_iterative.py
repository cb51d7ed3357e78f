"""Iterative (projection-domain) data consistency: re-projects to the data, keeps a true wedge, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_irdm.dl import UNetPlusPlus, inpaint
from napari_irdm.tomo import ParallelProjector, wbp

ANGLES = np.arange(-60.0, 61.0, 3.0)
N = 32


def _truth():
    z, x = np.mgrid[:N, :N] - (N - 1) / 2.0
    s = ((z / 10.0) ** 2 + (x / 13.0) ** 2 < 1).astype(np.float32)
    s[(np.abs(z - 3) < 3) & (np.abs(x + 4) < 4)] = 2.0
    return np.ascontiguousarray(np.repeat(s[:, None, :], 3, axis=1))


class Oracle(nn.Module):
    """Returns the true slices whatever it is given (normalise='none'): a perfect wedge filler."""

    def __init__(self, truth):
        super().__init__()
        self.t = torch.from_numpy(truth).permute(1, 0, 2)[:, None]  # (ny, 1, nz, nx)

    def forward(self, x):
        return self.t[: x.shape[0]].to(x)


def _rel_res(v, b):
    return np.linalg.norm(ParallelProjector(ANGLES, v.shape).forward(v) - b) / np.linalg.norm(b)


def test_iterative_consistency_fits_the_data_and_keeps_the_network_wedge():
    truth = _truth()
    b = ParallelProjector(ANGLES, truth.shape).forward(truth)
    w = wbp(b, ANGLES)
    torch.manual_seed(0)
    net = UNetPlusPlus(base_width=4, depth=2, residual=False)  # untrained: a poor, wrong restorer
    plain = inpaint(w, ANGLES, model=net)
    it = inpaint(w, ANGLES, model=net, consistency="iterative", tilt_series=b, consistency_iterations=30)
    assert _rel_res(it, b) < 0.25 * _rel_res(plain, b)
    # with a perfect network the SIRT updates have nothing to correct: the truth stays
    oracle = inpaint(w, ANGLES, model=Oracle(truth), normalise="none", consistency="iterative", tilt_series=b,
                     batch_size=8)
    assert np.abs(oracle - truth).max() < 0.05 * truth.max()
    # a network right in the wedge but wrong by a smooth offset: the projections remove the measured error
    class Offset(Oracle):
        def forward(self, x):
            return super().forward(x) + 0.3

    off = inpaint(w, ANGLES, model=Offset(truth), normalise="none", batch_size=8)
    fixed = inpaint(w, ANGLES, model=Offset(truth), normalise="none", consistency="iterative", tilt_series=b,
                    consistency_iterations=30, batch_size=8)
    assert np.linalg.norm(fixed - truth) < 0.5 * np.linalg.norm(off - truth)


def test_iterative_consistency_errors():
    truth = _truth()
    b = ParallelProjector(ANGLES, truth.shape).forward(truth)
    w = wbp(b, ANGLES)
    net = UNetPlusPlus(base_width=4, depth=2, residual=False)
    with pytest.raises(ValueError, match="pass tilt_series"):
        inpaint(w, ANGLES, model=net, consistency="iterative")
    with pytest.raises(ValueError, match="choose one data consistency"):
        inpaint(w, ANGLES, model=net, consistency="iterative", tilt_series=b, data_consistency=True)
    with pytest.raises(ValueError, match="does not fit the volume"):
        inpaint(w, ANGLES, model=net, consistency="iterative", tilt_series=b[:, :2])
    with pytest.raises(ValueError, match="'iterative'"):
        inpaint(w, ANGLES, model=net, consistency="cg", tilt_series=b)


def test_iterative_consistency_is_recorded_for_the_trust_report():
    """A Volume in: one provenance line that says data_consistency=iterative (read back by
    settings_from_provenance), and the same numbers as for the bare array."""
    from napari_irdm import Volume
    from napari_irdm.analysis.validate import settings_from_provenance

    truth = _truth()
    b = ParallelProjector(ANGLES, truth.shape).forward(truth)
    w = wbp(b, ANGLES)
    torch.manual_seed(0)
    net = UNetPlusPlus(base_width=4, depth=2, residual=False)
    out = inpaint(Volume(w, tilt_angles_deg=ANGLES), model=net, consistency="iterative", tilt_series=b,
                  consistency_iterations=3)
    assert isinstance(out, Volume)
    np.testing.assert_array_equal(out.data, inpaint(w, ANGLES, model=net, consistency="iterative", tilt_series=b,
                                                    consistency_iterations=3))
    assert len(out.provenance) == 1 and "consistency_iterations=3" in out.provenance[0]
    assert settings_from_provenance(out.provenance)["data_consistency"] == "iterative"
