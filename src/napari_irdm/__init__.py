"""napari-irdm: electron tomography with deep-learning missing-wedge recovery (IRDM).

Importing this package is cheap: it never loads torch, napari or Qt. The heavy
subpackages (:mod:`napari_irdm.tomo`, :mod:`napari_irdm.dl`, ...) load them on use.
"""

from napari_irdm._version import __version__
from napari_irdm.data import TiltSeries, Volume
from napari_irdm.progress import Progress, run_to_completion

__all__ = ["Progress", "TiltSeries", "Volume", "__version__", "run_to_completion"]
