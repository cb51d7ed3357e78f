"""The shipped default model: present, verified by sha256, and really better than WBP.

Held-back pairs (source indices ≥ 10⁷, never used in training) at three missing wedges; the
model, run on the WBP input of each pair, must beat WBP in PSNR and SSIM on average. This is a
smoke-level quality check; the full quality bars are in docs/models/general.md.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_irdm.analysis.metrics import psnr, ssim
from napari_irdm.dl import list_models, load_model
from napari_irdm.dl.registry import resolve_model_path


def test_general_is_shipped_and_verified():
    assert "general" in list_models()
    path = resolve_model_path("general")
    card = json.loads(path.with_suffix(".json").read_text())
    assert path.stat().st_size <= 25 * 1024 * 1024
    assert card["card"]["dataset"] == "DA"
    net = load_model("general", device="cpu")  # verifies the sha256
    assert not net.training


@pytest.mark.parametrize("wedge", [40.0, 60.0, 80.0])
def test_general_beats_wbp_on_held_back_pairs(wedge):
    import torch

    from napari_irdm.train.pairs import make_pair

    net = load_model("general", device="cpu")
    gains_psnr, gains_ssim = [], []
    for index in range(4):
        x, y = make_pair("D2", index, size=96, holdout=True, wedge_deg=wedge)
        with torch.no_grad():
            out = net(torch.from_numpy(x)[None, None]).numpy()[0, 0]
        rng = float(y.max() - y.min()) or 1.0
        gains_psnr.append(psnr(y, out, data_range=rng) - psnr(y, x, data_range=rng))
        gains_ssim.append(ssim(y, out, data_range=rng) - ssim(y, x, data_range=rng))
    assert np.mean(gains_psnr) > 1.0, gains_psnr
    assert np.mean(gains_ssim) > 0.0, gains_ssim
