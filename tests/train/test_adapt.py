"""Self-supervised adaptation (train.adapt): the geometry of its pairs and one short run."""

import numpy as np
import pytest
import torch

from napari_irdm.dl.unetpp import UNetPlusPlus
from napari_irdm.geometry import angles_from_range
from napari_irdm.train.adapt import (
    AdaptOptions,
    _Reacquire,
    adapt,
    patch_window,
    rotated_measured_mask,
    rotated_patches,
)
from napari_irdm.train.pairs import project_batch

CPU = torch.device("cpu")


def _band(p: int) -> torch.Tensor:
    k = np.fft.fftfreq(p)
    r = np.hypot(k[:, None], k[None, :])
    return torch.as_tensor((r > 0.08) & (r < 0.35))


@pytest.mark.parametrize("phi", [40.0, 100.0, 250.0])
def test_rotated_wbp_lies_in_the_rotated_measured_mask(phi):
    """A WBP over the asymmetric range −20…60°, rotated by φ, has its spectrum on [−20+φ, 60+φ] (not −φ)."""
    n, p = 200, 128
    ang = angles_from_range(-20, 60, 1)
    img = torch.rand((1, n, n), generator=torch.Generator().manual_seed(0))
    w = _Reacquire(ang, n, "ramp", CPU, oversample=1)(img)
    pt = rotated_patches(w, torch.tensor([[(n - 1) / 2, (n - 1) / 2]]), torch.tensor([phi]), p)
    win = torch.hann_window(p)[:, None] * torch.hann_window(p)[None]
    power = torch.fft.fft2(pt * win).abs() ** 2 * _band(p)
    inside = float((power * rotated_measured_mask(p, ang, [phi], soft_deg=0)).sum() / power.sum())
    wrong = float((power * rotated_measured_mask(p, ang, [-phi], soft_deg=0)).sum() / power.sum())
    assert inside > 0.95  # a random image's WBP fills the measured cone, and only it
    assert wrong < 0.8


def test_rotation_turns_content_by_plus_phi():
    """A point right of the centre (azimuth 0) rotated by +90° lands above it (+z: azimuth 90°)."""
    n = 65
    sl = torch.zeros((1, n, n))
    sl[0, 32, 42] = 1.0  # z = 0, x = +10 from the centre
    out = rotated_patches(sl, torch.tensor([[32.0, 32.0]]), torch.tensor([90.0]), 33)
    z, x = np.unravel_index(int(out[0].argmax()), (33, 33))
    assert (z - 16, x - 16) == (10, 0)


def test_reacquisition_equals_the_training_pairs_wbp():
    """Oversampled projection + WBP of a patch = the WBP the training pairs give the model (same physics)."""
    ang = angles_from_range(-45, 45, 3)
    img = torch.rand((2, 48, 48), generator=torch.Generator().manual_seed(1))
    re = _Reacquire(ang, 48, "ramp", CPU, oversample=2)
    sino = project_batch(img, ang, 2, CPU)  # (angle, u, B)
    assert torch.allclose(re.project(img), sino.permute(0, 2, 1), atol=1e-5)
    # and its back-projection is the adjoint-based WBP of those projections: a linear, real map
    out = re(img)
    assert out.shape == (2, 48, 48) and torch.isfinite(out).all()
    assert torch.allclose(re(2 * img), 2 * out, atol=1e-4)


def test_patch_window_is_one_inside_and_zero_at_the_edge():
    w = patch_window(64)
    assert float(w[32, 32]) == pytest.approx(1.0)
    assert float(w[0, 0]) == 0.0 and float(w[32, 0]) < 0.05
    assert torch.allclose(w, w.flip(0)) and torch.allclose(w, w.T)


def _series(n_tilts=30, n=64, ny=6):
    ang = angles_from_range(-60, 60, 120 / (n_tilts - 1))
    rng = np.random.default_rng(0)
    truth = np.zeros((ny, n, n), np.float32)
    zz, xx = np.mgrid[:n, :n] - (n - 1) / 2
    for k in range(ny):
        for _ in range(3):
            cz, cx, r = rng.uniform(-12, 12), rng.uniform(-12, 12), rng.uniform(3, 7)
            truth[k] += ((zz - cz) ** 2 + (xx - cx) ** 2 < r * r)
    sino = project_batch(torch.as_tensor(truth), ang, 2, CPU)  # (angle, u, B)
    return sino.permute(0, 2, 1).contiguous(), ang


@pytest.mark.parametrize("pairs", ["estimate", "halves", "tv"])
def test_adapt_changes_a_copy_and_keeps_the_original(pairs):
    series, ang = _series()
    net = UNetPlusPlus(base_width=4, depth=2).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = adapt(net, series, ang, AdaptOptions(steps=3, patch=32, batch=2, lr=1e-3, pairs=pairs))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the caller's model is untouched
    assert not out.training and all(not q.requires_grad for q in out.parameters())
    x = torch.rand((1, 1, 64, 64))
    assert not torch.allclose(out(x), net(x))


@pytest.mark.parametrize("bad, match", [
    (dict(steps=0), "steps"), (dict(patch=40), "multiple of 16"), (dict(lr=-1.0), "lr"),
    (dict(pairs="nope"), "pairs"), (dict(filter_name="nope"), "filter"),
])
def test_bad_options_say_what_to_change(bad, match):
    with pytest.raises(ValueError, match=match):
        AdaptOptions(**bad)


def test_bad_series_is_refused_in_one_line():
    series, ang = _series()
    with pytest.raises(ValueError, match="tilt angles"):
        adapt(UNetPlusPlus(base_width=4, depth=2), series, None)
    with pytest.raises(ValueError, match="at least 8 tilts"):
        adapt(UNetPlusPlus(base_width=4, depth=2), series[:6], ang[:6])
    bad = series.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        adapt(UNetPlusPlus(base_width=4, depth=2), bad, ang)
    with pytest.raises(ValueError, match="49x49"):
        adapt(UNetPlusPlus(base_width=4, depth=2), series[:, :, :40], ang)
