"""Weights registry: fp16 save, sha256-verified load, shipped names, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from napari_irdm.dl import UNetPlusPlus, inpaint, list_models, load_model, model_info, registry, save_model


def _trained_like(**cfg):
    torch.manual_seed(0)
    g = UNetPlusPlus(**cfg)
    with torch.no_grad():  # non-trivial BN statistics, as after training
        for mod in g.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return g.eval()


def test_round_trip_path(tmp_path):
    g = _trained_like(base_width=4, depth=2, residual=False)
    pt = save_model(g, tmp_path / "m.pt", card_fields={"dataset": "D2", "wedge_deg": [40, 80], "steps": np.int64(7)})
    info = json.loads(pt.with_suffix(".json").read_text())
    assert info["config"] == g.config and info["dtype"] == "float16" and info["card"]["steps"] == 7
    state = torch.load(pt, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    loaded = load_model(pt, device="cpu")
    assert not loaded.training and loaded.config == g.config
    x = torch.rand(2, 1, 20, 24)
    with torch.no_grad():
        assert torch.allclose(loaded(x), g(x), atol=2e-2 * g(x).abs().max().item())
    assert model_info(pt)["sha256"] == info["sha256"]


def test_round_trip_directory(tmp_path):
    g = _trained_like(base_width=4, depth=2)
    pt = save_model(g, tmp_path / "run1")
    assert pt.name == "model.pt" and (tmp_path / "run1" / "model.json").is_file()
    assert load_model(tmp_path / "run1").config == g.config
    # inpaint takes a path as model
    vol = np.random.default_rng(0).random((8, 3, 12)).astype(np.float32)
    assert inpaint(vol, [-60, 60], model=str(pt)).shape == vol.shape


def test_tampered_weights_are_refused(tmp_path):
    pt = save_model(_trained_like(base_width=4, depth=2), tmp_path / "m.pt")
    blob = bytearray(pt.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    pt.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="sha256"):
        load_model(pt)


def test_shipped_names(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert list_models() == []
    with pytest.raises(ValueError, match="no shipped model 'general'.*napari_irdm.train"):
        load_model("general")
    with pytest.raises(FileNotFoundError):
        load_model("general")
    g = _trained_like(base_width=4, depth=2)
    save_model(g, "general", card_fields={"preset": "cpu"})
    assert list_models() == ["general"]
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files
    assert load_model("general").config == g.config


def test_missing_card_and_missing_file(tmp_path):
    pt = save_model(_trained_like(base_width=4, depth=2), tmp_path / "m.pt")
    pt.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="json"):
        load_model(pt)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.pt")


def test_paper_size_fits_25_mb(tmp_path):
    pt = save_model(UNetPlusPlus(base_width=32, depth=4), tmp_path / "paper.pt")
    assert pt.stat().st_size <= 25 * 1024**2


def test_pick_model_by_wedge(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    g = _trained_like(base_width=4, depth=2)
    with pytest.raises(ValueError, match="no shipped model"):
        registry.pick_model([-60, 60])
    save_model(g, "general", card_fields={"wedge_range_deg": [35, 80]})
    save_model(g, "narrow", card_fields={"wedge_range_deg": [45, 55]})
    assert registry.pick_model([-65, 65]) == "narrow"  # 50° wedge: the narrowest covering range
    assert registry.pick_model([-70, 70]) == "general"  # 40°
    assert registry.pick_model([-88, 88]) == "general"  # 4°: nothing covers it, default
    vol = np.random.default_rng(0).random((8, 2, 8)).astype(np.float32)
    assert inpaint(vol, [-65, 65], model="auto").shape == vol.shape
