"""Trainer (one step, exact resume, export) and evaluation end to end, on tiny configs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from napari_irdm.progress import run_to_completion
from napari_irdm.train.trainer import TrainConfig, export, load_checkpoint, train_iter

from ._configs import tiny_config


def _tiny(**kw) -> TrainConfig:
    return tiny_config(**kw)


def _log(run) -> list[dict]:
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_step_trains_and_checkpoints(tmp_path):
    from napari_irdm.dl import build_generator

    cfg = _tiny(max_steps=1)
    torch.manual_seed(cfg.seed)
    g0 = build_generator(cfg.generator)  # the trainer's own generator draws what this global seed gives
    res = run_to_completion(train_iter(cfg, tmp_path / "run"))
    assert res["step"] == 1 and res["stopped"] == "done"
    assert all(np.isfinite(v) for v in res["last_losses"].values())
    ck = load_checkpoint(tmp_path / "run")
    for key in ("generator", "discriminator", "opt_g", "opt_d", "sched_g", "sched_d", "rng", "config", "step"):
        assert key in ck
    changed = [not torch.equal(ck["generator"][k], v) for k, v in g0.state_dict().items() if v.is_floating_point()]
    assert any(changed)
    rows = _log(tmp_path / "run")
    assert len(rows) == 1 and float(rows[0]["loss_d"]) > 0
    # held-back validation rows: WBP baseline and IRDM
    with open(tmp_path / "run" / "val.csv", newline="") as fh:
        methods = {r["method"] for r in csv.DictReader(fh)}
    assert methods == {"wbp", "irdm"}


def test_resume_is_exact(tmp_path):
    """N + M steps uninterrupted == N steps, cancel, resume, M steps (losses, lr and weights)."""
    cfg = _tiny(max_steps=3, lr_milestones=(0.5,))  # lr drop after step 2
    run_to_completion(train_iter(cfg, tmp_path / "full"))
    full = _log(tmp_path / "full")
    lrs = [float(r["lr_g"]) for r in full]
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-5)

    gen = train_iter(cfg, tmp_path / "part")
    for ev in gen:
        if ev.step == 2:
            break
    gen.close()  # cancelling checkpoints the last finished step
    assert load_checkpoint(tmp_path / "part")["step"] == 2
    res = run_to_completion(train_iter(_tiny(max_steps=3), tmp_path / "part", resume=True))
    assert res["step"] == 3
    part = _log(tmp_path / "part")
    assert [r["step"] for r in part] == ["1", "2", "3"]
    for a, b in zip(full, part):
        for k in ("loss_d", "loss_g", "loss_gan", "loss_l1", "lr_g"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=1e-6), (a["step"], k)
    ga = load_checkpoint(tmp_path / "full")["generator"]
    gb = load_checkpoint(tmp_path / "part")["generator"]
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], atol=1e-6, rtol=0)


def test_time_limit_stops_cleanly(tmp_path):
    res = run_to_completion(train_iter(_tiny(time_limit_min=0.01), tmp_path / "t"))
    assert res["stopped"] == "time limit"
    assert load_checkpoint(tmp_path / "t")["step"] == res["step"]


def test_export_and_evaluate_end_to_end(tmp_path):
    from napari_irdm.dl.registry import load_model
    from napari_irdm.train.evaluate import evaluate

    run_to_completion(train_iter(_tiny(max_steps=1), tmp_path / "run"))
    pt = export(tmp_path / "run", tmp_path / "model", command="test")
    g = load_model(str(pt), device="cpu")
    assert g.base_width == 4
    out = tmp_path / "eval"
    res = evaluate(str(pt), dataset="D2", wedges=(40, 80), n=2, sources=["phantom"], size=32,
                   sart_iterations=2, tv_iterations=3, out_dir=out, device="cpu", batch_size=2)
    with open(out / "per_sample.csv") as fh:
        rows = list(csv.DictReader(fh))
    methods = set(res["methods"])
    assert {"wbp", "irdm"} <= methods
    assert len(rows) == 2 * 2 * len(methods)
    for name in ("summary.csv", "metrics_vs_wedge.png", "grid_phantom.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "grid_phantom.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wbp = {r["wedge_deg"]: r["psnr"] for r in res["summary"] if r["method"] == "wbp"}
    assert wbp[40.0] > wbp[80.0]  # a bigger missing wedge loses more
    from napari_irdm.train.evaluate import CLASSICAL

    assert {"tv_auto", "sirt_stop", "irdm_iter"} <= methods and (out / "best_classical.csv").stat().st_size > 0
    rp = {r["method"]: r["reproj"] for r in res["summary"] if r["wedge_deg"] == 40.0}
    assert rp["irdm_iter"] < rp["irdm"]  # SIRT on the measured projections after the network fits them better
    for b in res["best"]:  # the strongest classical result, and IRDM measured against it
        cls = {r["method"]: r for r in res["summary"] if r["wedge_deg"] == b["wedge_deg"] and r["method"] in CLASSICAL}
        assert b["best_psnr"] == max(r["psnr"] for r in cls.values()) == cls[b["best_classical"]]["psnr"]
        irdm = next(r for r in res["summary"] if r["wedge_deg"] == b["wedge_deg"] and r["method"] == "irdm")
        assert b["irdm_dpsnr"] == pytest.approx(irdm["psnr"] - b["best_psnr"])


def test_cli_train_and_evaluate(tmp_path, capsys):
    from napari_irdm.cli import main

    run = tmp_path / "r"
    rc = main(["train", "--dataset", "D1", "--size-factor", "0.001", "--size", "32", "--batch-size", "2",
               "--width", "4", "--steps", "2", "--n-val", "2", "--device", "cpu", "--out", str(run),
               "--export", str(tmp_path / "m" / "m.pt")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "held-back validation" in out and (tmp_path / "m" / "m.json").exists()
    rc = main(["evaluate", "--model", str(tmp_path / "m" / "m.pt"), "--dataset", "D1", "--wedges", "60",
               "--n", "1", "--size", "32", "--methods", "wbp", "irdm", "--out", str(tmp_path / "e"),
               "--device", "cpu"])
    assert rc == 0 and (tmp_path / "e" / "summary.csv").exists()
    assert main(["train", "--dataset", "D9", "--out", str(tmp_path / "x")]) == 2


def test_init_from_fine_tunes_a_saved_model(tmp_path):
    """--init-from: the run starts from the model's weights (same width), not from random ones."""
    from napari_irdm.dl import build_generator
    from napari_irdm.dl.registry import load_model, save_model

    torch.manual_seed(123)
    src = build_generator(dict(preset="cpu", base_width=6))
    pt = save_model(src, tmp_path / "src" / "m.pt", config=src.config)
    src = load_model(str(pt), device="cpu")  # fp16 storage: compare with what was saved
    cfg = _tiny(max_steps=1, lr_g=1e-12, lr_d=1e-12, init_from=str(pt))  # 1e-12: weights move by ~1e-12
    run_to_completion(train_iter(cfg, tmp_path / "ft"))
    ck = load_checkpoint(tmp_path / "ft")
    assert ck["generator_config"]["base_width"] == 6 and ck["config"]["init_from"] == str(pt)
    params = dict(src.named_parameters())
    for k, v in params.items():
        torch.testing.assert_close(ck["generator"][k], v.detach(), atol=1e-6, rtol=0)
    # a random start of the same width differs
    torch.manual_seed(cfg.seed)
    other = build_generator(dict(preset="cpu", base_width=6))
    assert any(not torch.allclose(p, params[k]) for k, p in other.named_parameters())


