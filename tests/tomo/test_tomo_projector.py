"""The projector: adjointness, the DESIGN geometry (centre of rotation, angle sign), ASTRA cross-check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_irdm.tomo import ParallelProjector, clear_projector_cache

ADJ_CASES = [
    ((20, 3, 17), None, np.linspace(-70, 70, 9)),
    ((16, 2, 16), 23, np.array([-60.0, -60.0, 10.0, 0.0, 45.0, 89.0])),  # repeats, unsorted, n_det > nx
    ((9, 1, 12), 7, np.array([-30.0, 5.0, 50.0])),  # detector narrower than the slice
    ((7, 2, 1), None, np.array([0.0, 30.0])),
]


@pytest.mark.parametrize("shape,n_det,angles", ADJ_CASES)
def test_adjointness_float32(shape, n_det, angles):
    rng = np.random.default_rng(1)
    p = ParallelProjector(angles, shape, n_det=n_det)
    x = rng.standard_normal(p.domain_shape).astype(np.float32)
    y = rng.standard_normal(p.range_shape).astype(np.float32)
    lhs = np.vdot(y.astype(np.float64), p.forward(x).astype(np.float64))
    rhs = np.vdot(p.adjoint(y).astype(np.float64), x.astype(np.float64))
    scale = np.linalg.norm(y) * np.linalg.norm(p.forward(x)) + 1e-12
    assert abs(lhs - rhs) / scale < 1e-5


@pytest.mark.parametrize("d", [-6.0, 5.0])
def test_off_centre_point_lands_at_d_sin_theta(d):
    n = 33  # odd: the centre (n-1)/2 is a pixel
    angles = np.array([-60.0, -25.0, 0.0, 30.0, 75.0])
    vol = np.zeros((n, 1, n), np.float32)
    c = (n - 1) // 2
    vol[c + int(d), 0, c] = 1.0  # (z, x) = (d, 0)
    proj = ParallelProjector(angles, vol.shape).forward(vol)[:, 0, :]
    u = np.arange(n) - (n - 1) / 2.0
    centroid = (proj * u).sum(axis=1) / proj.sum(axis=1)
    np.testing.assert_allclose(centroid, d * np.sin(np.deg2rad(angles)), atol=1e-4)
    np.testing.assert_allclose(proj.sum(axis=1), 1.0, atol=1e-5)  # mass conserved


def test_point_on_x_axis_lands_at_x_cos_theta():
    n = 32  # even: centre between pixels
    angles = np.array([-40.0, 0.0, 40.0])
    vol = np.zeros((n, 1, n), np.float32)
    vol[n // 2, 0, n // 2 + 4] = 1.0  # z = 0.5, x = 4.5
    proj = ParallelProjector(angles, vol.shape).forward(vol)[:, 0, :]
    u = np.arange(n) - (n - 1) / 2.0
    centroid = (proj * u).sum(axis=1) / proj.sum(axis=1)
    th = np.deg2rad(angles)
    np.testing.assert_allclose(centroid, 4.5 * np.cos(th) + 0.5 * np.sin(th), atol=1e-4)


def test_tensor_in_tensor_out_and_numpy_agree():
    angles = np.linspace(-50, 50, 7)
    p = ParallelProjector(angles, (12, 3, 10))
    x = np.random.default_rng(0).random((12, 3, 10)).astype(np.float32)
    y_np = p.forward(x)
    y_t = p.forward(torch.from_numpy(x))
    assert isinstance(y_np, np.ndarray) and isinstance(y_t, torch.Tensor)
    np.testing.assert_allclose(y_t.cpu().numpy(), y_np, rtol=1e-6, atol=1e-5)
    assert isinstance(p.adjoint(torch.from_numpy(y_np)), torch.Tensor)


def test_sums_match_operator_and_blocks():
    angles = np.linspace(-60, 60, 10)
    shape = (14, 1, 11)
    full = ParallelProjector(angles, shape)
    blocked = ParallelProjector(angles, shape, angle_blocks=[(0, 3), (3, 4), (4, 10)])
    ones_v = np.ones(shape, np.float32)
    ones_s = np.ones(full.range_shape, np.float32)
    np.testing.assert_allclose(full.row_sums().cpu().numpy(), full.forward(ones_v)[:, 0, :].ravel(), atol=1e-4)
    np.testing.assert_allclose(full.col_sums().cpu().numpy(), full.adjoint(ones_s)[:, 0, :].ravel(), atol=1e-4)
    x = np.random.default_rng(2).random(shape).astype(np.float32)
    np.testing.assert_allclose(blocked.forward(x), full.forward(x), atol=1e-5)
    col = torch.from_numpy(x[:, 0, :].reshape(-1, 1).copy())
    part = blocked.forward_block(1, col).cpu().numpy().ravel()
    np.testing.assert_allclose(part, full.forward(x)[3, 0, :], atol=1e-5)
    total = sum(blocked.block_col_sums(i) for i in range(3))
    np.testing.assert_allclose(total.cpu().numpy(), full.col_sums().cpu().numpy(), atol=1e-4)


def test_bad_angle_blocks_and_shapes():
    with pytest.raises(ValueError, match="angle_blocks"):
        ParallelProjector([0.0, 10.0, 20.0], (4, 1, 4), angle_blocks=[(0, 1), (2, 3)])
    with pytest.raises(ValueError, match="volume_shape"):
        ParallelProjector([0.0], (4, 4))
    p = ParallelProjector([0.0, 10.0], (4, 1, 4))
    with pytest.raises(ValueError, match="does not match"):
        p.forward(np.zeros((5, 1, 4), np.float32))
    with pytest.raises(ValueError, match="outside"):
        ParallelProjector([0.0, 95.0], (4, 1, 4))


def test_cache_is_shared_and_clearable():
    clear_projector_cache()
    angles = np.linspace(-30, 30, 5)
    a = ParallelProjector(angles, (8, 1, 8))
    b = ParallelProjector(angles, (8, 2, 8))  # ny does not matter
    assert a._mats is b._mats
    clear_projector_cache()
    c = ParallelProjector(angles, (8, 1, 8))
    assert c._mats is not a._mats


def test_astra_parallel_with_minus_theta_reproduces_our_projection():
    astra = pytest.importorskip("astra")
    n, n_det = 24, 30
    angles = np.array([-70.0, -33.0, 0.0, 12.5, 64.0])
    rng = np.random.default_rng(3)
    s = np.zeros((n, n), np.float32)
    s[6:18, 8:14] = rng.random((12, 6))
    ours = ParallelProjector(angles, (n, 1, n), n_det=n_det).forward(s[:, None, :])[:, 0, :]
    vol_geom = astra.create_vol_geom(n, n)  # rows = z, columns = x
    proj_geom = astra.create_proj_geom("parallel", 1.0, n_det, -np.deg2rad(angles))
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    try:
        sid, sino = astra.create_sino(s, pid)
        astra.data2d.delete(sid)
    finally:
        astra.projector.delete(pid)
    err = np.linalg.norm(sino - ours) / np.linalg.norm(ours)
    assert err < 0.05, err  # different discretisations (pixel-driven vs line-driven), same geometry
    # a wrong sign or a flipped axis would move mass: compare centroids per angle
    u = np.arange(n_det)
    np.testing.assert_allclose((sino * u).sum(1) / sino.sum(1), (ours * u).sum(1) / ours.sum(1), atol=0.05)


def test_csr_path_used_off_cpu_matches_embedding_bag_path():
    """GPUs use CSR ``sparse.mm``; the CPU uses ``embedding_bag``: same operator."""
    angles = np.array([-65.0, -20.0, 0.0, 35.0, 80.0])
    shape = (18, 3, 15)
    bag = ParallelProjector(angles, shape, n_det=17)
    csr = ParallelProjector(angles, shape, n_det=17, angle_blocks=[(0, 2), (2, 5)])
    csr._use_bag = False
    x = np.random.default_rng(4).random(shape).astype(np.float32)
    y = np.random.default_rng(5).random(bag.range_shape).astype(np.float32)
    np.testing.assert_allclose(csr.forward(x), bag.forward(x), atol=1e-5)
    np.testing.assert_allclose(csr.adjoint(y), bag.adjoint(y), atol=1e-5)
    col = torch.from_numpy(x[:, 0, :].reshape(-1, 1).copy())
    np.testing.assert_allclose(csr.forward_block(1, col).cpu().numpy().ravel(), bag.forward(x)[2:, 0, :].ravel(), atol=1e-5)


@pytest.mark.parametrize("n_det", [1, 2, 9])
def test_no_duplicate_entries_in_a_row(n_det):
    """cuSPARSE rejects CSR rows with repeated columns (seen on an H200 with n_det = 1)."""
    p = ParallelProjector([-30.0, 0.0, 40.0], (5, 1, 3), n_det=n_det)
    blk = next(p._blocks(forward=True))
    rows = blk.bp_cols.view(15, -1)
    assert all(len(set(r.tolist())) == r.numel() for r in rows)
    assert blk.bp_cols.numel() <= 15 * 3 * n_det
