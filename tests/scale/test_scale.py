"""Scale-out (issue 14): slab engine on Dask == the plain call; OME-Zarr; cancel; a lost worker.

Tiny sizes, loopback only. One 2-worker LocalCluster with real worker processes is shared by
the distributed tests (starting one costs seconds on a loaded 2-core machine).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from napari_irdm import tomo
from napari_irdm.data import TiltSeries
from napari_irdm.io import write_tilt_series
from napari_irdm.io.omezarr import downsample2, is_omezarr, open_omezarr, write_omezarr
from napari_irdm.scale import open_series, reconstruct, reconstruct_iter

pytest.importorskip("distributed")

ANGLES = np.arange(-60.0, 61.0, 5.0)


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(a)))


@pytest.fixture(scope="module")
def series():
    """Noisy projections (25, 24, 32) of a phantom with structure varying along y."""
    vol = np.zeros((32, 24, 32), np.float32)
    vol[8:20, 2:18, 10:24] = 1.0
    vol[12:16, 6:, 4:9] = 2.0
    ser = tomo.ParallelProjector(ANGLES, vol.shape).forward(vol).astype(np.float32)
    ser += np.random.default_rng(1).normal(0, 0.02, ser.shape).astype(np.float32)
    return ser


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker *processes* (as ``--scheduler local:2`` builds it) and its client."""
    from distributed import Client

    from napari_irdm.scale._schedulers import _local_cluster

    cluster = _local_cluster(2, 0)
    with Client(cluster) as c:
        c.wait_for_workers(2, timeout=120)
        c.run(_warm_up)  # both workers import the core once, before any timing-sensitive step
        yield c
    cluster.close()


def _warm_up():
    import napari_irdm.scale._slab  # noqa: F401
    import napari_irdm.tomo  # noqa: F401


CASES = [
    ("wbp", {}, lambda s: tomo.wbp(s, ANGLES)),
    ("sirt", {"iterations": 8, "nonnegative": True}, lambda s: tomo.sirt(s, ANGLES, iterations=8, nonnegative=True)),
    ("sart", {"iterations": 2}, lambda s: tomo.sart(s, ANGLES, iterations=2)),
    # TV scales by max|b| of the whole series: a slab must give the same result as the whole
    ("tv", {"iterations": 15, "tv_weight": 3e-3}, lambda s: tomo.tv(s, ANGLES, iterations=15, tv_weight=3e-3)),
]


@pytest.mark.parametrize("method,kw,plain", CASES, ids=[c[0] for c in CASES])
def test_threaded_slabs_equal_plain_call(series, method, kw, plain):
    ref = plain(series)
    out = reconstruct(series, ANGLES, method=method, slab=8, **kw)
    assert out.shape == ref.shape
    assert _rel(ref, out) <= 1e-6
    assert np.linalg.norm(ref) > 1  # a real reconstruction, not zeros


def test_tv_auto_weight_chosen_once_for_the_whole_series(series):
    w = tomo.choose_tv_weight(series, ANGLES, iterations=8, nonnegative=True)
    ref = tomo.tv(series, ANGLES, iterations=8, tv_weight=w, solver="cp")
    out = reconstruct(series, ANGLES, method="tv", slab=8, iterations=8, tv_weight="auto")
    assert _rel(ref, out) <= 1e-6


def test_irdm_slabs_equal_plain_inpaint(series):
    """IRDM's empty-slice threshold is a fraction of the *volume's* contrast: the engine
    measures it on the same probe slices, so slabs restore exactly what the whole does.
    The phantom leaves the last y-slices nearly empty, so some slabs are passed through."""
    from napari_irdm.dl import inpaint

    ref = inpaint(tomo.wbp(series, ANGLES), ANGLES, empty_fraction=0.2)
    out = reconstruct(series, ANGLES, method="irdm", slab=8, empty_fraction=0.2)
    assert _rel(ref, out) <= 1e-6
    assert _rel(tomo.wbp(series, ANGLES), out) > 1e-3  # the network did change the volume


@pytest.mark.slow
def test_local_cluster_processes_equal_plain_call(series, client, tmp_path):
    ref = tomo.sirt(series, ANGLES, iterations=8)
    out = reconstruct(series, ANGLES, method="sirt", slab=8, iterations=8, scheduler=client)
    assert _rel(ref, out) <= 1e-6
    # lazy file input read by the workers themselves, OME-Zarr out, TV's global scale
    write_tilt_series(tmp_path / "s.mrc", TiltSeries(series, ANGLES, pixel_size_A=2.5))
    lazy = open_series(tmp_path / "s.mrc")
    p = reconstruct(lazy, method="tv", iterations=10, tv_weight=3e-3, slab=8, scheduler=client,
                    output=tmp_path / "v.zarr")
    assert _rel(tomo.tv(series, ANGLES, iterations=10, tv_weight=3e-3), open_omezarr(p).data.compute()) <= 1e-6
    from napari_irdm.scale._engine import LAST_RUN_STATS

    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids  # two real worker processes
    assert set(LAST_RUN_STATS["pids"]) <= worker_pids


