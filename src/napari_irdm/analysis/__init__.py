"""Analysis of reconstructions: quality metrics (and, from other modules, spectra and Bragg spots).

Kept light: importing this package loads only NumPy (scikit-image on first use).
"""

from napari_irdm.analysis.metrics import nrmse, psnr, ssim

__all__ = ["nrmse", "psnr", "ssim"]

# spectra and Bragg spots (issue 3); NumPy-only at import time as well
from napari_irdm.analysis.bragg import (  # noqa: E402
    BraggReport,
    bragg_report,
    expected_reflections,
    wedge_region,
)
from napari_irdm.analysis.fourier import spectra_iter  # noqa: E402
from napari_irdm.analysis.spectrum import central_sections, power_spectrum_3d, spectrum_2d  # noqa: E402

__all__ += [
    "BraggReport",
    "bragg_report",
    "central_sections",
    "expected_reflections",
    "power_spectrum_3d",
    "spectra_iter",
    "spectrum_2d",
    "wedge_region",
]
