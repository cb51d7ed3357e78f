"""The trainer's parts: a pure gan_step, no global state, named-parameter errors, one projector
cache, one SSIM, no silent fallbacks (evaluate's method table, the atomic source)."""

from __future__ import annotations

import copy
import csv
import gc
import random
import subprocess
import sys
import weakref

import numpy as np
import pytest
import torch

from napari_irdm.errors import ParameterError, in_terms_of
from napari_irdm.progress import run_to_completion
from napari_irdm.train import LossWeights, TrainConfig, gan_step, train_iter
from napari_irdm.train._models import build_models, build_optimisers
from napari_irdm.train.pairs import PairOptions, make_batch

from ._configs import tiny_config


def _tiny(**kw) -> TrainConfig:
    return tiny_config(**kw)


def _global_state():
    return (torch.random.get_rng_state().clone(), torch.initial_seed(), np.random.get_state(), random.getstate(),
            torch.backends.cudnn.benchmark)


def _same_global_state(a, b) -> bool:
    return (torch.equal(a[0], b[0]) and a[1] == b[1] and a[2][0] == b[2][0] and np.array_equal(a[2][1], b[2][1])
            and a[2][2:] == b[2][2:] and a[3] == b[3] and a[4] == b[4])


def _models(seed: int = 0):
    cfg = _tiny().filled()
    g, d = build_models(cfg, torch.device("cpu"), torch.Generator().manual_seed(seed))
    return g, d, *build_optimisers(cfg, g, d)[:2]


def test_gan_step_is_pure_and_updates_both_networks():
    """Same models, optimisers and batch -> same losses and same new weights; no global RNG touched."""
    batch = make_batch("D2", [0, 1], PairOptions(size=32, oversample=1), device="cpu")
    g, d, og, od = _models()
    g2, d2 = copy.deepcopy(g), copy.deepcopy(d)
    og2, od2 = build_optimisers(_tiny().filled(), g2, d2)[:2]
    before = _global_state()
    g_start = {k: v.clone() for k, v in g.state_dict().items()}
    d_start = {k: v.clone() for k, v in d.state_dict().items()}
    w = LossWeights(gan=1.0, content=100.0, ssim=0.5)
    la = gan_step(g, d, og, od, batch, w)
    assert _same_global_state(before, _global_state())
    lb = gan_step(g2, d2, og2, od2, batch, w)
    assert la == lb and set(la) == {"loss_d", "loss_g", "loss_gan", "loss_l1"}
    for k, v in g.state_dict().items():
        assert torch.equal(v, g2.state_dict()[k]), k
    for k, v in d.state_dict().items():
        assert torch.equal(v, d2.state_dict()[k]), k
    assert any(not torch.equal(v, g_start[k]) for k, v in g.state_dict().items() if v.is_floating_point())
    assert any(not torch.equal(v, d_start[k]) for k, v in d.state_dict().items() if v.is_floating_point())
    # the reported G loss is its terms combined with the weights (ssim term >= 0)
    assert la["loss_g"] >= la["loss_gan"] + 100.0 * la["loss_l1"] - 1e-4
    assert all(p.requires_grad for p in d.parameters())  # D is trainable again afterwards


def test_weights_come_from_the_run_generator_as_a_global_seed_would_give():
    """build_models draws from its generator exactly what torch.manual_seed(seed) + default init gives,
    without reading or changing the global state (so the training trajectories of earlier versions hold)."""
    from napari_irdm.dl import Discriminator, build_generator

    cfg = _tiny().filled()
    torch.manual_seed(99)
    before = _global_state()
    g, d = build_models(cfg, torch.device("cpu"), torch.Generator().manual_seed(7))
    assert _same_global_state(before, _global_state())
    torch.manual_seed(7)
    g0, d0 = build_generator(cfg.generator), Discriminator(in_channels=2, base_width=4)
    for a, b in ((g, g0), (d, d0)):
        for k, v in b.state_dict().items():
            assert torch.equal(a.state_dict()[k], v), k
    g1, _ = build_models(cfg, torch.device("cpu"), torch.Generator().manual_seed(8))
    assert any(not torch.equal(v, g.state_dict()[k]) for k, v in g1.state_dict().items() if v.is_floating_point())


