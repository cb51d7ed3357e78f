"""The hostile-input sweep through the public Python API.

The contract for library callers: bad input raises ``ValueError`` / ``OSError`` /
``MemoryError`` (or subclasses) with a one-line message; never a ``TypeError`` from deep
inside, a ``RuntimeError`` from torch, or a crash; and nothing on disk changes.
"""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import snapshot, write_series

torch = pytest.importorskip("torch")


def _cases(w):
    from napari_irdm import dl, io, simulate, tomo
    from napari_irdm.device import resolve_device

    meta = torch.empty(4, 16, 16, device="meta")
    ok = np.zeros((3, 8, 8), np.float32)
    ok9, ang9 = np.random.default_rng(0).random((9, 8, 8), dtype=np.float32), np.linspace(-60, 60, 9)
    return {
        "read_tilt_series(None)": lambda: io.read_tilt_series(None),
        "read_tilt_series(5)": lambda: io.read_tilt_series(5),
        "read_tilt_series('')": lambda: io.read_tilt_series(""),
        "read_volume(None)": lambda: io.read_volume(None),
        "read_volume(folder)": lambda: io.read_volume(w),
        "inspect_file(123)": lambda: io.inspect_file(123),
        "read_angles(None)": lambda: io.read_angles(None),
        "read_angles(folder)": lambda: io.read_angles(w),
        "angles_from_range step 0": lambda: io.angles_from_range(0, 1, 0),
        "angles_from_range step 1e-12": lambda: io.angles_from_range(-70, 70, 1e-12),
        "write_volume(None, ...)": lambda: io.write_volume(None, ok),
        "write_volume meta tensor": lambda: io.write_volume(w / "m.mrc", meta),
        "write_volume 2-D": lambda: io.write_volume(w / "m.mrc", ok[0]),
        "write_volume unknown suffix": lambda: io.write_volume(w / "m.xyz", ok),
        "write_tilt_series not a series": lambda: io.write_tilt_series(w / "t.mrc", "x"),
        "resolve_device('meta')": lambda: resolve_device("meta"),
        "resolve_device(torch meta)": lambda: resolve_device(torch.device("meta")),
        "resolve_device('xpu')": lambda: resolve_device("xpu"),
        "resolve_device(3)": lambda: resolve_device(3),
        "make_nanocrystal huge a": lambda: simulate.make_nanocrystal("Au", a_A=1e9),
        "make_nanocrystal nan size": lambda: simulate.make_nanocrystal("Au", size_nm=float("nan")),
        "make_nanocrystal tiny a": lambda: simulate.make_nanocrystal("fcc", a_A=1e-6),
        "simulate nan jitter": lambda: simulate.simulate_tilt_series(
            simulate.make_nanocrystal("Au", size_nm=1.0), [-10, 0, 10], angle_jitter_deg=float("nan")),
        "wbp meta tensor": lambda: tomo.wbp(torch.empty(3, 8, 8, device="meta"), [-10, 0, 10]),
        "wbp angle count": lambda: tomo.wbp(ok, [0, 1]),
        "wbp None": lambda: tomo.wbp(None, [0, 1]),
        "wbp NaN": lambda: tomo.wbp(np.full((3, 8, 8), np.nan, np.float32), [-1, 0, 1]),
        "wbp thickness 1e9": lambda: tomo.wbp(ok, [-1, 0, 1], thickness=10**9),
        "sirt iterations -1": lambda: tomo.sirt(ok, [-1, 0, 1], iterations=-1),
        "load_model(None)": lambda: dl.load_model(None),
        "load_model(5)": lambda: dl.load_model(5),
        "inpaint meta tensor": lambda: dl.inpaint(meta, np.linspace(-60, 60, 9)),
        "inpaint None": lambda: dl.inpaint(None, np.linspace(-60, 60, 9)),
        "inspect_file tilt_axis z": lambda: io.inspect_file(w / "ts.mrc", tilt_axis="z"),
        # issue 11b
        "wbp out int32": lambda: tomo.wbp(ok9, ang9, out=np.zeros((8, 8, 8), np.int32)),
        "wbp out float64": lambda: tomo.wbp(ok9, ang9, out=np.zeros((8, 8, 8), np.float64)),
        "sirt out int32": lambda: tomo.sirt(ok9, ang9, iterations=1, out=np.zeros((8, 8, 8), np.int32)),
        "inpaint out int32": lambda: dl.inpaint(ok9[:8], ang9, out=np.zeros((8, 8, 8), np.int32)),
        "wbp chunk_slices 0": lambda: tomo.wbp(ok9, ang9, chunk_slices=0),
        "wbp chunk_slices -1": lambda: tomo.wbp(ok9, ang9, chunk_slices=-1),
        "sirt chunk_slices 0": lambda: tomo.sirt(ok9, ang9, iterations=1, chunk_slices=0),
        "wbp complex": lambda: tomo.wbp(ok9.astype(np.complex64), ang9),
        "sirt iterations True": lambda: tomo.sirt(ok9, ang9, iterations=True),
        "inpaint batch_size True": lambda: dl.inpaint(ok9[:8], ang9, batch_size=True),
        "wbp all angles equal": lambda: tomo.wbp(ok9, np.zeros(9)),
        "sirt all angles equal": lambda: tomo.sirt(ok9, np.full(9, 5.0), iterations=1),
        "wbp 3-pixel images": lambda: tomo.wbp(np.ones((9, 8, 3), np.float32), ang9),
        "write_volume all NaN": lambda: io.write_volume(w / "n.mrc", np.full((2, 4, 4), np.nan, np.float32)),
        "write_volume NaN angle": lambda: io.write_volume(w / "n.mrc", ok, tilt_angles_deg=[np.nan]),
        "write_volume complex": lambda: io.write_volume(w / "n.mrc", ok.astype(np.complex64)),
        "write_volume provenance 5": lambda: io.write_volume(w / "n.mrc", ok, provenance=5),
        "read_tilt_series angles 'abc'": lambda: io.read_tilt_series(w / "ts.mrc", tilt_angles_deg="abc"),
        "read_tilt_series angles object": lambda: io.read_tilt_series(w / "ts.mrc", tilt_angles_deg=[object()] * 9),
    }




def _ids():
    import inspect

    src = inspect.getsource(_cases)
    return [line.split('"')[1] for line in src.splitlines() if line.strip().startswith('"') and '": lambda' in line]


@pytest.mark.parametrize("name", _ids())
def test_api_raises_one_line_value_os_or_memory_error(name, tmp_path):
    write_series(tmp_path / "ts.mrc")
    case = _cases(tmp_path)[name]
    before = snapshot(tmp_path)
    with pytest.raises((ValueError, OSError, MemoryError)) as info:
        case()
    text = str(info.value).strip()
    assert text and "\n" not in text, text
    assert snapshot(tmp_path) == before


def test_every_api_case_is_listed(tmp_path):
    assert len(_ids()) == len(_cases(tmp_path)) >= 30
