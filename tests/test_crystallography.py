"""The crystallography floor: one Lattice / orientation / reflection model for simulate and analysis."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_irdm import crystallography as cr


def test_simulate_and_analysis_use_the_same_objects():
    from napari_irdm import simulate
    from napari_irdm.analysis import bragg
    from napari_irdm.simulate import crystal

    assert crystal.Lattice is cr.Lattice is simulate.Lattice
    assert crystal.get_lattice is cr.get_lattice and crystal.orientation_matrix is cr.orientation_matrix
    assert bragg.expected_reflections is cr.expected_reflections and bragg.family_label is cr.family_label
    assert bragg.Reflection is cr.Reflection


def test_importing_the_core_floors_loads_no_torch():
    code = ("import sys, napari_irdm.crystallography, napari_irdm.analysis, napari_irdm.simulate; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reciprocal_vectors_match_the_reflections_and_the_crystal():
    from napari_irdm.simulate import make_nanocrystal

    rot = cr.orientation_matrix((10.0, 35.0, -20.0))
    refl = cr.expected_reflections("Au", d_min_A=1.0, orientation=rot)
    hkl = np.array([r.hkl for r in refl])
    g = cr.reciprocal_vectors(hkl, 4.078, rot)
    np.testing.assert_allclose(g, [r.g for r in refl], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), [1 / r.d_A for r in refl], rtol=1e-12)
    crystal = make_nanocrystal("Au", size_nm=1.0, orientation=rot)
    np.testing.assert_allclose(crystal.g_vectors(hkl), g, atol=1e-12)


def test_zone_axis_reflections_lie_in_the_plane_normal_to_the_tilt_axis():
    # zone [110] along y: every reflection with h + k = 0 has ky = 0, the others do not
    refl = cr.expected_reflections("Au", d_min_A=0.9, orientation="zone:[110]")
    for r in refl:
        in_zone = r.hkl[0] + r.hkl[1] == 0
        assert (abs(r.g[1]) < 1e-12) == in_zone, r


def test_allowed_hkl_extinctions_and_d_spacing():
    fcc = cr.get_lattice("Au")
    hkl = cr.allowed_hkl(fcc, 4)
    assert {tuple(abs(v) for v in h) for h in hkl} == {(1, 1, 1), (2, 0, 0), (0, 2, 0), (0, 0, 2)}
    assert len(hkl) == 8 + 6  # ±{111} and ±{200}
    assert fcc.d_spacing([1, 1, 1]) == pytest.approx(4.078 / np.sqrt(3))
    assert cr.family_label(fcc, 27) == "511/333"


def test_lattice_dict_round_trip():
    lat = cr.get_lattice("bcc", 3.0)
    assert cr.Lattice.from_dict(lat.to_dict()) == lat
    with pytest.raises(KeyError):
        cr.Lattice.from_dict({"a_A": 3.0})


def test_errors_name_parameters_and_the_cli_says_its_flag():
    from napari_irdm._cli._common import error_line
    from napari_irdm.errors import ParameterError

    with pytest.raises(ParameterError, match="`a_A`") as info:
        cr.get_lattice("fcc")
    assert info.value.params == ("a_A",)
    code, line = error_line(info.value)
    assert code == 2 and "--a" in line and "`a_A`" not in line


def test_core_error_messages_name_no_command_line_flag():
    """Messages raised anywhere in the core (all but the two shells) say parameters, never CLI flags."""
    import ast
    import re
    from pathlib import Path

    import napari_irdm

    root = Path(napari_irdm.__file__).parent
    files = [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in ("_cli", "_napari", "cli.py")]
    flag = re.compile(r"(?<![\w`])--[a-z]|\bCLI\b|\(-o ")
    bad = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for c in ast.walk(node.exc):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str) and flag.search(c.value):
                        bad.append(f"{f.name}:{node.lineno}: {c.value!r}")
    assert len(files) > 8 and not bad, bad