def test_training_leaves_the_process_global_state_alone(tmp_path):
    """A short run changes no global RNG (torch, NumPy, random) nor cuDNN's benchmark flag, and its
    losses do not depend on the global RNG."""
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    before = _global_state()
    run_to_completion(train_iter(_tiny(max_steps=2), tmp_path / "a"))
    assert _same_global_state(before, _global_state())
    torch.manual_seed(12345)
    np.random.seed(12345)
    run_to_completion(train_iter(_tiny(max_steps=2), tmp_path / "b"))
    rows = [list(csv.DictReader((tmp_path / r / "log.csv").read_text().splitlines())) for r in "ab"]
    assert [[r[k] for k in ("loss_d", "loss_g", "loss_l1")] for r in rows[0]] == \
        [[r[k] for k in ("loss_d", "loss_g", "loss_l1")] for r in rows[1]]


@pytest.mark.parametrize(("field", "value", "name"), [
    ("batch_size", 0, "batch_size"), ("size", 100_000, "size"), ("oversample", 1000, "oversample"),
    ("num_workers", 1000, "num_workers"), ("n_val", 0, "n_val"), ("max_steps", 0, "max_steps"),
    ("epochs", -1.0, "epochs"), ("time_limit_min", 0.0, "time_limit_min"), ("size_factor", 0.0, "size_factor"),
    ("generator", {"preset": "cpu", "base_width": 100_000}, "base_width"), ("preset", "gpu", "preset"),
])
def test_config_errors_name_the_parameter_not_a_cli_flag(field, value, name):
    with pytest.raises(ParameterError) as info:
        _tiny(**{field: value}).filled()
    msg = str(info.value)
    assert msg.startswith(f"`{name}` ") and "--" not in msg and "\n" not in msg, msg
    assert isinstance(info.value, ValueError) and info.value.params == (name,)
    flag = "--" + name.replace("_", "-")
    assert in_terms_of(info.value, {name: flag}).startswith(flag + " ")  # how a shell says it in its words


def test_resume_errors_name_parameters_and_the_cli_translates(tmp_path, capsys):
    run_to_completion(train_iter(_tiny(max_steps=1), tmp_path / "r"))
    with pytest.raises(ParameterError, match=r"^`size` 64 differs from the checkpoint's 32 .*drop `size` .*new `out_dir`"):
        run_to_completion(train_iter(_tiny(size=64), tmp_path / "r", resume=True, explicit={"size"}))
    with pytest.raises(ParameterError, match=r"^`max_steps` 1: the checkpoint .* already at step 1"):
        run_to_completion(train_iter(_tiny(max_steps=1), tmp_path / "r", resume=True))
    from napari_irdm.cli import main

    assert main(["train", "--out", str(tmp_path / "r"), "--resume", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--steps 1: the checkpoint" in err and "max_steps" not in err


def test_pairs_keep_no_projector_cache_and_clear_frees_the_matrices():
    """make_batch's projectors live only in the projector module's bounded LRU: clear_projector_cache
    frees their matrices (nothing else holds them), and the pairs come out the same afterwards."""
    from napari_irdm.tomo import clear_projector_cache
    from napari_irdm.tomo import projector as tp
    from napari_irdm.train import pairs

    assert not [k for k, v in vars(pairs).items() if isinstance(v, dict) and not k.startswith("__")]
    opts = PairOptions(size=24, oversample=2)
    clear_projector_cache()
    a = make_batch("D2", [0, 1], opts, device="cpu")
    for w in (40, 45, 50, 55, 60, 65):  # many geometries: the cache stays bounded
        make_batch("D2", [0], opts, holdout=True, wedge_deg=w, device="cpu")
        assert 0 < len(tp._lru) <= tp._LRU_SIZE
    refs = [weakref.ref(m) for m in tp._lru.values()]
    clear_projector_cache()
    gc.collect()
    assert len(tp._lru) == 0 and all(r() is None for r in refs)
    b = make_batch("D2", [0, 1], opts, device="cpu")
    torch.testing.assert_close(a.inputs, b.inputs, rtol=0, atol=0)
    torch.testing.assert_close(a.sinogram, b.sinogram, rtol=0, atol=0)


def test_a_run_keeps_its_projectors_bounded_and_frees_them_with_it():
    """Projectors (held by a training run or an evaluation) reuses each geometry's projector, keeps at
    most maxsize, gives the same pairs as building afresh, and its matrices go when it goes."""
    from napari_irdm.tomo import clear_projector_cache
    from napari_irdm.train.pairs import Projectors

    opts = PairOptions(size=24, oversample=2)
    clear_projector_cache()
    pr = Projectors(maxsize=2)
    for w in (40, 50, 60):
        make_batch("D2", [0], opts, holdout=True, wedge_deg=w, device="cpu", projectors=pr)
        assert len(pr) == 2
    a = make_batch("D2", [0, 1], opts, device="cpu", projectors=pr)
    kept = list(pr._d.values())
    a2 = make_batch("D2", [0, 1], opts, device="cpu", projectors=pr)
    assert list(pr._d.values()) == kept  # the same projector objects served the second batch
    b = make_batch("D2", [0, 1], opts, device="cpu")
    for x in (a2, b):
        torch.testing.assert_close(a.inputs, x.inputs, rtol=0, atol=0)
    refs = [weakref.ref(p._mats) for p in kept]
    del pr, kept
    clear_projector_cache()
    gc.collect()
    assert all(r() is None for r in refs)
    with pytest.raises(ValueError, match="maxsize"):
        Projectors(0)


@pytest.mark.parametrize("spec", ["D2", "D2'", "D5"])
@pytest.mark.parametrize("asymmetric", [False, True])
def test_spec_grid_is_the_union_of_every_geometry(spec, asymmetric):
    """The grid of a spec (computed at once, no cache) is exactly the union of the angles of every
    geometry a sample can draw."""
    from napari_irdm.geometry import angles_on_grid
    from napari_irdm.train.library import get_spec
    from napari_irdm.train.pairs import _spec_grid

    sp = get_spec(spec)
    for steps in ((2.0,), (1.0, 3.0), (0.7,)):
        opts = PairOptions(size=16, tilt_steps_deg=steps, asymmetric=asymmetric)
        want = set()
        for w in np.arange(sp.wedge_range_deg[0], sp.wedge_range_deg[1] + 1e-9, 0.5):
            m = min(10.0, w / 2) if asymmetric else 0.0
            for shift in np.arange(-m, m + 1e-9, 0.5):
                for st in steps:
                    want.update(angles_on_grid(-(90 - w / 2) + shift, 90 - w / 2 + shift, st).tolist())
        np.testing.assert_array_equal(_spec_grid(sp, opts), np.array(sorted(want)))


def test_evaluate_calls_the_real_functions_and_refuses_unknown_keywords():
    from napari_irdm.tomo import sart, tv
    from napari_irdm.train.evaluate import ITERATIVE, evaluate, reconstruct_iterative

    rng = np.random.default_rng(0)
    ang = np.arange(-60.0, 61.0, 6.0)
    series = torch.as_tensor(rng.random((ang.size, 2, 16), dtype=np.float32))
    got = reconstruct_iterative("tv", series, ang, "cpu", iterations=3, tv_weight=1e-3)
    want = torch.as_tensor(tv(series, ang, iterations=3, tv_weight=1e-3, nonnegative=True, device="cpu"))
    torch.testing.assert_close(got, want.permute(1, 0, 2), rtol=0, atol=0)
    got = reconstruct_iterative("sart", series, ang, "cpu", iterations=2)
    want = torch.as_tensor(sart(series, ang, iterations=2, nonnegative=True, device="cpu"))
    torch.testing.assert_close(got, want.permute(1, 0, 2), rtol=0, atol=0)
    with pytest.raises(TypeError, match="tv_weight"):  # SART has no TV weight: an error, not dropped
        reconstruct_iterative("sart", series, ang, "cpu", iterations=2, tv_weight=1e-3)
    with pytest.raises(ValueError, match="no iterative method 'wbp'"):
        reconstruct_iterative("wbp", series, ang, "cpu")
    with pytest.raises(TypeError, match="sart_relaxation"):
        evaluate(None, sart_relaxation=0.3)
    assert set(ITERATIVE) == {"sart", "tv", "tv_auto", "sirt_stop"}


def test_one_ssim_the_evaluation_s_and_the_training_loss_s():
    """batch_metrics' SSIM is analysis.metrics.ssim (what evaluate reports) and the differentiable
    training term dl.ssim_index equals it."""
    from napari_irdm.analysis.metrics import ssim
    from napari_irdm.dl import ssim_index
    from napari_irdm.train._metrics import batch_metrics

    rng = np.random.default_rng(1)
    truth = rng.random((3, 24, 24)).astype(np.float32)
    pred = np.clip(truth + 0.2 * rng.standard_normal(truth.shape), 0, 1).astype(np.float32)
    got = batch_metrics(pred, truth)["ssim"]
    want = [ssim(t, p, data_range=1.0) for t, p in zip(truth, pred)]
    np.testing.assert_array_equal(got, want)
    diff = ssim_index(torch.from_numpy(pred)[:, None], torch.from_numpy(truth)[:, None], 1.0).numpy()
    np.testing.assert_allclose(diff, got, atol=2e-5)


def test_missing_scikit_image_is_a_clear_error(monkeypatch):
    from napari_irdm.train._metrics import batch_metrics

    monkeypatch.setitem(sys.modules, "skimage.metrics", None)
    with pytest.raises(ImportError, match="image metrics need scikit-image.*pip install scikit-image"):
        batch_metrics(np.zeros((1, 16, 16)), np.ones((1, 16, 16)))


def test_atomic_source_surfaces_the_simulator_error(monkeypatch):
    import napari_irdm.simulate as sim
    from napari_irdm.train.sources import atomic

    a = atomic(3, 32)
    assert a.shape == (32, 32) and np.isfinite(a).all() and a.max() > 0

    def broken(index, size=256, **kw):
        raise ValueError("no crystal today")

    monkeypatch.setattr(sim, "slice_source", broken)
    with pytest.raises(RuntimeError, match=r"training source 'atomic'.*failed: ValueError: no crystal today"):
        atomic(3, 32)
    monkeypatch.setattr(sim, "slice_source", lambda index, size=256, **kw: np.full((size, size), np.nan))
    with pytest.raises(RuntimeError, match="'atomic'.*NaN"):
        atomic(3, 32)


def test_plots_use_no_pyplot(tmp_path):
    """evaluate's and validate's PNGs are drawn without importing pyplot (no backend switch)."""
    code = f"""
import sys, numpy as np
from pathlib import Path
import matplotlib
backend = dict.__getitem__(matplotlib.rcParams, "backend")  # as set, unresolved (get_backend() loads pyplot)
from napari_irdm.train.evaluate import _plot_grids, _plot_metrics
summary = [dict(source="phantom", wedge_deg=w, method=m, psnr=20.0 + w / 10, psnr_std=0.1, ssim=0.5, ssim_std=0.01,
                nrmse=0.3, nrmse_std=0.01) for w in (40.0, 60.0) for m in ("wbp", "irdm")]
out = Path({str(tmp_path)!r})
files = _plot_metrics(out, summary, ["wbp", "irdm"], ["phantom"], [40.0, 60.0])
ex = {{"phantom": {{40.0: {{k: np.zeros((8, 8)) for k in ("truth", "wbp", "irdm")}}}}}}
files += _plot_grids(out, ex, ["wbp", "irdm"], [40.0])
from napari_irdm.simulate import gold_sample
from napari_irdm.analysis.validate import validate
ts, _ = gold_sample((-60.0, 60.0), 10.0, size_nm=1.0, size_px=16)
from napari_irdm.tomo import wbp
rep = validate(wbp(ts.data, ts.tilt_angles_deg), ts.data, ts.tilt_angles_deg, method="wbp")
png = rep.plot(out / "v.png")
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
assert dict.__getitem__(matplotlib.rcParams, "backend") == backend
assert all(Path(f).read_bytes()[:4] == b"\\x89PNG" for f in files) and png[:4] == b"\\x89PNG"
print(len(files))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "2" and (tmp_path / "v.png").stat().st_size > 0
