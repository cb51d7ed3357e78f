"""Saving and loading simulations: tilt series, angles, ground-truth volume, atoms and lattice.

A simulation folder holds::

    tilt_series.mrc       the series (n_tilts, ny, nx), float32, voxel size set
    tilt_series.rawtlt    nominal tilt angles, one per line (degrees)
    truth_volume.mrc      ground truth (nz, ny, nx) on the reconstruction grid, voxel size set
    atoms.csv             one atom per line: element, Z, z_A, y_A, x_A (Å from the volume centre)
    crystal.json          lattice, orientation matrix, shape, σ, pixel size, true angles, shifts, dose, seed
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_irdm.crystallography import Lattice
from napari_irdm.data import TiltSeries, Volume
from napari_irdm.errors import ParameterError
from napari_irdm.simulate.crystal import Nanocrystal
from napari_irdm.simulate.tiltseries import GroundTruth

__all__ = ["FILES", "load_truth", "save_simulation"]

FILES = {
    "tilt_series": "tilt_series.mrc",
    "angles": "tilt_series.rawtlt",
    "volume": "truth_volume.mrc",
    "atoms": "atoms.csv",
    "crystal": "crystal.json",
}

_FRAME_NOTE = (
    "positions are (z, y, x) in Å from the volume centre voxel (n-1)/2; orientation R maps crystal "
    "Cartesian coordinates (cubic: [100],[010],[001]; other cells: a along x, b in the xy plane) to the lab frame (x, y, z): r_lab = R @ r_crystal; "
    "y is the tilt axis, z the beam at 0 deg; projection u = x cos(theta) + z sin(theta)"
)


def _write_text_atomic(path: Path, text: str) -> None:
    from napari_irdm.io import atomic_write_text

    atomic_write_text(path, text)  # temp file + rename; mode per umask (mkstemp alone gives 0600)


def save_simulation(directory, tilt_series: TiltSeries, truth: GroundTruth, *, name: str = "tilt_series") -> dict:
    """Write a simulated tilt series and its ground truth to ``directory`` (created if needed).

    Parameters
    ----------
    directory : path
    tilt_series : TiltSeries
    truth : GroundTruth
    name : str
        Stem of the tilt-series MRC and ``.rawtlt``.

    Returns
    -------
    dict
        Role → written path (``tilt_series``, ``angles``, ``volume``, ``atoms``, ``crystal``).
    """
    from napari_irdm import __version__
    from napari_irdm.io import write_tilt_series, write_volume

    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"{out} is a file, not a folder: give a folder for the simulation as `directory`", "directory")
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "tilt_series": out / f"{name}.mrc",
        "angles": out / f"{name}.rawtlt",
        "volume": out / FILES["volume"],
        "atoms": out / FILES["atoms"],
        "crystal": out / FILES["crystal"],
    }
    write_tilt_series(paths["tilt_series"], tilt_series)
    write_volume(paths["volume"], truth.volume, provenance=(f"atoms in {FILES['atoms']}",))
    c = truth.crystal
    from napari_irdm.crystallography import element_symbol

    one = len(set(c.atomic_numbers.tolist())) <= 1 and c.lattice.element
    lines = ["# napari-irdm simulation atoms; " + _FRAME_NOTE.replace(",", ";"), "element,Z,z_A,y_A,x_A"]
    lines += [f"{one or element_symbol(z)},{int(z)},{p[0]:.6f},{p[1]:.6f},{p[2]:.6f}"
              for z, p in zip(c.atomic_numbers, c.positions_A)]
    _write_text_atomic(paths["atoms"], "\n".join(lines) + "\n")
    assert tilt_series.tilt_angles_deg is not None  # a simulated series always carries its angles
    meta = {
        "software": f"napari-irdm {__version__}",
        "frames": _FRAME_NOTE,
        "crystal": c.to_dict(),
        "crystal_extra": c.extra,
        "sigma_A": truth.sigma_A,
        "pixel_size_A": truth.pixel_size_A,
        "volume_shape": list(truth.volume.shape),
        "tilt_series_shape": list(tilt_series.shape),
        "tilt_angles_deg": [float(a) for a in tilt_series.tilt_angles_deg],
        "true_tilt_angles_deg": [float(a) for a in truth.true_tilt_angles_deg],
        "shifts_px_dy_du": np.asarray(truth.shifts_px, dtype=float).round(6).tolist(),
        "dose_e_per_A2": truth.dose_e_per_A2,
        "seed": truth.seed,
        "intensity": "HAADF-like: each atom weighs (Z/79)^1.7 (Au = 1), 3-D Gaussian of sigma_A, pixel-integrated",
        "files": {k: v.name for k, v in paths.items()},
    }
    _write_text_atomic(paths["crystal"], json.dumps(meta, indent=2) + "\n")
    return paths


def load_truth(directory) -> GroundTruth:
    """Read the ground truth that :func:`save_simulation` wrote.

    Raises
    ------
    ValueError
        The folder is not a simulation folder (no ``crystal.json``) or a file is inconsistent.
    FileNotFoundError
        The folder does not exist.
    """
    from napari_irdm.io import read_volume

    d = Path(directory)
    if not d.exists():
        raise FileNotFoundError(f"simulation folder {d} does not exist: make one with `napari-irdm simulate gold -o {d}`")
    meta_path = d / FILES["crystal"]
    if not d.is_dir() or not meta_path.is_file():
        raise ValueError(f"{d} is not a simulation folder (no {FILES['crystal']}): make one with `napari-irdm simulate`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        cm = meta["crystal"]
        lat = Lattice.from_dict(cm["lattice"])
        rot = np.asarray(cm["orientation_R_lab_xyz_from_crystal"], dtype=np.float64)
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_path} is damaged ({err}): re-run the simulation") from err
    atoms_path = d / meta.get("files", {}).get("atoms", FILES["atoms"])
    rows = np.loadtxt(atoms_path, delimiter=",", comments="#", skiprows=2, usecols=(1, 2, 3, 4), ndmin=2)
    crystal = Nanocrystal(
        positions_A=np.ascontiguousarray(rows[:, 1:4]),
        atomic_numbers=rows[:, 0].astype(np.int32),
        lattice=lat,
        orientation=rot,
        shape=cm.get("shape", "unknown"),
        size_nm=float(cm.get("size_nm", 0.0)),
        twin=bool(cm.get("twin", False)),
        vacancy_fraction=float(cm.get("vacancy_fraction", 0.0)),
        extra=dict(meta.get("crystal_extra") or {}),
    )
    vol = read_volume(d / meta.get("files", {}).get("volume", FILES["volume"]))
    px = vol.pixel_size_A if vol.pixel_size_A is not None else float(meta["pixel_size_A"])
    angles = np.asarray(meta.get("tilt_angles_deg") or [], dtype=np.float64)
    volume = Volume(vol.data, pixel_size_A=px, tilt_angles_deg=angles if angles.size else None,
                    provenance=tuple(vol.provenance))
    true_angles = np.asarray(meta.get("true_tilt_angles_deg") or angles, dtype=np.float64)
    shifts = np.asarray(meta.get("shifts_px_dy_du") or np.zeros((true_angles.size, 2)), dtype=np.float64)
    return GroundTruth(crystal=crystal, volume=volume, sigma_A=float(meta.get("sigma_A", 0.35)),
                       true_tilt_angles_deg=true_angles, shifts_px=shifts.reshape(-1, 2),
                       dose_e_per_A2=meta.get("dose_e_per_A2"), seed=meta.get("seed"))
