"""Named training libraries (the paper's Supplementary Table 1, plus our atomic ``DA``).

A :class:`DatasetSpec` lists how many samples each source contributes and the range
of missing-wedge openings drawn for them. Sample ``index`` (0 ≤ index < ``len(spec)``)
maps deterministically to ``(source, source_index)`` and to a wedge; held-back
validation / evaluation samples use source indices offset by :data:`HOLDOUT_OFFSET`,
which no training index reaches.

============ ======= ========== ========== ======== ========= =========
dataset      phantom MGH→mgh    NBIA→nbia  ImageNet atomic    wedge (°)
============ ======= ========== ========== ======== ========= =========
D1           45,000  0          0          0                  40–60
D2           25,000  10,000     10,000     0                  40–60
D2'          25,000  10,000     10,000     0                  40–80
D3           25,000  10,000     10,000     10,000             40–60
D4           25,000  10,000     10,000     10,000             45–55
D5           25,000  10,000     10,000     10,000             47.5–52.5
D6           25,000  10,000     10,000     10,000             35–65
DA (ours)    25,000  10,000     10,000     10,000   25,000    35–80
============ ======= ========== ========== ======== ========= =========

``DR`` (ours, "real-data library") adds the nanoparticle families of
:mod:`napari_irdm.train.families` to the old sources, over tilt ranges ±30° … ±75°
(wedges 30–120°): phantom 20,000, mgh 10,000, nbia 10,000, natural 10,000, atomic 20,000,
porous 15,000, faceted 15,000, coreshell 15,000, supported 15,000, rods 10,000,
polycrystal 20,000, amorphous 10,000, ensemble 10,000 (180,000 in all).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from napari_irdm.train.phantoms import source_rng
from napari_irdm.train.sources import get_source

__all__ = ["HOLDOUT_OFFSET", "SPECS", "DatasetSpec", "get_spec"]

#: source indices of held-back (validation / evaluation) samples start here
HOLDOUT_OFFSET = 10**7
_KEY_WEDGE = 0x7E06


@dataclass(frozen=True)
class DatasetSpec:
    """A training library: per-source sample counts and the missing-wedge range.

    Attributes
    ----------
    name : str
        ``"D1"`` … ``"D6"``, ``"D2'"``, ``"DA"``, ``"DR"``.
    counts : tuple of (source, count)
        Sources (names in :data:`napari_irdm.train.sources.SOURCES`) and how many samples each gives.
    wedge_range_deg : (float, float)
        Missing-wedge openings are drawn uniformly from this range (degrees).
    description : str
    """

    name: str
    counts: tuple[tuple[str, int], ...]
    wedge_range_deg: tuple[float, float]
    description: str = ""
    _offsets: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self):
        lo, hi = self.wedge_range_deg
        if not (0.0 <= lo <= hi < 180.0):
            raise ValueError(f"wedge range {self.wedge_range_deg} of dataset {self.name} must satisfy 0 <= lo <= hi < 180")
        for src, n in self.counts:
            get_source(src)
            if n < 0:
                raise ValueError(f"dataset {self.name}: count of {src} must be >= 0, got {n}")
        object.__setattr__(self, "_offsets", tuple(np.cumsum([0] + [n for _s, n in self.counts]).tolist()))

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the sources with at least one sample."""
        return tuple(s for s, n in self.counts if n > 0)

    def count(self, source: str) -> int:
        """Samples contributed by ``source`` (0 when absent)."""
        return int(sum(n for s, n in self.counts if s == source))

    def scaled(self, factor: float) -> DatasetSpec:
        """The same spec with every count multiplied by ``factor`` (at least 1 per present source)."""
        if factor <= 0:
            raise ValueError(f"size factor must be > 0, got {factor}")
        counts = tuple((s, max(1, int(round(n * factor))) if n > 0 else 0) for s, n in self.counts)
        return replace(self, counts=counts)

    def locate(self, index: int) -> tuple[str, int]:
        """``(source, source_index)`` of training sample ``index``."""
        n = len(self)
        if not 0 <= index < n:
            raise ValueError(f"sample index {index} outside dataset {self.name} of {n} samples")
        k = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return self.counts[k][0], int(index - self._offsets[k])

    def locate_holdout(self, index: int, source: str | None = None) -> tuple[str, int]:
        """``(source, source_index)`` of held-back sample ``index`` (never used in training).

        Without ``source``, held-back samples cycle through the spec's sources in the
        proportions of the counts.
        """
        if index < 0:
            raise ValueError(f"held-back index must be >= 0, got {index}")
        if source is None:
            src, _ = self.locate(int((index * 7919) % len(self)))
            source = src
        get_source(source)
        return source, HOLDOUT_OFFSET + int(index)

    def wedge_deg(self, index: int, *, holdout: bool = False) -> float:
        """Missing-wedge opening (degrees) drawn for sample ``index``, uniform in :attr:`wedge_range_deg`."""
        lo, hi = self.wedge_range_deg
        rng = source_rng(_KEY_WEDGE, int(index) + (HOLDOUT_OFFSET if holdout else 0))
        return float(rng.uniform(lo, hi))

    def image(self, index: int, size: int = 256, *, holdout: bool = False, source: str | None = None) -> np.ndarray:
        """Ground-truth image of sample ``index``: ``(size, size)`` float32 in [0, 1]."""
        src, sidx = self.locate_holdout(index, source) if holdout else self.locate(index)
        return get_source(src)(sidx, size)


