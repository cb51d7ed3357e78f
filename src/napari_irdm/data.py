"""Light, frozen data types carried between readers, algorithms and the viewer.

Importing this module loads only NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["TiltSeries", "Volume"]



@dataclass(frozen=True)
class TiltSeries:
    """A single-axis tilt series in the project's convention.

    Attributes
    ----------
    data : ndarray, shape (n_tilts, ny, nx), float32
        Projection images; the tilt axis runs along ``y`` (image rows).
    tilt_angles_deg : ndarray, shape (n_tilts,)
        One angle per image, in image order (repeats and any order allowed).
    pixel_size_A : float or None
        Pixel size in Ångström; ``None`` when the file did not say.
    angle_source : str
        Where the angles came from (``"explicit"``, ``"range"``, ``"rawtlt: /path"``,
        ``"tlt"``, ``"mdoc"``, ``"FEI extended header"``...).
    tilt_axis : str
        Image axis the tilt axis ran along *in the file* (``"y"`` or ``"x"``); ``data``
        is always stored with the tilt axis along ``y``.
    source : str or None
        Path the series was read from.
    provenance : tuple of str
        Free-text history lines.
    """

    data: np.ndarray
    tilt_angles_deg: np.ndarray
    pixel_size_A: float | None = None
    angle_source: str = "unknown"
    tilt_axis: str = "y"
    source: str | None = None
    provenance: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_tilts(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def replace(self, **changes) -> TiltSeries:
        return replace(self, **changes)


@dataclass(frozen=True)
class Volume:
    """A reconstructed (or ground-truth) volume.

    Attributes
    ----------
    data : ndarray, shape (nz, ny, nx), float32
        ``z`` is the beam direction at 0° tilt, ``y`` the tilt axis.
    pixel_size_A : float or None
        Voxel size in Ångström.
    tilt_angles_deg : ndarray or None
        Angles of the series it came from (defines the missing wedge).
    provenance : tuple of str
        Method, tilt range, software version...
    """

    data: np.ndarray
    pixel_size_A: float | None = None
    tilt_angles_deg: np.ndarray | None = None
    provenance: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def replace(self, **changes) -> Volume:
        return replace(self, **changes)