def test_omezarr_round_trip_keeps_voxel_size_angles_and_pyramid(tmp_path, series):
    vol = tomo.wbp(series, ANGLES, thickness=64)  # (64, 24, 32): 2 levels at edge >= 32... (24 < 64)
    vol = np.concatenate([vol] * 3, axis=1)  # (64, 72, 32)
    vol = np.concatenate([vol, vol], axis=2)  # (64, 72, 64) -> 2 levels
    p = write_omezarr(tmp_path / "v.zarr", vol, pixel_size_A=3.25, tilt_angles_deg=ANGLES,
                      provenance=["test line"], chunk_y=8)
    assert is_omezarr(p) and not list(tmp_path.glob(".*tmp*"))
    o = open_omezarr(p)
    assert o.pixel_size_A == 3.25 and o.unit == "angstrom"
    np.testing.assert_array_equal(o.tilt_angles_deg, ANGLES)
    assert o.provenance == ("test line",) and o.complete
    np.testing.assert_array_equal(o.data.compute(), vol)
    assert len(o.levels) == 2 and o.scales[1] == (6.5, 6.5, 6.5)
    np.testing.assert_allclose(o.levels[1].compute(), downsample2(vol), rtol=1e-6)
    # the level-1 voxel (0,0,0) is the mean of the first 2x2x2 block, centred at 0.5 voxel
    assert o.translations[1] == (3.25 / 2,) * 3
    # what any OME-Zarr reader sees: NGFF 0.4 multiscales with angstrom axes
    import json

    meta = json.loads((p / ".zattrs").read_text())
    ms = meta["multiscales"][0]
    assert ms["version"] == "0.4" and [a["unit"] for a in ms["axes"]] == ["angstrom"] * 3
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [3.25] * 3


def _no_output(folder, name: str) -> bool:
    return not (folder / name).exists() and not [p for p in folder.iterdir() if "tmp" in p.name]


def test_cancel_threaded_leaves_no_partial_output(series, tmp_path):
    gen = reconstruct_iter(series, ANGLES, method="sirt", iterations=30, slab=1, output=tmp_path / "c.zarr")
    for ev in gen:
        if ev.step >= 1:
            break
    gen.close()
    assert _no_output(tmp_path, "c.zarr")
    time.sleep(0.5)
    assert _no_output(tmp_path, "c.zarr")


def test_cancel_threaded_straggler_never_writes(series, tmp_path, monkeypatch):
    """Dask's threaded scheduler raises at the first failed task while the other workers'
    tasks still run: a slab that finishes after the cancel must not write (and so not
    recreate the deleted temporary store)."""
    from napari_irdm.scale import _slab

    real = _slab._reconstruct

    def slow(job, b, glob):  # slab 0 fast; the next ones finish one after another, late
        y0 = int(slow.calls)
        slow.calls += 1
        time.sleep(0.0 if y0 == 0 else 0.3 * y0)
        return real(job, b, glob)

    slow.calls = 0
    monkeypatch.setattr(_slab, "_reconstruct", slow)
    from napari_irdm.io.omezarr import OmeZarrTarget

    real_write, late = OmeZarrTarget.write_slab, []

    def write(self, y0, y1, block):
        if closed:
            late.append(y0)
        return real_write(self, y0, y1, block)

    closed = False
    monkeypatch.setattr(OmeZarrTarget, "write_slab", write)
    gen = reconstruct_iter(series, ANGLES, method="wbp", slab=1, output=tmp_path / "s.zarr", scheduler="threads:3")
    for ev in gen:
        if ev.step >= 1:
            break
    gen.close()
    closed = True
    time.sleep(1.5)  # the stragglers finish in this time
    assert late == [] and slow.calls >= 3  # a slab still ran after the cancel, and never began to write
    assert _no_output(tmp_path, "s.zarr")


@pytest.mark.slow
def test_cancel_distributed_leaves_no_partial_output(series, client, tmp_path):
    gen = reconstruct_iter(series, ANGLES, method="sirt", iterations=60, slab=1, output=tmp_path / "c.zarr",
                           scheduler=client)
    for ev in gen:
        if ev.step >= 1:
            break
    gen.close()
    assert _no_output(tmp_path, "c.zarr")
    time.sleep(1.0)  # nothing straggles in afterwards
    assert _no_output(tmp_path, "c.zarr")
    assert not any(client.processing().values())


