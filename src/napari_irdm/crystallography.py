"""Crystallography of cubic lattices: lattices, orientations and Bragg reflections (NumPy only).

The ground floor that both :mod:`napari_irdm.simulate` (cutting nanocrystals out of a
lattice) and :mod:`napari_irdm.analysis` (which reflections a reconstruction resolves) build
on; importing it loads NumPy only (SciPy's ``Rotation`` on first use of an orientation).

Frames
------
- **Crystal frame**: Cartesian Å along the cubic axes ``[100], [010], [001]``.
- **Lab frame** ``(x, y, z)``: right-handed; ``x`` the detector axis ``u`` at 0° tilt, ``y`` the
  tilt axis, ``z`` the beam at 0° tilt. An orientation is a proper rotation ``R`` (3×3,
  ``det R = +1``) with ``r_lab = R @ r_crystal``; ``R = I`` puts ``[100] ∥ x``, ``[001] ∥ z``.
- **Volume frame** (DESIGN): the same axes in array order ``(z, y, x)``. Reciprocal vectors
  ``g`` are given as ``(kz, ky, kx)`` in 1/Å, so ``g = (R @ (h, k, l) / a)[::-1]``.

Reflections are listed per **Friedel pair** by default (``g`` and ``−g`` are one spot in the
power spectrum of a real volume): e.g. {111} has 4 spots, {220} 6, {440} 6.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "ELEMENTS",
    "Lattice",
    "Reflection",
    "allowed_hkl",
    "expected_reflections",
    "family_label",
    "get_lattice",
    "orientation_matrix",
    "reciprocal_vectors",
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
        """JSON-ready ``{"structure", "a_A", "element", "Z"}``; :meth:`from_dict` reads it back."""
        return {"structure": self.structure, "a_A": self.a_A, "element": self.element, "Z": self.Z}

    @classmethod
    def from_dict(cls, d: dict) -> Lattice:
        """The lattice :meth:`to_dict` wrote (``KeyError`` / ``TypeError`` when a key is missing or wrong)."""
        return cls(d["structure"], float(d["a_A"]), d.get("element"), int(d.get("Z", 79)))


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
            raise ParameterError(f"lattice {key!r} needs a lattice constant: give `a_A` in Å, e.g. 4.078 for Au", "a_A")
        return Lattice(low, _check_a(a_A), None, 79)
    symbol = _ALIASES.get(low) or next((s for s in ELEMENTS if s.lower() == low), None)
    if symbol is None:
        known = ", ".join(list(_BASES) + list(ELEMENTS))
        raise ParameterError(f"unknown lattice {key!r}: use one of {known} (or fcc/bcc/sc with `a_A`)", "a_A")
    structure, a0, z = ELEMENTS[symbol]
    return Lattice(structure, _check_a(a0 if a_A is None else a_A), symbol, z)


def _check_a(a_A) -> float:
    a = float(a_A)
    if not np.isfinite(a) or a <= 0:
        raise ParameterError(f"lattice constant `a_A` must be a positive number of Å, got {a_A}", "a_A")
    if not 0.5 <= a <= 100:
        raise ParameterError(f"lattice constant `a_A` = {a_A} Å is outside 0.5-100 Å (Au is 4.078): give it in Å", "a_A")
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


def reciprocal_vectors(hkl, a_A: float, rotation=None) -> np.ndarray:
    """Reciprocal-lattice vectors of ``hkl`` (shape (..., 3)) as ``(kz, ky, kx)`` in 1/Å.

    Parameters
    ----------
    hkl : array_like, shape (..., 3)
        Miller indices.
    a_A : float
        Lattice constant (Å).
    rotation : (3, 3) array, optional
        Orientation ``R`` (lab from crystal); ``None`` = identity.

    Returns
    -------
    ndarray, shape (..., 3)
        ``(R @ hkl / a)`` in the volume frame's order ``(kz, ky, kx)``.
    """
    g_crys = np.asarray(hkl, dtype=np.float64) / float(a_A)
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    return (g_crys @ rot.T)[..., ::-1]


# ------------------------------------------------------------------ reflections
@dataclass(frozen=True)
class Reflection:
    """One reflection (one member of a Friedel pair).

    Attributes
    ----------
    hkl : (h, k, l)
    family : str
        Label of all reflections sharing ``h²+k²+l²`` (e.g. ``"111"``, ``"511/333"``).
    d_A : float
        Interplanar spacing (Å).
    g : (kz, ky, kx)
        Reciprocal vector in 1/Å in the volume frame.
    """

    hkl: tuple[int, int, int]
    family: str
    d_A: float
    g: tuple[float, float, float]

    @property
    def g_norm(self) -> float:
        """``|g| = 1 / d`` in 1/Å."""
        return 1.0 / self.d_A


def _class_label(hkl) -> str:
    v = sorted((abs(int(i)) for i in hkl), reverse=True)
    return "".join(str(i) for i in v) if max(v) < 10 else " ".join(str(i) for i in v)


def family_label(lattice, n2: int) -> str:
    """Label of the reflections with ``h²+k²+l² = n2`` allowed by ``lattice`` (``"511/333"``)."""
    lat = get_lattice(lattice, 1.0) if not isinstance(lattice, Lattice) else lattice
    m = int(np.floor(np.sqrt(n2)))
    labels = []
    for h in range(m, -1, -1):
        for k in range(h, -1, -1):
            for l in range(k, -1, -1):  # noqa: E741
                if h * h + k * k + l * l == n2 and lat.allowed([h, k, l]):
                    labels.append(_class_label((h, k, l)))
    return "/".join(labels)


def allowed_hkl(lat: Lattice, n2_max: float) -> np.ndarray:
    """Every non-extinct ``hkl`` (both signs) with ``0 < h²+k²+l² ≤ n2_max``, shape (n, 3) int."""
    m = int(np.floor(np.sqrt(n2_max + 1e-9)))
    r = np.arange(-m, m + 1)
    hkl = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    n2 = (hkl**2).sum(axis=1)
    keep = (n2 > 0) & (n2 <= n2_max + 1e-9)
    hkl = hkl[keep]
    return hkl[lat.allowed(hkl)]


def expected_reflections(lattice="fcc", a_A: float | None = None, *, d_min_A: float, orientation=None,
                         friedel_pairs: bool = True) -> list[Reflection]:
    """Reflections of a cubic lattice down to ``d_min_A``, with extinctions.

    Parameters
    ----------
    lattice : str or Lattice
        ``"fcc"``, ``"bcc"``, ``"sc"`` (with ``a_A``) or an element (``"Au"``).
    a_A : float, optional
        Lattice constant (Å).
    d_min_A : float
        Smallest d-spacing to list (Å).
    orientation : None, 3×3 rotation, "zone:[hkl]" or Euler angles
        ``None`` = identity (``[100] ∥ x``, ``[010] ∥ y``, ``[001] ∥ z``).
    friedel_pairs : bool
        List one member of each ``±g`` pair (the one whose first non-zero index is positive).

    Returns
    -------
    list of Reflection
        Sorted by decreasing d, then hkl.

    Notes
    -----
    Structure-factor extinctions: fcc allows h, k, l all even or all odd; bcc h+k+l even;
    sc everything. ``d = a / √(h²+k²+l²)``.
    """
    lat = get_lattice(lattice, a_A)
    d_min = float(d_min_A)
    if not np.isfinite(d_min) or d_min <= 0:
        raise ParameterError(f"`d_min_A` must be a positive spacing in Å, got {d_min_A}", "d_min_A")
    rot = np.eye(3) if orientation is None else orientation_matrix(orientation)
    hkl = allowed_hkl(lat, (lat.a_A / d_min) ** 2)
    if friedel_pairs and len(hkl):
        first = np.where(hkl[:, 0] != 0, hkl[:, 0], np.where(hkl[:, 1] != 0, hkl[:, 1], hkl[:, 2]))
        hkl = hkl[first > 0]
    n2 = (hkl**2).sum(axis=1)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], n2))
    labels: dict[int, str] = {}
    out = []
    for i in order:
        key = int(n2[i])
        if key not in labels:
            labels[key] = family_label(lat, key)
        g = (rot @ (hkl[i] / lat.a_A))[::-1]
        h, k, l = (int(v) for v in hkl[i])  # noqa: E741
        out.append(Reflection((h, k, l), labels[key], float(lat.a_A / np.sqrt(key)),
                              (float(g[0]), float(g[1]), float(g[2]))))
    return out
