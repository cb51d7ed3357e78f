"""Dock widgets, one module each: ``reconstruct``, ``inpaint``, ``fourier``, ``compare``.

All long work goes through :func:`napari_irdm._napari._widgets._runner.start_worker`.
"""
