"""Shared test fixtures. Tests never need ../shared: they generate small data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NAPARI_IRDM_DEVICE", "cpu")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; the test is skipped when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield
