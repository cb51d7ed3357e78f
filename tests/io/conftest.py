"""Small synthetic MRC files for the I/O tests (generated, never ../shared)."""

from __future__ import annotations

import struct
from pathlib import Path

import mrcfile
import numpy as np
import pytest


def make_mrc(path: Path, data: np.ndarray, *, voxel_size=None, ext_header=None, exttyp=None,
             map_id: bool = True, nint_nreal=None) -> Path:
    """Write ``data`` with mrcfile, then optionally damage/alter header bytes."""
    import warnings

    with mrcfile.new(path, overwrite=True) as mrc, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mrcfile on NaN test data
        mrc.set_data(data)
        if voxel_size is not None:
            mrc.voxel_size = voxel_size
        if ext_header is not None:
            mrc.set_extended_header(ext_header)
        if exttyp is not None:
            mrc.header.exttyp = exttyp
    if not map_id or nint_nreal is not None:
        with open(path, "r+b") as fh:
            if nint_nreal is not None:
                fh.seek(128)
                fh.write(struct.pack("<hh", *nint_nreal))
            if not map_id:
                fh.seek(208)
                fh.write(b"\0\0\0\0")
                fh.seek(212)
                fh.write(b"\0\0\0\0")  # machine stamp unset too, as in old FEI files
    return path


def legacy_fei_header(angles, pixel_size_m) -> np.ndarray:
    """1024 records of 32 float32: field 0 alpha tilt (deg), field 11 pixel size (m)."""
    rec = np.zeros((1024, 32), dtype="<f4")
    rec[: len(angles), 0] = angles
    rec[: len(angles), 11] = pixel_size_m
    rec[: len(angles), 13] = 300e3
    return np.frombuffer(rec.tobytes(), dtype="V1").copy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def series_data(rng):
    """(7, 12, 10) float32 with a bright blob: ny != nx so transposes show."""
    data = rng.normal(0.0, 0.1, size=(7, 12, 10)).astype(np.float32)
    data[:, 3:5, 6:9] += 5.0
    return data


@pytest.fixture
def mrc_maker():
    """The :func:`make_mrc` helper (fixtures avoid importing conftest modules)."""
    return make_mrc


@pytest.fixture
def fei_header():
    return legacy_fei_header