def test_cli_init_from_rejects_width(tmp_path, capsys):
    from napari_irdm.cli import main

    rc = main(["train", "--init-from", "general", "--width", "8", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--init-from" in capsys.readouterr().err


def test_evaluate_irdm_with_data_consistency(tmp_path):
    """irdm_dc keeps the WBP's spectrum on the measured cone: equal to WBP there, to IRDM in the wedge."""
    from napari_irdm.dl.consistency import wedge_mask
    from napari_irdm.train.evaluate import evaluate

    run_to_completion(train_iter(_tiny(max_steps=1), tmp_path / "run"))
    pt = export(tmp_path / "run", tmp_path / "model", command="test")
    res = evaluate(str(pt), dataset="D2", wedges=(60,), n=2, sources=["phantom"], size=32,
                   methods=("wbp", "irdm", "irdm_nonneg", "irdm_dc"), device="cpu", batch_size=2)
    ex = res["examples"]["phantom"][60.0]
    m = wedge_mask((32, 32), [-60, 60], soft_deg=3.0)
    f_dc, f_wbp, f_ir = (np.fft.fft2(ex[k]) for k in ("irdm_dc", "wbp", "irdm"))
    meas, wedge = m == 1, m == 0
    assert np.abs(f_dc - f_wbp)[meas].max() < 1e-3 * np.abs(f_wbp).max()
    assert np.abs(f_dc - f_ir)[wedge].max() < 1e-3 * np.abs(f_ir).max()
    assert {r["method"] for r in res["summary"]} == {"wbp", "irdm", "irdm_nonneg", "irdm_dc"}
    np.testing.assert_array_equal(ex["irdm_nonneg"], np.maximum(ex["irdm"], 0))


def test_ssim_weight_changes_the_generator_loss(tmp_path):
    a = run_to_completion(train_iter(_tiny(max_steps=1), tmp_path / "a"))
    b = run_to_completion(train_iter(_tiny(max_steps=1, ssim_weight=50.0), tmp_path / "b"))
    la, lb = a["last_losses"], b["last_losses"]
    assert la["loss_l1"] == pytest.approx(lb["loss_l1"], rel=1e-5)  # same seed, same first step
    assert lb["loss_g"] > la["loss_g"] + 1e-3  # + 50 · (1 − SSIM) > 0
    assert load_checkpoint(tmp_path / "b")["config"]["ssim_weight"] == 50.0


def test_evaluate_tta_averages_flips(tmp_path):
    """tta=True scores the flip-averaged model: differs from plain for a non-equivariant model, finite."""
    from napari_irdm.train.evaluate import evaluate

    run_to_completion(train_iter(_tiny(max_steps=2), tmp_path / "run"))
    pt = export(tmp_path / "run", tmp_path / "model", command="test")
    kw = dict(dataset="D2", wedges=(60,), n=2, sources=["phantom"], size=32, methods=("irdm",), device="cpu",
              batch_size=2)
    plain = evaluate(str(pt), **kw)["examples"]["phantom"][60.0]["irdm"]
    tta = evaluate(str(pt), tta=True, **kw)["examples"]["phantom"][60.0]["irdm"]
    assert np.all(np.isfinite(tta)) and not np.allclose(plain, tta)
