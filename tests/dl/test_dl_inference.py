"""Slice-wise inpainting: shapes, types, axes, chunking, data consistency, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_irdm import Progress, Volume
from napari_irdm.dl import UNetPlusPlus, inpaint, inpaint_iter, wedge_mask

ANGLES = np.arange(-60.0, 61.0, 5.0)


@pytest.fixture
def vol():
    rng = np.random.default_rng(3)
    return rng.normal(2.0, 0.5, (16, 8, 24)).astype(np.float32)  # nz != nx, non-multiple of 16


@pytest.fixture
def net():
    torch.manual_seed(0)
    return UNetPlusPlus(base_width=4, depth=2, residual=False)


class RollZ(nn.Module):
    """Rolls each (nz, nx) slice by one pixel along z: tells which axes inpaint uses."""

    def forward(self, x):
        assert x.ndim == 4 and x.shape[1] == 1
        return torch.roll(x, 1, dims=-2)


def test_numpy_in_numpy_out_shape_dtype(vol, net):
    out = inpaint(vol, ANGLES, model=net)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == vol.shape
    assert np.isfinite(out).all()


def test_tensor_in_tensor_out(vol, net):
    out = inpaint(torch.from_numpy(vol), ANGLES, model=net)
    assert isinstance(out, torch.Tensor) and out.shape == vol.shape and out.dtype == torch.float32
    assert np.allclose(out.numpy(), inpaint(vol, ANGLES, model=net), atol=1e-5)


def test_slices_are_the_zx_planes(vol):
    out = inpaint(vol, ANGLES, model=RollZ(), normalise="robust")
    assert np.allclose(out, np.roll(vol, 1, axis=0), atol=1e-5)


def test_chunking_and_progress(vol, net):
    gen = inpaint_iter(vol, ANGLES, model=net, batch_size=3)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            out = stop.value
            break
    assert all(isinstance(e, Progress) for e in events)
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] == vol.shape[1] and events[-1].total == vol.shape[1]
    assert len(events) == 1 + 3  # loading + ceil(8 / 3) chunks
    assert np.allclose(out, inpaint(vol, ANGLES, model=net, batch_size=8), atol=1e-5)


class Tally(nn.Module):
    """Identity that notes which threads ran it, with how many intra-op threads, at once.

    The notes are kept on the class: inpaint runs a deep copy of the module it is given.
    """

    import threading as _threading

    lock = _threading.Lock()
    seen: set = set()
    busy = 0
    peak = 0

    @classmethod
    def reset(cls):
        cls.seen, cls.busy, cls.peak = set(), 0, 0

    def forward(self, x):
        import threading
        import time

        cls = type(self)
        with cls.lock:
            cls.seen.add((threading.get_ident(), torch.get_num_threads()))
            cls.busy += 1
            cls.peak = max(cls.peak, cls.busy)
        time.sleep(0.02)
        with cls.lock:
            cls.busy -= 1
        return x.clone()


def test_cpu_streams_run_batches_side_by_side_with_the_same_result(vol, net, monkeypatch):
    from napari_irdm.dl.inference import cpu_streams

    monkeypatch.setenv("NAPARI_IRDM_CPU_STREAMS", "1")
    one = inpaint(vol, ANGLES, model=net, batch_size=2)
    monkeypatch.setenv("NAPARI_IRDM_CPU_STREAMS", "3")
    threads = torch.get_num_threads()
    assert cpu_streams(torch.device("cpu"), 4) == 3 and cpu_streams(torch.device("cpu"), 1) == 1
    assert cpu_streams(torch.device("cuda"), 4) == 1
    three = inpaint(vol, ANGLES, model=net, batch_size=2)
    np.testing.assert_allclose(three, one, atol=1e-5)  # same slices, same order
    Tally.reset()
    inpaint(vol, ANGLES, model=Tally(), batch_size=1, normalise="none")
    assert Tally.peak >= 2 and {n for _t, n in Tally.seen} == {1}  # side by side, one intra-op thread each
    assert torch.get_num_threads() == threads
    # a run closed half-way (Cancel) also gives the caller its threads back
    gen = inpaint_iter(vol, ANGLES, model=Tally(), batch_size=1, normalise="none")
    next(gen), next(gen)
    gen.close()
    assert torch.get_num_threads() == threads


def test_callers_module_is_not_modified(vol, net):
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    inpaint(vol, ANGLES, model=net)
    assert net.training
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_data_consistency_keeps_measured_fourier_region(vol, net):
    angles = np.linspace(-50, 65, 24)  # asymmetric
    plain = inpaint(vol, angles, model=net)
    m = wedge_mask((vol.shape[0], vol.shape[2]), angles)
    f_in = np.fft.fft2(vol.transpose(1, 0, 2))
    f_plain = np.fft.fft2(plain.transpose(1, 0, 2))
    scale = np.abs(f_in).max()
    assert np.abs(f_plain - f_in)[:, m == 1].max() > 1e-2 * scale  # the network really changed them
    kz, kx = np.meshgrid(np.fft.fftfreq(vol.shape[0]), np.fft.fftfreq(vol.shape[2]), indexing="ij")
    k = np.hypot(kz, kx)
    for min_freq in (0.0, 0.1):
        dc = inpaint(vol, angles, model=net, data_consistency=True, dc_min_freq=min_freq)
        f_dc = np.fft.fft2(dc.transpose(1, 0, 2))
        measured = (m == 1) & (k >= min_freq)
        trusted_net = (m == 0) | (k < min_freq)
        assert np.abs(f_dc - f_in)[:, measured].max() < 1e-5 * scale
        assert np.abs(f_dc - f_plain)[:, trusted_net].max() < 1e-5 * scale
    assert np.abs(f_dc[:, 0, 0] - f_plain[:, 0, 0]).max() < 1e-5 * scale  # mean from the network


def test_volume_in_volume_out_with_its_angles_and_one_provenance_line(vol, net):
    v = Volume(vol, pixel_size_A=1.5, tilt_angles_deg=ANGLES, provenance=("WBP of something",))
    out = inpaint(v, model=net, data_consistency=True)
    assert isinstance(out, Volume) and out.shape == vol.shape
    # the same numbers as for the bare array with the Volume's angles
    np.testing.assert_array_equal(out.data, inpaint(vol, ANGLES, model=net, data_consistency=True))
    assert out.pixel_size_A == 1.5
    np.testing.assert_array_equal(out.tilt_angles_deg, ANGLES)
    assert out.provenance[:-1] == v.provenance and len(out.provenance) == 2
    line = out.provenance[-1]
    assert "method=irdm" in line and "model=UNetPlusPlus" in line and "data_consistency=True" in line
    # the Trust report reads how it was made back from that line
    from napari_irdm.analysis.validate import settings_from_provenance

    assert settings_from_provenance(out.provenance) == {"method": "irdm", "model": "UNetPlusPlus",
                                                        "data_consistency": True}
    # the generator form too
    gen = inpaint_iter(v, model=net)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        assert isinstance(stop.value, Volume) and "data_consistency=False" in stop.value.provenance[-1]


def test_bad_inputs(vol, net):
    with pytest.raises(ValueError, match="3-D"):
        inpaint(vol[0], ANGLES, model=net)
    with pytest.raises(ValueError, match="tilt angles"):
        inpaint(vol, None, model=net, data_consistency=True)
    with pytest.raises(ValueError, match="batch_size"):
        inpaint(vol, ANGLES, model=net, batch_size=0)
    bad = vol.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        inpaint(bad, ANGLES, model=net)
    with pytest.raises(ValueError, match="model"):
        inpaint(vol, ANGLES, model=3)


def test_out_array_is_filled(vol, net, tmp_path):
    out = np.lib.format.open_memmap(tmp_path / "o.npy", mode="w+", dtype=np.float32, shape=vol.shape)
    res = inpaint(vol, ANGLES, model=net, out=out)
    assert res is out
    assert np.allclose(np.load(tmp_path / "o.npy"), inpaint(vol, ANGLES, model=net), atol=1e-5)
    with pytest.raises(ValueError, match="out must be"):
        inpaint(vol, ANGLES, model=net, out=np.empty((2, 2, 2), np.float32))


def test_empty_slices_pass_through_unchanged():
    """Slices beyond the sample (all zero, or rounding noise only) must not be blown up.

    Per-slice normalisation maps any slice to full contrast; an untrained network's bias on a
    zero slice, scaled back by a fallback range, used to come out brighter than the sample.
    """
    rng = np.random.default_rng(0)
    v = np.zeros((24, 10, 24), np.float32)
    v[4:20, 3:7, 4:20] = rng.random((16, 4, 16)).astype(np.float32)  # the sample: slices y = 3..6
    v[:, 8, :] = 1e-9 * rng.standard_normal((24, 24)).astype(np.float32)  # rounding noise only
    torch.manual_seed(0)
    net = UNetPlusPlus(base_width=4, depth=2)
    with torch.no_grad():  # a strong output bias: a flat input gives a non-zero output
        net.head.bias.fill_(0.5)
    out = inpaint(v, model=net, device="cpu")
    for y in (0, 1, 2, 7, 9):
        assert np.array_equal(out[:, y], v[:, y]), y
    np.testing.assert_array_equal(out[:, 8], v[:, 8])
    assert np.abs(out[:, 3:7]).max() < 10 * np.abs(v).max()  # the sample's slices are restored, not skipped
    assert not np.array_equal(out[:, 3:7], v[:, 3:7])
    # the threshold is relative to the volume: the same volume scaled by 1e-6 behaves the same
    out_s = inpaint(v * 1e-6, model=net, device="cpu")
    np.testing.assert_allclose(out_s, out * 1e-6, rtol=1e-3, atol=1e-12)
    with pytest.raises(ValueError, match="empty_fraction"):
        inpaint(v, model=net, device="cpu", empty_fraction=1.5)


def test_nonnegative_clips_the_result(vol, net):
    plain = inpaint(vol - 2.0, model=net, device="cpu")  # centred data: plenty of negative values
    clipped = inpaint(vol - 2.0, model=net, device="cpu", nonnegative=True)
    assert plain.min() < 0
    np.testing.assert_array_equal(clipped, np.maximum(plain, 0))


def test_tta_flips_keep_the_missing_wedge():
    """180° rotation keeps any tilt range's measured cone; a mirror maps [a, b] to [-b, -a]."""
    from napari_irdm.dl.inference import tta_flips

    def neg(m):  # the mask at -k in FFT index order
        return np.roll(np.flip(m, axis=(0, 1)), 1, axis=(0, 1))

    def mirror_x(m):  # kx -> -kx
        return np.roll(np.flip(m, axis=1), 1, axis=1)

    asym = np.arange(-50.0, 71.0, 2.0)
    m = wedge_mask((32, 32), asym, soft_deg=0)
    np.testing.assert_array_equal(neg(m), m)
    np.testing.assert_array_equal(mirror_x(m), wedge_mask((32, 32), -asym, soft_deg=0))
    assert not np.array_equal(mirror_x(m), m)  # so a mirror is wrong for an asymmetric range
    assert tta_flips(asym) == ((), (-2, -1))
    assert tta_flips(ANGLES) == ((), (-2,), (-1,), (-2, -1))
    assert tta_flips(None) == ((), (-2, -1))


def test_tta_averages_the_flipped_predictions(vol, net):
    from napari_irdm.dl.inference import predict_slices

    x = torch.from_numpy(vol).permute(1, 0, 2).contiguous()
    flips = ((), (-2,), (-1,), (-2, -1))
    want = sum(torch.flip(predict_slices(net.eval(), torch.flip(x, f) if f else x), f) if f
               else predict_slices(net.eval(), x) for f in flips) / 4
    got = predict_slices(net.eval(), x, flips=flips)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    out = inpaint(vol, ANGLES, model=net, device="cpu", tta=True)
    np.testing.assert_allclose(out, got.permute(1, 0, 2).numpy(), atol=1e-4, rtol=1e-4)
