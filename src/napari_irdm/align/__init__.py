"""Tilt-series alignment: coarse translation, tilt axis, rotation centre, projection matching.

Generators yield :class:`napari_irdm.progress.Progress` and ``return`` their result; eager
wrappers exist for scripts. Transforms follow IMOD's ``.xf`` semantics (see
:mod:`napari_irdm.align._transforms` and docs/alignment.md).
"""

from napari_irdm.align._pipeline import METHODS, AlignResult, align, align_iter
from napari_irdm.align._transforms import Transforms, apply_transforms, read_aln, read_xf, write_tlt, write_xf

__all__ = [
    "METHODS",
    "AlignResult",
    "Transforms",
    "align",
    "align_iter",
    "apply_transforms",
    "read_aln",
    "read_xf",
    "write_tlt",
    "write_xf",
]
