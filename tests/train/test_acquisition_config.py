"""The acquisition model in the training config, the trainer, `napari-irdm train` and `evaluate`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from napari_irdm.errors import ParameterError
from napari_irdm.progress import run_to_completion
from napari_irdm.train._config import ACQUISITION_FIELDS
from napari_irdm.train.trainer import TrainConfig, load_checkpoint, train_iter

from ._configs import tiny_config

ACQ = dict(asymmetric=True, max_shift_deg=12.0, dose=(100.0, 1000.0), read_noise=0.01, misalign_px=0.5, drift=0.05,
           background=0.02, exceed_fov=0.5)


def _tiny(**kw) -> TrainConfig:
    return tiny_config(**kw)


def test_config_round_trips_the_acquisition_fields():
    cfg = _tiny(**ACQ).filled()
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back.filled() == cfg and back.dose == (100.0, 1000.0)
    assert set(ACQUISITION_FIELDS) <= set(cfg.to_dict())
    old = {k: v for k, v in cfg.to_dict().items() if k not in ACQUISITION_FIELDS}  # a checkpoint from before
    assert all(getattr(TrainConfig.from_dict(old), k) == getattr(TrainConfig(), k) for k in ACQUISITION_FIELDS)


@pytest.mark.parametrize(("field", "value"), [("dose", (5.0, 1.0)), ("dose", (0.0, 1.0)), ("read_noise", -0.1),
                                              ("exceed_fov", 1.5), ("misalign_px", 100.0), ("max_shift_deg", 95.0),
                                              ("drift", float("nan")), ("background", -1.0)])
def test_acquisition_errors_name_the_parameter(field, value):
    with pytest.raises(ParameterError) as info:
        _tiny(**{field: value}).filled()
    msg = str(info.value)
    assert msg.startswith(f"`{field}` ") and "\n" not in msg and info.value.params[0] == field, msg


def test_resume_is_exact_with_the_acquisition_model(tmp_path):
    """N + M steps == N steps, stop, resume M steps, with every acquisition effect on (the data
    stream draws larger truths for the samples that exceed the field of view)."""
    cfg = _tiny(max_steps=3, dataset="D5", **ACQ)  # D5: wedges 47.5-52.5, a small grid of angles
    run_to_completion(train_iter(cfg, tmp_path / "full"))
    gen = train_iter(cfg, tmp_path / "part")
    for ev in gen:
        if ev.step == 2:
            break
    gen.close()
    assert load_checkpoint(tmp_path / "part")["step"] == 2
    saved = json.loads((tmp_path / "part" / "config.json").read_text())
    assert {k: saved[k] for k in ACQUISITION_FIELDS} == {k: (list(v) if isinstance(v, tuple) else v)
                                                        for k, v in ACQ.items() if k in ACQUISITION_FIELDS}
    run_to_completion(train_iter(_tiny(max_steps=3, dataset="D5"), tmp_path / "part", resume=True))
    logs = []
    for r in ("full", "part"):
        with open(tmp_path / r / "log.csv", newline="") as fh:
            logs.append(list(csv.DictReader(fh)))
    assert len(logs[0]) == len(logs[1]) == 3
    for a, b in zip(*logs):
        for k in ("loss_d", "loss_g", "loss_l1"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=1e-6)
    ga, gb = (load_checkpoint(tmp_path / r)["generator"] for r in ("full", "part"))
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], atol=1e-6, rtol=0)
    # and the acquisition model did change the pairs: the WBP baseline differs from the plain run's
    run_to_completion(train_iter(_tiny(max_steps=1, dataset="D5", asymmetric=True, max_shift_deg=12.0),
                                 tmp_path / "plain"))
    wbp = [load_checkpoint(tmp_path / r)["val_wbp"]["psnr"] for r in ("full", "plain")]
    assert wbp[0] != pytest.approx(wbp[1], abs=1e-3)


def test_cli_train_flags_reach_the_config_and_resume_checks_them(tmp_path, capsys):
    from napari_irdm.cli import main

    run = tmp_path / "r"
    args = ["train", "--dataset", "D1", "--size-factor", "0.001", "--size", "32", "--batch-size", "2", "--width", "4",
            "--n-val", "2", "--device", "cpu", "--oversample", "1", "--out", str(run)]
    rc = main(args + ["--steps", "1", "--asymmetric", "--max-shift", "12", "--dose", "50", "500", "--read-noise",
                      "0.02", "--misalign-px", "0.7", "--drift", "0.1", "--background", "0.03", "--exceed-fov", "0.25"])
    assert rc == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["max_shift_deg"], saved["dose"], saved["read_noise"], saved["misalign_px"], saved["drift"],
            saved["background"], saved["exceed_fov"]) == (12.0, [50.0, 500.0], 0.02, 0.7, 0.1, 0.03, 0.25)
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--steps", "2", "--dose", "50", "400"]) == 2
    err = capsys.readouterr().err
    assert "--dose 50 400 differs from the checkpoint's 50 500" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--out", str(tmp_path / "x"), "--exceed-fov", "2"]) == 2
    assert "--exceed-fov must be between 0 and 1" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "x"), "--dose", "10", "5"]) == 2
    assert "--dose must be two counts" in capsys.readouterr().err


def test_resume_keeps_the_runs_own_intervals_unless_given(tmp_path):
    from napari_irdm.cli import main

    run = tmp_path / "r"
    base = ["train", "--dataset", "D1", "--size-factor", "0.001", "--size", "32", "--batch-size", "2", "--width", "4",
            "--n-val", "2", "--device", "cpu", "--oversample", "1", "--out", str(run)]
    assert main(base + ["--steps", "2", "--val-every", "2"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--steps", "6"]) == 0
    val = (run / "val.csv").read_text().splitlines()
    assert {int(line.split(",")[0]) for line in val[1:]} == {0, 2, 4, 6}  # validated every 2 steps after the resume too
    assert main(["train", "--out", str(run), "--resume", "--steps", "9", "--val-every", "3"]) == 0
    val = (run / "val.csv").read_text().splitlines()
    assert {int(line.split(",")[0]) for line in val[1:]} == {0, 2, 4, 6, 9}  # the new interval counts from step 0


def test_evaluate_asymmetric_ranges_and_a_poisson_dose(tmp_path):
    from napari_irdm.train.evaluate import evaluate

    kw = dict(dataset="D1", wedges=(60,), n=2, sources=["phantom"], size=32, methods=["wbp"], device="cpu",
              oversample=1)
    plain = evaluate(None, tilt_ranges=[(-60.0, 45.0), (-45.0, 70.0)], **kw)
    by = {r["tilt_range"]: r for r in plain["summary"]}
    assert set(by) == {"-60:60", "-60:45", "-45:70"}
    assert by["-60:45"]["wedge_deg"] == 75.0 and by["-45:70"]["wedge_deg"] == 65.0
    assert by["-60:60"]["psnr"] > by["-60:45"]["psnr"]  # the wider range is the better one
    low = evaluate(None, dose=(20.0, 20.0), **kw)["summary"][0]
    high = evaluate(None, dose=(2e4, 2e4), **kw)["summary"][0]
    assert low["psnr"] < high["psnr"] < by["-60:60"]["psnr"] + 0.05  # counting noise costs, less at high dose
    assert high["psnr"] == pytest.approx(by["-60:60"]["psnr"], abs=0.5)
    with pytest.raises(ValueError, match="tilt range"):
        evaluate(None, tilt_ranges=[(-95.0, 45.0)], **kw)
    out = evaluate(None, tilt_ranges=[(-60.0, 45.0)], out_dir=tmp_path / "e", **kw)
    rows = list(csv.DictReader((tmp_path / "e" / "summary.csv").read_text().splitlines()))
    assert [r["tilt_range"] for r in rows] == ["-60:60", "-60:45"] and len(out["files"]) >= 3
    assert np.isfinite([float(r["psnr"]) for r in rows]).all()
