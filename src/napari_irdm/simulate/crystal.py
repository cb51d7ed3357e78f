"""Nanocrystal shapes cut out of a crystal lattice, for atomic electron-tomography simulations.

Lattices, orientations and reflections are crystallography, not simulation: they live in
:mod:`napari_irdm.crystallography` (frames described there) and are re-exported here.
Atom positions are stored in the volume frame's order ``(z, y, x)``, in Å, relative to the
volume centre (voxel ``(n − 1) / 2``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from napari_irdm.crystallography import (
    ELEMENTS,
    Lattice,
    get_lattice,
    orientation_matrix,
    reciprocal_vectors,
)
from napari_irdm.errors import ParameterError

__all__ = [
    "ELEMENTS",
    "SHAPES",
    "Lattice",
    "Nanocrystal",
    "get_lattice",
    "make_nanocrystal",
    "orientation_matrix",
]

SHAPES = ("truncated_octahedron", "cuboctahedron", "sphere", "cube", "rod")


# -------------------------------------------------------------------- crystals
@dataclass(frozen=True)
class Nanocrystal:
    """Atoms of a simulated nanocrystal.

    Attributes
    ----------
    positions_A : ndarray, shape (n_atoms, 3)
        Atom centres in Å in the **volume frame order (z, y, x)**, relative to the volume centre.
    atomic_numbers : ndarray, shape (n_atoms,), int
    lattice : Lattice
    orientation : ndarray, shape (3, 3)
        Proper rotation ``R`` with ``r_lab(x, y, z) = R @ r_crystal``.
    shape : str
    size_nm : float
    twin : bool
    vacancy_fraction : float
    """

    positions_A: np.ndarray
    atomic_numbers: np.ndarray
    lattice: Lattice
    orientation: np.ndarray
    shape: str = "truncated_octahedron"
    size_nm: float = 3.0
    twin: bool = False
    vacancy_fraction: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        """Number of atoms."""
        return int(self.positions_A.shape[0])

    @property
    def element(self) -> str | None:
        """Element symbol of the lattice, or ``None``."""
        return self.lattice.element

    def g_vectors(self, hkl) -> np.ndarray:
        """Reciprocal-lattice vectors of ``hkl`` (shape (..., 3)) as ``(kz, ky, kx)`` in 1/Å."""
        return reciprocal_vectors(hkl, self.lattice, self.orientation)

    def radius_A(self) -> float:
        """Largest distance of an atom from the centre (Å)."""
        return float(np.sqrt((self.positions_A**2).sum(axis=1)).max()) if self.n_atoms else 0.0

    def to_dict(self) -> dict:
        """JSON-ready metadata (no atom list)."""
        return {
            "lattice": self.lattice.to_dict(),
            "orientation_R_lab_xyz_from_crystal": np.round(self.orientation, 12).tolist(),
            "shape": self.shape,
            "size_nm": self.size_nm,
            "twin": self.twin,
            "vacancy_fraction": self.vacancy_fraction,
            "n_atoms": self.n_atoms,
            "positions_order": "z, y, x (Å from the volume centre)",
        }


def _inside(shape: str, r: np.ndarray, half: float, aspect: float) -> np.ndarray:
    """Mask of crystal-frame points ``r`` (N, 3) inside the shape of half-size ``half`` (Å)."""
    ax = np.abs(r)
    tol = 1e-6
    if shape == "sphere":
        return (r * r).sum(axis=1) <= half**2 + tol
    if shape == "cube":
        return ax.max(axis=1) <= half + tol
    if shape == "truncated_octahedron":  # Archimedean: d111 / d100 = √3 / 2
        return (ax.max(axis=1) <= half + tol) & (ax.sum(axis=1) <= 1.5 * half + tol)
    if shape == "cuboctahedron":
        return (ax.max(axis=1) <= half + tol) & (ax.sum(axis=1) <= 2.0 * half + tol)
    if shape == "rod":  # cylinder along [001], length = size, diameter = size / aspect
        rad = half / aspect
        return ((r[:, 0] ** 2 + r[:, 1] ** 2) <= rad**2 + tol) & (ax[:, 2] <= half + tol)
    raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")


def make_nanocrystal(
    element="Au",
    *,
    shape: str = "truncated_octahedron",
    size_nm: float = 3.0,
    lattice: Lattice | str | None = None,
    a_A: float | None = None,
    orientation=None,
    seed=None,
    vacancy_fraction: float = 0.0,
    twin: bool = False,
    aspect: float = 2.5,
) -> Nanocrystal:
    """Cut a nanocrystal out of a crystal lattice (any cell, any atoms in it) and orient it.

    Parameters
    ----------
    element : str
        Element or compound preset (``"Au"``, ``"Pt"``, ``"Co"`` (hcp), ``"Si"``, ``"CeO2"``, ``"TiO2"``, ...,
        ``"gold"``) or a ``.cif`` file.
    shape : {"truncated_octahedron", "cuboctahedron", "sphere", "cube", "rod"}
        Facets are crystallographic ({100}, {111}) in a cubic crystal frame; for other cells the
        same planes of the Cartesian crystal frame (``a ∥ x``, rod axis ``∥ c``).
    size_nm : float
        Sphere diameter; cube edge; distance between opposite {100} facets of the
        (truncated) octahedra; rod length (diameter ``size_nm / aspect``, axis [001]).
    lattice : Lattice or str, optional
        Overrides the element's lattice (e.g. ``"bcc"`` with ``a_A``).
    a_A : float, optional
        Lattice constant in Å (overrides the preset).
    orientation : None, "random", "zone:[hkl]", Euler angles (deg) or 3×3 matrix
        See :func:`orientation_matrix`; ``None`` is a random rotation from ``seed``.
    seed : int, optional
        Seeds the random orientation and the vacancies.
    vacancy_fraction : float
        Fraction of atoms removed at random (0 ≤ f < 1).
    twin : bool
        Mirror the half-crystal above a (111) plane through the centre atom (a coherent twin).
    aspect : float
        Length / diameter of a rod.

    Returns
    -------
    Nanocrystal
        An atom sits on the centre of the volume (the lattice origin).
    """
    lat = get_lattice(lattice if lattice is not None else element, a_A)
    if lattice is not None and lat.element is None and len(set(lat.site_numbers.tolist())) == 1:
        try:
            preset = get_lattice(element)
            lat = Lattice(lat.structure, lat.a_A, preset.element, preset.Z, b_A=lat.b_A, c_A=lat.c_A,
                          angles_deg=lat.angles_deg)
        except ValueError:
            pass
    shape = str(shape).strip().lower().replace("-", "_").replace(" ", "_")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    size = float(size_nm)
    if not np.isfinite(size) or size <= 0:
        raise ParameterError(f"`size_nm` must be a positive size in nm, got {size_nm}", "size_nm")
    if not 0.0 <= float(vacancy_fraction) < 1.0:
        raise ParameterError(f"`vacancy_fraction` must be in [0, 1), got {vacancy_fraction}", "vacancy_fraction")
    if shape == "rod" and aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    rng = np.random.default_rng(seed)
    rot = orientation_matrix(orientation, seed=rng, lattice=lat)

    half = 5.0 * size  # Å
    amat = lat.direct_matrix
    # cells along each axis: |fractional coordinate| ≤ half · |row of A⁻¹| covers the sphere of radius half
    lim = [int(np.ceil(half * np.linalg.norm(row))) + 1 for row in np.linalg.inv(amat)]
    if np.prod([2 * n + 1 for n in lim]) * len(lat.basis) > 2e7:
        raise ParameterError(f"`size_nm` = {size_nm} is too large to simulate atom by atom: use ≤ 30 nm", "size_nm")
    if twin and not lat.is_cubic:
        raise ParameterError(f"a (111) twin needs a cubic lattice; {lat.label} is not cubic: leave `twin` off", "twin")
    grid = np.stack(np.meshgrid(*[np.arange(-n, n + 1, dtype=np.float64) for n in lim], indexing="ij"),
                    axis=-1).reshape(-1, 1, 3)
    # the first site on the origin, so that an atom sits on the centre of the volume
    frac = (grid + (lat.basis - lat.basis[0])[None]).reshape(-1, 3)
    pts = frac @ amat.T
    z_of = np.broadcast_to(lat.site_numbers[None], (len(grid), len(lat.basis))).reshape(-1)
    occ = np.broadcast_to(lat.site_occupancy[None], (len(grid), len(lat.basis))).reshape(-1)
    if twin:
        normal = np.ones(3) / np.sqrt(3.0)
        h = pts @ normal
        low = h <= 1e-9
        flip = h < -1e-9
        mirrored = pts[flip] - 2.0 * (pts[flip] @ normal)[:, None] * normal[None]
        pts = np.concatenate([pts[low], mirrored])
        z_of = np.concatenate([z_of[low], z_of[flip]])
        occ = np.concatenate([occ[low], occ[flip]])
    inside = _inside(shape, pts, half, float(aspect))
    pts, z_of, occ = pts[inside], z_of[inside], occ[inside]
    keep = np.ones(len(pts), dtype=bool)
    if np.any(occ < 1.0):  # partially occupied sites (from a CIF): each atom present with its occupancy
        keep &= rng.random(len(pts)) < occ
    if vacancy_fraction > 0 and len(pts):
        keep &= rng.random(len(pts)) >= vacancy_fraction
    pts, z_of = pts[keep], z_of[keep]
    if len(pts) == 0:
        raise ParameterError(f"`size_nm` = {size_nm} is smaller than one unit cell: use a larger size", "size_nm")
    lab = pts @ rot.T
    return Nanocrystal(
        positions_A=np.ascontiguousarray(lab[:, ::-1]),
        atomic_numbers=np.asarray(z_of, dtype=np.int32),
        lattice=lat,
        orientation=rot,
        shape=shape,
        size_nm=size,
        twin=bool(twin),
        vacancy_fraction=float(vacancy_fraction),
        extra={"aspect": float(aspect)} if shape == "rod" else {},
    )
