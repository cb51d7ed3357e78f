"""Spectra and Bragg reports of several volumes at once.

What the Fourier inspector and the comparison view show, computed here (NumPy / SciPy only)
so that any front end can use it.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from napari_irdm.analysis.bragg import bragg_report
from napari_irdm.analysis.spectrum import central_sections, power_spectrum_3d
from napari_irdm.progress import Progress

__all__ = ["spectra_iter"]


def spectra_iter(volumes: list[dict], reference: dict | None = None, snr_threshold: float = 3.0,
                 ) -> Generator[Progress, None, list[dict]]:
    """Spectrum, central sections and Bragg report of each volume (progress generator).

    Parameters
    ----------
    volumes : list of dict
        ``{"name", "data" (nz, ny, nx), "pixel_size_A", "tilt_angles_deg"}``; other keys are
        passed through to the result.
    reference : dict, optional
        ``None``: no Bragg report. Otherwise the keyword arguments of
        :func:`napari_irdm.analysis.bragg.bragg_report` that say which lattice to test:
        ``truth=`` (a ground truth or its folder) or ``lattice=``, ``a_A=``, ``orientation=``.
        With a lattice and no orientation, the orientation fitted to the first volume whose
        peaks fit one is used for the volumes after it, so all count the same reflections.
    snr_threshold : float
        Detection threshold of the report.

    Returns
    -------
    list of dict
        Per volume: its keys plus ``spec`` (3D Hann-windowed log power spectrum, float32),
        ``freqs`` (per axis, 1/Å), ``sections`` (``"kx-kz"``, ``"kx-ky"``, ... float32) and
        ``report`` (a :class:`~napari_irdm.analysis.bragg.BraggReport`, or ``None`` without
        tilt angles or reference).
    """
    out = []
    n = len(volumes)
    fitted_on = None
    for i, v in enumerate(volumes):
        yield Progress(2 * i, 2 * n, f"power spectrum of {v['name']}")
        spec, freqs = power_spectrum_3d(v["data"], v["pixel_size_A"], window="hann", log=True)
        sections = central_sections(spec)
        yield Progress(2 * i + 1, 2 * n, f"Bragg spots of {v['name']}")
        report = None
        if v["tilt_angles_deg"] is not None and reference is not None:
            report = bragg_report(v["data"], v["pixel_size_A"], v["tilt_angles_deg"],
                                  snr_threshold=snr_threshold, **reference)
            if report.orientation_fitted is not None:  # the other volumes are counted in this orientation
                fit = report.orientation_fitted
                reference = {**reference, "orientation": np.asarray(fit["rotation"]), "a_A": float(fit["a_A"])}
                fitted_on = v["name"]
            elif fitted_on is not None:
                report.notes.append(f"orientation fitted to the peaks of {fitted_on}")
        out.append({**v, "spec": np.asarray(spec, np.float32), "freqs": [np.asarray(f) for f in freqs],
                    "sections": {k: np.asarray(s, np.float32) for k, s in sections.items()}, "report": report})
    yield Progress(2 * n, 2 * n, "done")
    return out
