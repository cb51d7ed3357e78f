"""Sample data: simulated gold nanocrystal tilt series (±70° and ±50°) with ground truth.

Made on the fly by :func:`napari_irdm.simulate.gold_sample` -- a 2 nm fcc gold particle at
0.25 Å per pixel in a 96-pixel box, 2° steps -- small enough to open in seconds. The
ground-truth volume comes as a second, hidden layer whose metadata carries the truth object
(lattice, constant, orientation) for the Fourier inspector's Bragg overlay.
"""

from __future__ import annotations

import numpy as np

from napari_irdm._napari._layers import series_layer_data, volume_layer_data

__all__ = ["SAMPLE_SIZE_PX", "gold_50", "gold_70", "gold_layers"]

SAMPLE_SIZE_PX = 96
SAMPLE_SIZE_NM = 2.0
SAMPLE_PIXEL_A = 0.25
SAMPLE_STEP_DEG = 2.0


def _truth_metadata(truth) -> dict:
    meta = {"ground_truth": truth}
    for key in ("lattice", "a_A", "orientation", "element"):
        if hasattr(truth, key):
            value = getattr(truth, key)
            meta[key] = value.tolist() if isinstance(value, np.ndarray) else value
    return meta


def gold_layers(
    tilt_max_deg: float = 70.0,
    *,
    size_px: int = SAMPLE_SIZE_PX,
    size_nm: float = SAMPLE_SIZE_NM,
    pixel_size_A: float = SAMPLE_PIXEL_A,
    tilt_step_deg: float = SAMPLE_STEP_DEG,
    seed: int = 0,
) -> list[tuple]:
    """Layer-data tuples ``[tilt series, ground truth]`` for a simulated gold nanocrystal.

    Parameters
    ----------
    tilt_max_deg : float
        Tilt range ``±tilt_max_deg`` degrees.
    size_px : int
        Box edge in pixels (the volume is ``size_px³``).
    size_nm : float
        Particle diameter in nm.
    pixel_size_A : float
        Pixel size in Å.
    tilt_step_deg : float
        Tilt step in degrees.
    seed : int
        Simulation seed (deterministic).
    """
    from napari_irdm.simulate import gold_sample

    series, truth = gold_sample(
        (-float(tilt_max_deg), float(tilt_max_deg)),
        tilt_step_deg,
        size_nm=size_nm,
        pixel_size_A=pixel_size_A,
        size_px=size_px,
        seed=seed,
    )
    label = f"±{tilt_max_deg:g}°"
    series = series.replace(source=f"simulated gold nanocrystal {label}") if series.source is None else series
    series_layer = series_layer_data(series, name=f"gold {label} tilt series")
    from napari_irdm.data import Volume

    tvol = truth.volume
    if not isinstance(tvol, Volume):
        tvol = Volume(data=np.asarray(tvol, np.float32), pixel_size_A=series.pixel_size_A)
    if tvol.tilt_angles_deg is None:
        tvol = tvol.replace(tilt_angles_deg=np.asarray(series.tilt_angles_deg))
    if tvol.pixel_size_A is None:
        tvol = tvol.replace(pixel_size_A=series.pixel_size_A)
    truth_layer = volume_layer_data(
        tvol, name="ground truth", kind="ground_truth", metadata=_truth_metadata(truth), visible=False
    )
    return [series_layer, truth_layer]


def gold_70() -> list[tuple]:
    """Sample: gold nanocrystal tilt series ±70° (simulated) + ground truth."""
    return gold_layers(70.0)


def gold_50() -> list[tuple]:
    """Sample: gold nanocrystal tilt series ±50° (simulated) + ground truth."""
    return gold_layers(50.0)