def _d(name, phantom, mgh, nbia, natural, wedge, atomic=0, description=""):
    counts = [("phantom", phantom), ("mgh", mgh), ("nbia", nbia), ("natural", natural)]
    if atomic:
        counts.append(("atomic", atomic))
    return DatasetSpec(name, tuple((s, n) for s, n in counts if n > 0), wedge, description)


#: the real-data library: old sources and every nanoparticle family (train.families)
_DR_COUNTS = (
    ("phantom", 20000), ("mgh", 10000), ("nbia", 10000), ("natural", 10000), ("atomic", 20000),
    ("porous", 15000), ("faceted", 15000), ("coreshell", 15000), ("supported", 15000), ("rods", 10000),
    ("polycrystal", 20000), ("amorphous", 10000), ("ensemble", 10000),
)

#: the paper's datasets (Supplementary Table 1) and ours
SPECS: dict[str, DatasetSpec] = {
    "D1": _d("D1", 45000, 0, 0, 0, (40.0, 60.0), description="phantom faces only"),
    "D2": _d("D2", 25000, 10000, 10000, 0, (40.0, 60.0), description="phantom + medical (paper's best, 40–60°)"),
    "D2'": _d("D2'", 25000, 10000, 10000, 0, (40.0, 80.0), description="as D2 over 40–80°"),
    "D3": _d("D3", 25000, 10000, 10000, 10000, (40.0, 60.0), description="D2 + natural images"),
    "D4": _d("D4", 25000, 10000, 10000, 10000, (45.0, 55.0), description="as D3 over 45–55°"),
    "D5": _d("D5", 25000, 10000, 10000, 10000, (47.5, 52.5), description="as D3 over 47.5–52.5°"),
    "D6": _d("D6", 25000, 10000, 10000, 10000, (35.0, 65.0), description="as D3 over 35–65°"),
    "DA": _d("DA", 25000, 10000, 10000, 10000, (35.0, 80.0), atomic=25000,
             description="ours: D3 + atomic lattices over 35–80° (general model)"),
    "DR": DatasetSpec("DR", tuple(_DR_COUNTS), (30.0, 120.0),
                      "ours: real-data library, old sources + nanoparticle families over wedges 30–120°"),
}


def get_spec(name: str | DatasetSpec, size_factor: float = 1.0) -> DatasetSpec:
    """Dataset spec by name (case-insensitive, ``D2p`` = ``D2'``), scaled by ``size_factor``."""
    if isinstance(name, DatasetSpec):
        spec = name
    else:
        key = str(name).strip().upper().replace("P", "'")
        if key not in SPECS:
            raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(SPECS)}")
        spec = SPECS[key]
    return spec if size_factor == 1.0 else spec.scaled(size_factor)
