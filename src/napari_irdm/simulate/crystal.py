"""Crystal lattices and nanocrystal shapes for atomic electron-tomography simulations.

Frames
------
- **Crystal frame**: Cartesian Å along the cubic axes ``[100], [010], [001]``.
- **Lab frame** ``(x, y, z)``: right-handed; ``x`` the detector axis ``u`` at 0° tilt, ``y`` the
  tilt axis, ``z`` the beam at 0° tilt. An orientation is a proper rotation ``R`` (3×3,
  ``det R = +1``) with ``r_lab = R @ r_crystal``; ``R = I`` puts ``[100] ∥ x``, ``[001] ∥ z``.
- **Volume frame** (DESIGN): the same axes in array order ``(z, y, x)``. Atom positions are
  stored in this order, in Å, relative to the volume centre (voxel ``(n − 1) / 2``).
  Reciprocal vectors ``g`` are given as ``(kz, ky, kx)`` in 1/Å.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ELEMENTS",
    "SHAPES",
    "Lattice",
    "Nanocrystal",
    "get_lattice",
    "make_nanocrystal",
    "orientation_matrix",
]

#: element → (structure, lattice constant a in Å, atomic number Z); room-temperature values
ELEMENTS: dict[str, tuple[str, float, int]] = {
    "Au": ("fcc", 4.078, 79),
    "Pt": ("fcc", 3.924, 78),
    "Pd": ("fcc", 3.891, 46),
    "Ag": ("fcc", 4.086, 47),
    "Cu": ("fcc", 3.615, 29),
    "Ni": ("fcc", 3.524, 28),
    "Fe": ("bcc", 2.8665, 26),
    "W": ("bcc", 3.165, 74),
    "Mo": ("bcc", 3.147, 42),
    "Po": ("sc", 3.359, 84),
}

#: common names accepted for elements (CLI ``simulate gold``)
_ALIASES = {"gold": "Au", "platinum": "Pt", "palladium": "Pd", "silver": "Ag", "copper": "Cu",
            "nickel": "Ni", "iron": "Fe", "tungsten": "W", "molybdenum": "Mo", "polonium": "Po"}

#: fractional basis of each cubic structure
_BASES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "sc": ((0.0, 0.0, 0.0),),
    "bcc": ((0.0, 0.0, 0.0), (0.5, 0.5, 0.5)),
    "fcc": ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0)),
}

SHAPES = ("truncated_octahedron", "cuboctahedron", "sphere", "cube", "rod")


@dataclass(frozen=True)
class Lattice:
    """A cubic Bravais lattice with a one-element basis.

    Attributes
    ----------
    structure : {"fcc", "bcc", "sc"}
    a_A : float
        Lattice constant in Å.
    element : str or None
        Chemical symbol (``None`` for a bare lattice).
    Z : int
        Atomic number used for the HAADF-like intensity ``∝ Z^1.7`` (79 when unknown).
    """

    structure: str
    a_A: float
    element: str | None = None
    Z: int = 79

    @property
    def basis(self) -> np.ndarray:
        """Fractional basis positions, shape (n_basis, 3)."""
        return np.asarray(_BASES[self.structure], dtype=np.float64)

    def structure_factor(self, hkl) -> np.ndarray:
        """Geometric structure factor ``Σ_b exp(2πi h·b)`` of ``hkl`` (shape (..., 3)); real for cubic bases."""
        h = np.asarray(hkl, dtype=np.float64)
        phase = 2.0 * np.pi * h @ self.basis.T
        return np.cos(phase).sum(axis=-1)

    def allowed(self, hkl) -> np.ndarray:
        """``True`` where the reflection is not extinct (fcc: h, k, l all even or all odd; bcc: h+k+l even)."""
        return np.abs(self.structure_factor(hkl)) > 1e-6

    def d_spacing(self, hkl) -> np.ndarray:
        """Interplanar spacing ``a / √(h²+k²+l²)`` in Å."""
        h = np.asarray(hkl, dtype=np.float64)
        return self.a_A / np.sqrt((h * h).sum(axis=-1))

    def to_dict(self) -> dict:
        return {"structure": self.structure, "a_A": self.a_A, "element": self.element, "Z": self.Z}


def get_lattice(name="fcc", a_A: float | None = None) -> Lattice:
    """A :class:`Lattice` from a structure (``"fcc"``, ``"bcc"``, ``"sc"``) or an element (``"Au"``, ``"gold"``).

    Parameters
    ----------
    name : str or Lattice
        Structure or element name (case-insensitive); a Lattice is returned as is
        (with ``a_A`` replaced when given).
    a_A : float, optional
        Lattice constant in Å; required for a bare structure, overrides an element's preset.

    Raises
    ------
    ValueError
        Unknown name, or a bare structure without ``a_A``.
    """
    if isinstance(name, Lattice):
        return name if a_A is None else Lattice(name.structure, _check_a(a_A), name.element, name.Z)
    key = str(name).strip()
    low = key.lower()
    if low in _BASES:
        if a_A is None:
            raise ValueError(f"lattice {key!r} needs a lattice constant: pass a_A (CLI --a), e.g. 4.078 for Au")
        return Lattice(low, _check_a(a_A), None, 79)
    symbol = _ALIASES.get(low) or next((s for s in ELEMENTS if s.lower() == low), None)
    if symbol is None:
        known = ", ".join(list(_BASES) + list(ELEMENTS))
        raise ValueError(f"unknown lattice {key!r}: use one of {known} (or fcc/bcc/sc with --a)")
    structure, a0, z = ELEMENTS[symbol]
    return Lattice(structure, _check_a(a0 if a_A is None else a_A), symbol, z)


def _check_a(a_A) -> float:
    a = float(a_A)
    if not np.isfinite(a) or a <= 0:
        raise ValueError(f"lattice constant must be a positive number of Å, got {a_A}")
    if not 0.5 <= a <= 100:
        raise ValueError(f"lattice constant {a_A} Å is outside 0.5-100 Å (Au is 4.078): give it in Å")
    return a


# ------------------------------------------------------------------ orientation
def _parse_hkl(text: str) -> np.ndarray:
    body = text.strip().strip("[]<>()")
    parts = re.split(r"[\s,]+", body) if re.search(r"[\s,]", body) else re.findall(r"-?\d", body)
    try:
        v = np.array([float(p) for p in parts if p], dtype=np.float64)
    except ValueError:
        v = np.zeros(0)
    if v.size != 3 or not np.any(v):
        raise ValueError(f"cannot read a zone axis from {text!r}: write it like 'zone:[110]' or 'zone:[1,-1,2]'")
    return v


def _zone_rotation(zone: np.ndarray) -> np.ndarray:
    """Rotation putting crystal direction ``zone`` along the tilt axis ``y``.

    The beam ``z`` gets the lowest-index crystal direction perpendicular to the zone (ties:
    the first found), so e.g. ``[110]`` gives ``[001] ∥ z`` and ``[1-10] ∥ x``.
    """
    y = zone / np.linalg.norm(zone)
    best = None
    rng = (0, 1, -1, 2, -2, 3, -3)
    for n2 in range(1, 28):
        for h in rng:
            for k in rng:
                for l in rng:  # noqa: E741
                    c = np.array([h, k, l], dtype=float)
                    if h * h + k * k + l * l != n2 or abs(c @ zone) > 1e-9:
                        continue
                    best = c
                    break
                if best is not None:
                    break
            if best is not None:
                break
        if best is not None:
            break
    if best is None:  # irrational zone: any perpendicular
        best = np.cross(y, [1.0, 0.0, 0.0] if abs(y[0]) < 0.9 else [0.0, 1.0, 0.0])
    z = best / np.linalg.norm(best)
    x = np.cross(y, z)
    # rows of R^T are the lab axes in crystal coordinates → R = [x y z]^T
    return np.stack([x, y, z])


def orientation_matrix(orientation=None, *, seed=None) -> np.ndarray:
    """Rotation ``R`` (lab ``(x, y, z)`` from crystal) for an orientation specification.

    Parameters
    ----------
    orientation : None, "random", "identity", "zone:[hkl]", (φ, θ, ψ) degrees or (3, 3) array
        ``None`` / ``"random"``: uniformly random rotation from ``seed``.
        ``"zone:[hkl]"``: crystal direction ``[hkl]`` along the tilt axis ``y``.
        Three numbers: intrinsic ZYZ Euler angles in degrees (as RELION).
        A 3×3 array: ``R`` itself (must be a proper rotation).
    seed : int or numpy Generator, optional

    Returns
    -------
    ndarray, shape (3, 3)
    """
    from scipy.spatial.transform import Rotation

    if orientation is None or (isinstance(orientation, str) and orientation.strip().lower() == "random"):
        return Rotation.random(random_state=seed).as_matrix()
    if isinstance(orientation, str):
        text = orientation.strip().lower()
        if text in ("identity", "none"):
            return np.eye(3)
        if text.startswith("zone"):
            return _zone_rotation(_parse_hkl(text.split(":", 1)[-1] if ":" in text else text[4:]))
        if text.startswith("["):
            return _zone_rotation(_parse_hkl(text))
        try:
            angles = [float(v) for v in re.split(r"[\s,]+", text) if v]
        except ValueError:
            angles = []
        if len(angles) == 3:
            return Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix()
        raise ValueError(
            f"cannot read orientation {orientation!r}: use 'random', 'zone:[110]' or three Euler angles 'φ,θ,ψ' (deg)"
        )
    arr = np.asarray(orientation, dtype=np.float64)
    if arr.shape == (3,):
        return Rotation.from_euler("ZYZ", arr, degrees=True).as_matrix()
    if arr.shape == (3, 3):
        if not np.allclose(arr @ arr.T, np.eye(3), atol=1e-5) or np.linalg.det(arr) < 0:
            raise ValueError("orientation matrix must be a proper rotation (orthonormal, det +1)")
        return arr
    raise ValueError(f"orientation must be a string, 3 Euler angles or a 3×3 matrix, got shape {arr.shape}")


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
        return int(self.positions_A.shape[0])

    @property
    def element(self) -> str | None:
        return self.lattice.element

    def g_vectors(self, hkl) -> np.ndarray:
        """Reciprocal-lattice vectors of ``hkl`` (shape (..., 3)) as ``(kz, ky, kx)`` in 1/Å."""
        g_crys = np.asarray(hkl, dtype=np.float64) / self.lattice.a_A
        return (g_crys @ self.orientation.T)[..., ::-1]

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
    """Cut a nanocrystal out of a cubic lattice and orient it.

    Parameters
    ----------
    element : str
        Element preset (``"Au"``, ``"Pt"``, ``"Pd"``, ``"Ag"``, ``"Cu"``, ... or ``"gold"``).
    shape : {"truncated_octahedron", "cuboctahedron", "sphere", "cube", "rod"}
        Facets are crystallographic ({100}, {111}) in the crystal frame.
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
    if lattice is not None and lat.element is None:
        try:
            preset = get_lattice(element)
            lat = Lattice(lat.structure, lat.a_A, preset.element, preset.Z)
        except ValueError:
            pass
    shape = str(shape).strip().lower().replace("-", "_").replace(" ", "_")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}")
    size = float(size_nm)
    if not np.isfinite(size) or size <= 0:
        raise ValueError(f"size_nm must be a positive size in nm, got {size_nm}")
    if not 0.0 <= float(vacancy_fraction) < 1.0:
        raise ValueError(f"vacancy_fraction must be in [0, 1), got {vacancy_fraction}")
    if shape == "rod" and aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    rng = np.random.default_rng(seed)
    rot = orientation_matrix(orientation, seed=rng)

    half = 5.0 * size  # Å
    n = int(np.ceil(half / lat.a_A)) + 1
    if (2 * n + 1) ** 3 * len(lat.basis) > 2e7:
        raise ValueError(f"size_nm={size_nm} is too large to simulate atom by atom: use ≤ 30 nm")
    cells = np.arange(-n, n + 1, dtype=np.float64)
    grid = np.stack(np.meshgrid(cells, cells, cells, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    pts = ((grid + lat.basis[None]) * lat.a_A).reshape(-1, 3)
    if twin:
        normal = np.ones(3) / np.sqrt(3.0)
        h = pts @ normal
        lower = pts[h <= 1e-9]
        mirrored = lower[h[h <= 1e-9] < -1e-9]
        mirrored = mirrored - 2.0 * (mirrored @ normal)[:, None] * normal[None]
        pts = np.concatenate([lower, mirrored])
    pts = pts[_inside(shape, pts, half, float(aspect))]
    if vacancy_fraction > 0 and len(pts):
        keep = rng.random(len(pts)) >= vacancy_fraction
        pts = pts[keep]
    if len(pts) == 0:
        raise ValueError(f"size_nm={size_nm} is smaller than one unit cell: use a larger size")
    lab = pts @ rot.T
    return Nanocrystal(
        positions_A=np.ascontiguousarray(lab[:, ::-1]),
        atomic_numbers=np.full(len(pts), lat.Z, dtype=np.int32),
        lattice=lat,
        orientation=rot,
        shape=shape,
        size_nm=size,
        twin=bool(twin),
        vacancy_fraction=float(vacancy_fraction),
        extra={"aspect": float(aspect)} if shape == "rod" else {},
    )
