"""napari front end: reader, writer, sample data, widgets and the demo.

This is the only package of napari-irdm that imports napari, magicgui or qtpy
(DESIGN §2). Everything here only collects parameters, drives the core's
progress generators in a worker thread and shows their results.
"""
