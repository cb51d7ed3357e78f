"""Fixtures for the viewer tests: tiny phantom tilt series made with the project's projector."""

from __future__ import annotations

import numpy as np
import pytest


def point_phantom(n: int = 32, offset=(6, -5)) -> np.ndarray:
    """A ``(n, n, n)`` volume with one bright 2x2x2 blob off-centre at ``(dz, dx)`` voxels."""
    vol = np.zeros((n, n, n), np.float32)
    c = n // 2
    dz, dx = offset
    vol[c + dz - 1: c + dz + 1, c - 4: c + 4, c + dx - 1: c + dx + 1] = 1.0
    return vol


@pytest.fixture(scope="session")
def tiny_series():
    """``(series (n_tilts, 32, 32), angles, phantom (32, 32, 32))`` for ±60° at 3°."""
    from napari_irdm.tomo import ParallelProjector

    vol = point_phantom(32)
    angles = np.arange(-60.0, 60.0 + 1e-6, 3.0)
    series = ParallelProjector(angles, vol.shape, device="cpu").forward(vol)
    return np.asarray(series, np.float32), angles, vol


@pytest.fixture
def series_file(tmp_path, tiny_series):
    """The tiny series written as an MRC with its angles and 0.5 Å pixels (for ``viewer.open``)."""
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    data, angles, _ = tiny_series
    path = tmp_path / "tiny.mrc"
    write_tilt_series(path, TiltSeries(data=data, tilt_angles_deg=angles, pixel_size_A=0.5, angle_source="test"))
    return path


@pytest.fixture
def series_layer(make_napari_viewer, tiny_series):
    """A viewer holding the tiny series as a napari-irdm tilt-series layer (0.5 Å pixels)."""
    from napari.layers import Layer

    from napari_irdm._napari._layers import series_layer_data
    from napari_irdm.data import TiltSeries

    data, angles, _ = tiny_series
    viewer = make_napari_viewer()
    ts = TiltSeries(data=data, tilt_angles_deg=angles, pixel_size_A=0.5, angle_source="test")
    layer = viewer.add_layer(Layer.create(*series_layer_data(ts, name="tiny series")))
    return viewer, layer


@pytest.fixture
def wait_worker(qtbot):
    """``wait_worker(worker, timeout_ms=60000)``: block until a ``start_worker`` worker is over
    (Qt events processed) and return its outcome ("done", "cancelled" or "error")."""

    def wait(worker, timeout: int = 60_000) -> str:
        if worker is None:
            raise AssertionError("the widget did not start a worker")
        qtbot.waitUntil(lambda: getattr(worker, "irdm_outcome", None) is not None, timeout=timeout)
        return worker.irdm_outcome

    return wait


def open_plugin_widget(viewer, name: str):
    """Open widget ``name`` the way a user does (Plugins > napari-irdm > name) and return it.

    napari builds it through npe2 and injects the viewer (a ``PublicOnlyProxy``), so a widget
    that cannot be opened from the menu fails here.
    """
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-irdm", name)
    return widget


@pytest.fixture
def plugin_widget():
    """:func:`open_plugin_widget` as a fixture."""
    return open_plugin_widget


@pytest.fixture(autouse=True)
def _napari_deprecations_are_errors():
    """napari's (and Qt's) deprecation and future warnings fail the viewer tests.

    Third-party internals that napari itself triggers on import (pydantic's ``json_encoders``)
    are not ours to fix and stay warnings.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=DeprecationWarning)
        warnings.filterwarnings("error", category=PendingDeprecationWarning)
        warnings.filterwarnings("error", category=FutureWarning)
        try:
            from pydantic.warnings import PydanticDeprecatedSince20

            warnings.filterwarnings("default", category=PydanticDeprecatedSince20)
        except ImportError:  # pragma: no cover
            pass
        yield
