"""The real NIST HAADF series (../shared/data; skipped when absent)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_irdm.io import read_angles, read_tilt_series
from napari_irdm.io.mrc import header_angles, open_mrc

pytestmark = pytest.mark.shared_data


@pytest.fixture
def needle(shared_data):
    return shared_data / "etspy-needle-haadf"


def test_fei_header_angles_equal_rawtlt(needle):
    with pytest.warns(UserWarning, match="MAP"):
        mrc = open_mrc(needle / "HAADF.mrc")
    angles, pixel_A, source = header_angles(mrc, mrc.data.shape[0])
    np.testing.assert_allclose(angles, read_angles(needle / "HAADF.rawtlt"), atol=1e-4)
    assert source == "FEI extended header"
    assert pixel_A == pytest.approx(33.6)  # 3.36 nm in the acquisition log


def test_raw_series_reads_in_project_convention(needle):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = read_tilt_series(needle / "HAADF.mrc", tilt_axis="x")
    assert ts.data.shape == (77, 256, 256) and ts.data.dtype == np.float32
    assert ts.tilt_axis == "x"
    assert ts.angle_source.endswith("HAADF.rawtlt")
    assert ts.tilt_angles_deg[0] == -76 and ts.tilt_angles_deg[-1] == 76
    assert ts.pixel_size_A == pytest.approx(33.6)
    # int16 with background ~ -31900: offset removed, vacuum near 0, needle bright
    assert abs(np.median(ts.data)) < 200
    assert np.percentile(ts.data, 99) > 10000
    assert any("offset" in line for line in ts.provenance)


def test_aligned_series_matches_raw_geometry(needle):
    ts = read_tilt_series(needle / "HAADF_aligned.mrc", tilt_axis="x")
    assert ts.pixel_size_A == pytest.approx(33.6)
    np.testing.assert_array_equal(ts.tilt_angles_deg, read_angles(needle / "HAADF.rawtlt"))
    # the needle runs along the tilt axis: after the transpose its mean profile varies little along y
    profile_y = ts.data[38].mean(axis=1)
    profile_x = ts.data[38].mean(axis=0)
    assert profile_y.std() / profile_y.mean() < profile_x.std() / profile_x.mean()
