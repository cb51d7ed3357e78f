"""Reading and writing tilt series, volumes and tilt-angle files (MRC, TIFF, IMOD, SerialEM, FEI).

Pure functions; importing this package loads NumPy only (``mrcfile``, ``tifffile`` and
SciPy are imported on use). Conventions (docs/DESIGN.md): tilt series ``(n_tilts, ny, nx)``
float32 with the tilt axis along ``y``; volumes ``(nz, ny, nx)``; angles in degrees;
pixel sizes in Å. Bad input raises ``ValueError`` with a one-line message naming the file
and the fix. Every write is atomic (temp file in the same folder, then ``os.replace``).
See docs/io.md.
"""

from napari_irdm.geometry import angles_from_range
from napari_irdm.io._atomic import (
    DiskFullError,
    WriteError,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_not_input,
    ensure_free_space,
    format_bytes,
)
from napari_irdm.io._errors import MissingFileError
from napari_irdm.io._offset import detect_offset, normalise_offset
from napari_irdm.io._raw import SUPPORTED_SUFFIXES
from napari_irdm.io._read import inspect_file, is_supported, read_tilt_series, read_volume
from napari_irdm.io._write import write_tilt_series, write_volume
from napari_irdm.io.angles import read_angles, write_angles
from napari_irdm.io.mrc import create_volume_mrc

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DiskFullError",
    "WriteError",
    "MissingFileError",
    "angles_from_range",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_not_input",
    "create_volume_mrc",
    "detect_offset",
    "ensure_free_space",
    "format_bytes",
    "inspect_file",
    "is_supported",
    "normalise_offset",
    "read_angles",
    "read_tilt_series",
    "read_volume",
    "write_angles",
    "write_tilt_series",
    "write_volume",
]