@pytest.mark.slow
def test_worker_killed_mid_run_is_retried_and_output_complete(series, client, tmp_path):
    ref = tomo.sirt(series, ANGLES, iterations=40)
    gen = reconstruct_iter(series, ANGLES, method="sirt", iterations=40, slab=2, output=tmp_path / "k.zarr",
                           scheduler=client)
    killed = None
    t_end = time.monotonic() + 120
    try:
        while True:
            ev = next(gen)
            busy = {w: k for w, k in client.processing().items() if k}
            if killed is None and ev.step >= 1 and busy:
                pids = client.run(os.getpid)
                addr = next(iter(busy))
                killed = pids[addr]
                os.kill(killed, signal.SIGKILL)  # the worker process dies mid-task; its nanny restarts it
            assert time.monotonic() < t_end
    except StopIteration as stop:
        path = stop.value
    assert killed is not None
    o = open_omezarr(path)
    assert o.complete
    assert _rel(ref, o.data.compute()) <= 1e-6
    client.wait_for_workers(2, timeout=60)


def test_bad_inputs_one_line_errors(series, tmp_path):
    with pytest.raises(ValueError, match="unknown scheduler"):
        reconstruct(series, ANGLES, scheduler="bogus")
    with pytest.raises(ValueError, match="not a parameter of method"):
        reconstruct(series, ANGLES, method="wbp", iterations=3)
    with pytest.raises(ValueError, match="`slab` must"):
        reconstruct(series, ANGLES, method="irdm", slab=128)
    (tmp_path / "x.zarr").mkdir()
    (tmp_path / "x.zarr" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an OME-Zarr"):
        reconstruct(series, ANGLES, output=tmp_path / "x.zarr")
    assert (tmp_path / "x.zarr" / "keep.txt").read_text() == "mine"


def test_lazy_sources_mrc_tiff_zarr_and_dask_input(series, tmp_path):
    """The series as a Dask array / lazily from MRC, TIFF (tilt axis x) and Zarr: same volume."""
    import tifffile
    import zarr

    from napari_irdm.scale import as_dask

    ref = tomo.wbp(series, ANGLES)
    write_tilt_series(tmp_path / "s.mrc", TiltSeries(series, ANGLES, pixel_size_A=2.0))
    lazy = open_series(tmp_path / "s.mrc")
    assert lazy.shape == series.shape and lazy.pixel_size_A == 2.0
    np.testing.assert_array_equal(lazy[:, 3:9, :], series[:, 3:9, :])
    darr = as_dask(lazy, slab=8)
    assert darr.chunks[1] == (8, 8, 8)
    np.testing.assert_array_equal(darr[:, 5:7].compute(), series[:, 5:7])
    assert _rel(ref, reconstruct(darr, ANGLES, slab=8)) <= 1e-6
    tifffile.imwrite(tmp_path / "s.tif", np.ascontiguousarray(series.transpose(0, 2, 1)))  # tilt axis along x
    t = open_series(tmp_path / "s.tif", tilt_angles_deg=ANGLES, tilt_axis="x")
    assert t.shape == series.shape
    assert _rel(ref, reconstruct(t, slab=8)) <= 1e-6
    z = zarr.open_array(str(tmp_path / "s.zarr"), mode="w", shape=series.shape, chunks=(25, 8, 32), dtype="f4")
    z[:] = series
    z.attrs["tilt_angles_deg"] = ANGLES.tolist()
    zs = open_series(tmp_path / "s.zarr")
    assert _rel(ref, reconstruct(zs, slab=8)) <= 1e-6


def test_a_local_cluster_starts_while_port_8787_is_taken():
    """Another Dask dashboard (a notebook, a second run) on 8787 must not warn or fail our cluster."""
    import socket

    from napari_irdm.scale._schedulers import _local_cluster

    with socket.socket() as busy:
        try:
            busy.bind(("0.0.0.0", 8787))
        except OSError:
            pass  # already taken by someone else: the same situation
        busy.listen()
        cluster = _local_cluster(1, 0)  # filterwarnings=error: a port warning fails here
        try:
            assert ":8787" not in cluster.dashboard_link
        finally:
            cluster.close()


def test_slabs_grow_when_the_projector_cannot_keep_its_matrices(monkeypatch):
    """2048² at 61 tilts rebuilds its matrices per slab: slabs of 64, not 16, amortise that build."""
    import napari_irdm.tomo.projector as pj
    from napari_irdm.scale import slab_size
    from napari_irdm.tomo.projector import matrices_kept

    monkeypatch.setattr(pj, "available_memory_bytes", lambda device: 64 << 30)
    assert not matrices_kept(61, 2048, 2048)  # 4 GiB > the 3 GiB keep limit
    assert matrices_kept(61, 1024, 1024)
    assert slab_size(2048, 2048, 2048, "wbp") == 16  # without the tilt count: the output-size rule
    assert slab_size(2048, 2048, 2048, "wbp", n_tilts=61) == 64
    assert slab_size(1024, 1024, 1024, "wbp", n_tilts=61) == 64  # kept: 256 MiB of output
    assert slab_size(2048, 2048, 2048, "irdm", n_tilts=61) == 16  # the network's memory bounds IRDM slabs
    # the projector itself follows the same rule
    assert pj.ParallelProjector(np.linspace(-60, 60, 61), (2048, 1, 2048))._keep is False
