"""Training a generator conditioned on the acquisition (``TrainConfig.condition="film"``): the pairs'
tilt ranges reach it, exact resume, fine-tuning from unconditioned weights, export, evaluation, CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from napari_irdm.progress import run_to_completion
from napari_irdm.train.trainer import TrainConfig, export, load_checkpoint, train_iter

from ._configs import tiny_config


def _tiny(**kw) -> TrainConfig:
    return tiny_config(**{"generator": dict(preset="cpu", base_width=4, depth=2), "condition": "film", **kw})


def _log(run) -> list[dict]:
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_batch_acquisition_is_each_pairs_range_and_step():
    from napari_irdm.train._step import batch_acquisition
    from napari_irdm.train.library import get_spec
    from napari_irdm.train.pairs import PairOptions, geometry, make_batch

    opts = PairOptions(size=32, oversample=1, tilt_steps_deg=(1.0, 3.0), asymmetric=True)
    idx = [0, 1, 2, 3]
    b = make_batch("D2", idx, opts, device="cpu")
    steps = [geometry(get_spec("D2"), i, opts)[3] for i in idx]
    c = batch_acquisition(b, steps)
    assert c.shape == (4, 3)
    np.testing.assert_allclose(c[:, :2].numpy(), np.asarray(b.ranges_deg), atol=1e-6)
    np.testing.assert_allclose(c[:, 2].numpy(), steps)
    np.testing.assert_allclose((180.0 - (c[:, 1] - c[:, 0])).numpy(), b.wedges_deg, atol=1e-4)
    with pytest.raises(ValueError, match="one step per pair"):
        batch_acquisition(b, [2.0])


def test_gan_step_feeds_the_acquisition_to_the_generator():
    from napari_irdm.dl import Discriminator, UNetPlusPlus
    from napari_irdm.train._step import gan_step
    from napari_irdm.train.pairs import PairOptions, make_batch

    b = make_batch("D2", [0, 1], PairOptions(size=32, oversample=1), device="cpu")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        g = UNetPlusPlus(base_width=4, depth=2, condition="film")
        d = Discriminator(base_width=4)
    opt_g, opt_d = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    with pytest.raises(ValueError, match="conditioned on the tilt range"):
        gan_step(g, d, opt_g, opt_d, b)
    c = torch.tensor([[-60.0, 60.0, 2.0], [-45.0, 45.0, 2.0]])
    before = g.film.mlp[-1].weight.detach().clone()
    losses = gan_step(g, d, opt_g, opt_d, b, cond=c)
    assert all(np.isfinite(v) for v in losses.values())
    assert not torch.equal(g.film.mlp[-1].weight, before)  # the FiLM learns from the step


def test_conditioned_resume_is_exact(tmp_path):
    """N + M steps uninterrupted == N steps, cancel, resume, M steps, for a conditioned run."""
    cfg = _tiny(max_steps=3, lr_milestones=(0.5,), tilt_steps_deg=(1.0, 3.0), asymmetric=True)
    run_to_completion(train_iter(cfg, tmp_path / "full"))
    gen = train_iter(cfg, tmp_path / "part")
    for ev in gen:
        if ev.step == 2:
            break
    gen.close()
    assert load_checkpoint(tmp_path / "part")["step"] == 2
    res = run_to_completion(train_iter(_tiny(max_steps=3), tmp_path / "part", resume=True))
    assert res["step"] == 3
    full, part = _log(tmp_path / "full"), _log(tmp_path / "part")
    for a, b in zip(full, part, strict=True):
        for k in ("loss_d", "loss_g", "loss_gan", "loss_l1", "lr_g"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=1e-6), (a["step"], k)
    ca, cb = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "part")
    assert ca["generator_config"]["condition"] == "film" and ca["config"]["condition"] == "film"
    assert any(k.startswith("film.") for k in ca["generator"])
    for k in ca["generator"]:
        torch.testing.assert_close(ca["generator"][k], cb["generator"][k], atol=1e-6, rtol=0)
    w = ca["generator"]["film.mlp.2.weight"]
    assert float(w.abs().max()) > 0  # the FiLM moved off its zero start


def test_init_from_unconditioned_starts_a_conditioned_run_and_exports_and_evaluates(tmp_path):
    """--init-from an unconditioned model with condition='film': every convolution starts from
    its weights, the FiLM at zero (so the start computes what the model did); export keeps the
    condition in the card; evaluation passes the angles."""
    from napari_irdm.dl import build_generator
    from napari_irdm.dl.registry import load_model, save_model
    from napari_irdm.train.evaluate import evaluate

    with torch.random.fork_rng():
        torch.manual_seed(123)
        src = build_generator(dict(preset="cpu", base_width=6, depth=2))
    pt = save_model(src, tmp_path / "src" / "m.pt")
    src = load_model(str(pt), device="cpu")
    cfg = _tiny(max_steps=1, lr_g=1e-12, lr_d=1e-12, init_from=str(pt), generator=None)
    run_to_completion(train_iter(cfg, tmp_path / "ft"))
    ck = load_checkpoint(tmp_path / "ft")
    assert ck["generator_config"]["base_width"] == 6 and ck["generator_config"]["condition"] == "film"
    for k, v in src.named_parameters():  # (BN running statistics move in the training step)
        torch.testing.assert_close(ck["generator"][k], v.detach(), atol=1e-6, rtol=0)
    assert float(ck["generator"]["film.mlp.2.weight"].abs().max()) < 1e-9  # zero start, moved by lr 1e-12
    out = export(tmp_path / "ft", tmp_path / "model", command="test")
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["config"]["condition"] == "film" and info["card"]["condition"] == "film"
    g = load_model(str(out), device="cpu")
    assert g.condition == "film"
    res = evaluate(str(out), dataset="D2", wedges=(40, 100), n=1, sources=["phantom"], size=32,
                   methods=("wbp", "irdm"), device="cpu", batch_size=1, tta=True)
    psnr = {(r["wedge_deg"], r["method"]): r["psnr"] for r in res["summary"] if r["source"] == "phantom"}
    assert len(psnr) == 4 and all(np.isfinite(v) for v in psnr.values())


def test_cli_condition_and_config_errors(tmp_path, capsys):
    from napari_irdm.cli import main
    from napari_irdm.errors import ParameterError

    run = tmp_path / "r"
    rc = main(["train", "--dataset", "D1", "--size-factor", "0.001", "--size", "32", "--batch-size", "2",
               "--width", "4", "--steps", "1", "--n-val", "1", "--device", "cpu", "--condition", "film",
               "--out", str(run)])
    assert rc == 0
    assert json.loads((run / "config.json").read_text())["condition"] == "film"
    assert load_checkpoint(run)["generator_config"]["condition"] == "film"
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--condition", "mask", "--out", str(tmp_path / "x")])
    assert "--condition" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="`condition` 'mask' is unknown"):
        TrainConfig(condition="mask").filled()
    with pytest.raises(ParameterError, match="differs from the generator's"):
        TrainConfig(condition="film", generator={"base_width": 4, "condition": "other"}).filled()
