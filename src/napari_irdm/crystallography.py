"""Crystallography: lattices (cubic, hexagonal, tetragonal, any CIF), orientations and Bragg reflections.

The ground floor that both :mod:`napari_irdm.simulate` (cutting nanocrystals out of a
lattice) and :mod:`napari_irdm.analysis` (which reflections a reconstruction resolves) build
on; importing it loads NumPy only (SciPy's ``Rotation`` on first use of an orientation).

Frames
------
- **Crystal frame**: Cartesian Å along the cubic axes ``[100], [010], [001]``; for other cells
  ``a ∥ x`` and ``b`` in the ``xy`` plane (:attr:`Lattice.direct_matrix`).
- **Lab frame** ``(x, y, z)``: right-handed; ``x`` the detector axis ``u`` at 0° tilt, ``y`` the
  tilt axis, ``z`` the beam at 0° tilt. An orientation is a proper rotation ``R`` (3×3,
  ``det R = +1``) with ``r_lab = R @ r_crystal``; ``R = I`` puts ``[100] ∥ x``, ``[001] ∥ z``.
- **Volume frame** (DESIGN): the same axes in array order ``(z, y, x)``. Reciprocal vectors
  ``g`` are given as ``(kz, ky, kx)`` in 1/Å, so ``g = (R @ B @ (h, k, l))[::-1]`` (cubic: ``B = I / a``).

Reflections are listed per **Friedel pair** by default (``g`` and ``−g`` are one spot in the
power spectrum of a real volume): e.g. {111} has 4 spots, {220} 6, {440} 6.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from napari_irdm.errors import ParameterError

__all__ = [
    "COMPOUNDS",
    "ELEMENTS",
    "HCP_ELEMENTS",
    "STRUCTURES",
    "Lattice",
    "Reflection",
    "allowed_hkl",
    "expected_reflections",
    "element_symbol",
    "family_label",
    "get_lattice",
    "reflection_families",
    "symmetry_classes",
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
    "Al": ("fcc", 4.0495, 13),
    "Ir": ("fcc", 3.839, 77),
    "Rh": ("fcc", 3.803, 45),
    "Fe": ("bcc", 2.8665, 26),
    "W": ("bcc", 3.165, 74),
    "Mo": ("bcc", 3.147, 42),
    "Cr": ("bcc", 2.91, 24),
    "Po": ("sc", 3.359, 84),
    "Si": ("diamond", 5.431, 14),
    "Ge": ("diamond", 5.658, 32),
    "C": ("diamond", 3.567, 6),
}

#: hexagonal close-packed elements → (a, c in Å, Z)
HCP_ELEMENTS: dict[str, tuple[float, float, int]] = {
    "Co": (2.507, 4.070, 27),
    "Ru": (2.706, 4.282, 44),
    "Ti": (2.951, 4.686, 22),
    "Zn": (2.665, 4.947, 30),
    "Mg": (3.209, 5.211, 12),
    "Os": (2.734, 4.317, 76),
    "Re": (2.761, 4.456, 75),
    "Zr": (3.232, 5.147, 40),
}

#: compounds → (structure, a, c or None, atomic numbers of the structure's species, internal parameter u)
COMPOUNDS: dict[str, tuple[str, float, float | None, tuple[int, ...], float | None]] = {
    "CeO2": ("fluorite", 5.411, None, (58, 8), None),
    "ZrO2": ("fluorite", 5.07, None, (40, 8), None),
    "MgO": ("rocksalt", 4.212, None, (12, 8), None),
    "NiO": ("rocksalt", 4.177, None, (28, 8), None),
    "PbS": ("rocksalt", 5.936, None, (82, 16), None),
    "GaAs": ("zincblende", 5.653, None, (31, 33), None),
    "ZnS": ("zincblende", 5.409, None, (30, 16), None),
    "CdTe": ("zincblende", 6.481, None, (48, 52), None),
    "SrTiO3": ("perovskite", 3.905, None, (38, 22, 8), None),
    "BaTiO3": ("perovskite", 4.00, None, (56, 22, 8), None),
    "TiO2": ("rutile", 4.594, 2.959, (22, 8), 0.3053),
    "SnO2": ("rutile", 4.737, 3.186, (50, 8), 0.307),
    "ZnO": ("wurtzite", 3.250, 5.207, (30, 8), 0.382),
    "CdSe": ("wurtzite", 4.30, 7.01, (48, 34), 0.376),
    "GaN": ("wurtzite", 3.189, 5.185, (31, 7), 0.377),
}

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr"
).split()


def element_symbol(z: int) -> str:
    """Chemical symbol of atomic number ``z`` (``"Z120"`` beyond the table)."""
    z = int(z)
    return _SYMBOLS[z - 1] if 1 <= z <= len(_SYMBOLS) else f"Z{z}"


#: common names accepted for elements and compounds (CLI ``simulate gold``)
_ALIASES = {"gold": "Au", "platinum": "Pt", "palladium": "Pd", "silver": "Ag", "copper": "Cu",
            "nickel": "Ni", "iron": "Fe", "tungsten": "W", "molybdenum": "Mo", "polonium": "Po",
            "aluminium": "Al", "aluminum": "Al", "iridium": "Ir", "rhodium": "Rh", "chromium": "Cr",
            "silicon": "Si", "germanium": "Ge", "diamond": "C", "cobalt": "Co", "ruthenium": "Ru",
            "titanium": "Ti", "zinc": "Zn", "magnesium": "Mg", "osmium": "Os", "rhenium": "Re",
            "zirconium": "Zr", "ceria": "CeO2", "zirconia": "ZrO2", "titania": "TiO2", "rutile": "TiO2"}

_SQ = ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))  # fcc translations


def _plus(pts, t):
    return tuple(tuple((p[i] + t[i]) % 1.0 for i in range(3)) for p in pts)


def _template(structure: str, u: float | None) -> tuple[tuple[tuple[float, float, float], int], ...]:
    """Fractional sites of a structure as ``((x, y, z), species)``; species index the atomic numbers."""
    if structure == "sc":
        return (((0.0, 0.0, 0.0), 0),)
    if structure == "bcc":
        return (((0.0, 0.0, 0.0), 0), ((0.5, 0.5, 0.5), 0))
    if structure == "fcc":
        return tuple((p, 0) for p in _SQ)
    if structure == "diamond":
        return tuple((p, 0) for p in _SQ + _plus(_SQ, (0.25, 0.25, 0.25)))
    if structure == "zincblende":
        return tuple((p, 0) for p in _SQ) + tuple((p, 1) for p in _plus(_SQ, (0.25, 0.25, 0.25)))
    if structure == "rocksalt":
        return tuple((p, 0) for p in _SQ) + tuple((p, 1) for p in _plus(_SQ, (0.5, 0.0, 0.0)))
    if structure == "fluorite":
        return (tuple((p, 0) for p in _SQ) + tuple((p, 1) for p in _plus(_SQ, (0.25, 0.25, 0.25)))
                + tuple((p, 1) for p in _plus(_SQ, (0.75, 0.75, 0.75))))
    if structure == "perovskite":
        return (((0.0, 0.0, 0.0), 0), ((0.5, 0.5, 0.5), 1),
                ((0.5, 0.5, 0.0), 2), ((0.5, 0.0, 0.5), 2), ((0.0, 0.5, 0.5), 2))
    if structure == "hcp":
        return (((1 / 3, 2 / 3, 0.25), 0), ((2 / 3, 1 / 3, 0.75), 0))
    if structure == "wurtzite":
        w = 0.382 if u is None else u
        return (((1 / 3, 2 / 3, 0.0), 0), ((2 / 3, 1 / 3, 0.5), 0),
                ((1 / 3, 2 / 3, w), 1), ((2 / 3, 1 / 3, (0.5 + w) % 1.0), 1))
    if structure == "rutile":
        r = 0.305 if u is None else u
        return (((0.0, 0.0, 0.0), 0), ((0.5, 0.5, 0.5), 0), ((r, r, 0.0), 1), ((1 - r, 1 - r, 0.0), 1),
                ((0.5 + r, 0.5 - r, 0.5), 1), ((0.5 - r, 0.5 + r, 0.5), 1))
    raise KeyError(structure)


#: structures built in, and the crystal system of each
STRUCTURES: dict[str, str] = {
    "sc": "cubic", "bcc": "cubic", "fcc": "cubic", "diamond": "cubic", "zincblende": "cubic",
    "rocksalt": "cubic", "fluorite": "cubic", "perovskite": "cubic",
    "hcp": "hexagonal", "wurtzite": "hexagonal", "rutile": "tetragonal",
}
_N_SPECIES = {"zincblende": 2, "rocksalt": 2, "fluorite": 2, "perovskite": 3, "wurtzite": 2, "rutile": 2}


def _weight(z) -> np.ndarray:
    """HAADF-like scattering weight of an atom, ``∝ Z^1.7`` (the simulator's intensity)."""
    return np.asarray(z, dtype=np.float64) ** 1.7


@dataclass(frozen=True)
class Lattice:
    """A crystal structure: a unit cell and the atoms in it.

    Cubic metals (``Lattice("fcc", 4.078, "Au", 79)``) need only the first fields; other
    cells give ``b_A``, ``c_A`` and the cell angles, and multi-element structures their
    ``sites``. The Cartesian crystal frame has ``a ∥ x`` and ``b`` in the ``xy`` plane (for a
    cubic cell: the cubic axes ``[100], [010], [001]``).

    Attributes
    ----------
    structure : str
        ``"fcc"``, ``"bcc"``, ``"sc"``, ``"diamond"``, ``"hcp"``, ``"rutile"``, ... (:data:`STRUCTURES`),
        or ``"cif"`` for a structure read from a CIF file.
    a_A : float
        Lattice constant ``a`` in Å.
    element : str or None
        Chemical symbol or formula (``None`` for a bare lattice).
    Z : int
        Atomic number of a one-element structure (79 when unknown); intensity ``∝ Z^1.7``.
    b_A, c_A : float, optional
        Cell edges in Å (default ``a``).
    angles_deg : (α, β, γ), optional
        Cell angles in degrees (default 90°, 90°, 90°; hexagonal structures 90°, 90°, 120°).
    sites : tuple of (x, y, z, Z, occupancy), optional
        Fractional positions of the atoms in the cell (default: the structure's template with ``Z``).
    """

    structure: str
    a_A: float
    element: str | None = None
    Z: int = 79
    b_A: float | None = None
    c_A: float | None = None
    angles_deg: tuple[float, float, float] | None = None
    sites: tuple[tuple[float, float, float, int, float], ...] | None = None

    def __post_init__(self):
        if self.angles_deg is None:
            hexagonal = STRUCTURES.get(self.structure) == "hexagonal"
            object.__setattr__(self, "angles_deg", (90.0, 90.0, 120.0 if hexagonal else 90.0))
        if self.sites is None:
            if self.structure not in STRUCTURES:
                raise ValueError(f"structure {self.structure!r} is not built in: give its `sites` "
                                 f"(or one of {', '.join(STRUCTURES)})")
            tpl = _template(self.structure, None)
            object.__setattr__(self, "sites", tuple((*p, int(self.Z), 1.0) for p, _sp in tpl))

    # ---- the cell
    @property
    def cell(self) -> tuple[float, float, float, float, float, float]:
        """``(a, b, c, α, β, γ)`` in Å and degrees."""
        a = float(self.a_A)
        al, be, ga = self.angles_deg  # type: ignore[misc]
        return (a, float(self.b_A or a), float(self.c_A or a), float(al), float(be), float(ga))

    @property
    def is_cubic(self) -> bool:
        """``True`` for a cubic cell (``a = b = c``, all angles 90°)."""
        a, b, c, al, be, ga = self.cell
        return bool(np.allclose([b, c], a, rtol=1e-9) and np.allclose([al, be, ga], 90.0, atol=1e-9))

    @property
    def direct_matrix(self) -> np.ndarray:
        """Columns are the cell vectors ``a, b, c`` in the Cartesian crystal frame (Å)."""
        a, b, c, al, be, ga = self.cell
        al, be, ga = np.deg2rad([al, be, ga])
        cx = c * np.cos(be)
        cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
        cz = np.sqrt(max(c * c - cx * cx - cy * cy, 0.0))
        m = np.array([[a, b * np.cos(ga), cx], [0.0, b * np.sin(ga), cy], [0.0, 0.0, cz]])
        return np.where(np.abs(m) < 1e-12 * max(a, b, c), 0.0, m)

    @property
    def reciprocal_matrix(self) -> np.ndarray:
        """Columns ``a*, b*, c*`` (1/Å, no 2π): ``g = B @ (h, k, l)`` in the Cartesian crystal frame."""
        return np.linalg.inv(self.direct_matrix).T

    @property
    def basis(self) -> np.ndarray:
        """Fractional positions of the atoms in the cell, shape (n_sites, 3)."""
        return np.asarray([s[:3] for s in self.sites], dtype=np.float64)  # type: ignore[union-attr]

    @property
    def site_numbers(self) -> np.ndarray:
        """Atomic number of each site, shape (n_sites,)."""
        return np.asarray([s[3] for s in self.sites], dtype=np.int32)  # type: ignore[union-attr]

    @property
    def site_occupancy(self) -> np.ndarray:
        """Occupancy of each site (1 unless a CIF says otherwise)."""
        return np.asarray([s[4] for s in self.sites], dtype=np.float64)  # type: ignore[union-attr]

    @property
    def label(self) -> str:
        """The element or formula, else the structure."""
        return self.element or self.structure

    def scaled(self, factor: float) -> Lattice:
        """The same structure with every cell edge multiplied by ``factor``."""
        f = float(factor)
        return replace(self, a_A=self.a_A * f, b_A=None if self.b_A is None else self.b_A * f,
                       c_A=None if self.c_A is None else self.c_A * f)

    # ---- reflections
    def g_vectors(self, hkl) -> np.ndarray:
        """Reciprocal vectors of ``hkl`` (shape (..., 3)) in the Cartesian crystal frame, 1/Å."""
        return np.asarray(hkl, dtype=np.float64) @ self.reciprocal_matrix.T

    def structure_factor(self, hkl) -> np.ndarray:
        """Structure factor ``Σ_j f_j exp(2πi h·x_j)`` of ``hkl`` (shape (..., 3)), ``f_j ∝ occ_j Z_j^1.7``.

        Normalised so that every atom of a one-element structure counts 1 (fcc (111): 4); complex.
        """
        h = np.asarray(hkl, dtype=np.float64)
        f = self.site_occupancy * _weight(self.site_numbers)
        f = f / f.max()
        phase = 2.0 * np.pi * h @ self.basis.T
        return (f * np.exp(1j * phase)).sum(axis=-1)

    def allowed(self, hkl) -> np.ndarray:
        """``True`` where the reflection is not extinct (fcc: h, k, l all even or all odd; bcc: h+k+l even; ...)."""
        return np.abs(self.structure_factor(hkl)) > 1e-6

    def d_spacing(self, hkl) -> np.ndarray:
        """Interplanar spacing ``1 / |g|`` in Å (cubic: ``a / √(h²+k²+l²)``)."""
        return 1.0 / np.linalg.norm(self.g_vectors(hkl), axis=-1)

    # ---- symmetry
    def rotations(self) -> np.ndarray:
        """Proper rotations of the structure, as integer matrices acting on fractional coordinates.

        Every ``M`` with entries in {-1, 0, 1}, ``det M = 1``, that keeps the cell's metric and
        maps the atoms onto atoms of the same kind after some translation (screw axes included).
        Shape (n, 3, 3); 24 for the cubic metals, 12 for hcp.
        """
        return _rotations(self)

    # ---- I/O
    def to_dict(self) -> dict:
        """JSON-ready description; :meth:`from_dict` reads it back."""
        d = {"structure": self.structure, "a_A": self.a_A, "element": self.element, "Z": self.Z}
        if not self.is_cubic:
            d["cell"] = list(self.cell)
        if self.structure not in STRUCTURES or self.sites != Lattice(self.structure, self.a_A, Z=self.Z).sites:
            d["sites"] = [list(s) for s in self.sites]  # type: ignore[union-attr]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Lattice:
        """The lattice :meth:`to_dict` wrote (``KeyError`` / ``TypeError`` when a key is missing or wrong)."""
        kw: dict = {}
        if "cell" in d:
            a, b, c, al, be, ga = (float(v) for v in d["cell"])
            kw = {"b_A": b, "c_A": c, "angles_deg": (al, be, ga)}
        if "sites" in d:
            kw["sites"] = tuple((float(s[0]), float(s[1]), float(s[2]), int(s[3]), float(s[4])) for s in d["sites"])
        return cls(d["structure"], float(d["a_A"]), d.get("element"), int(d.get("Z", 79)), **kw)


def _same_sites(lat: Lattice, m: np.ndarray) -> bool:
    """Whether ``x → M x + t`` maps the atoms onto atoms of the same kind for some ``t``."""
    x = lat.basis
    kind = np.stack([lat.site_numbers.astype(float), lat.site_occupancy], axis=1)
    mx = x @ m.T
    for k in np.flatnonzero(np.all(np.isclose(kind, kind[0]), axis=1)):
        t = x[k] - mx[0]
        moved = (mx + t) % 1.0
        d = moved[:, None, :] - x[None, :, :]
        d -= np.round(d)
        close = np.all(np.abs(d) < 1e-4, axis=2) & np.all(np.isclose(kind[:, None, :], kind[None, :, :]), axis=2)
        if np.all(close.any(axis=1)):
            return True
    return False


_ROT_CACHE: dict = {}


def _rotations(lat: Lattice) -> np.ndarray:
    key = (np.round(lat.cell, 6).tobytes(), np.round(np.asarray(lat.sites, dtype=float), 6).tobytes())
    if key in _ROT_CACHE:
        return _ROT_CACHE[key]
    a = lat.direct_matrix
    g = a.T @ a
    vals = np.array([-1, 0, 1])
    cand = np.stack(np.meshgrid(*([vals] * 9), indexing="ij"), axis=-1).reshape(-1, 3, 3).astype(np.float64)
    cand = cand[np.isclose(np.linalg.det(cand), 1.0)]
    keep = np.all(np.isclose(np.einsum("nji,jk,nkl->nil", cand, g, cand), g[None], rtol=1e-6, atol=1e-6 * g.max()),
                  axis=(1, 2))
    ops = [m for m in cand[keep] if _same_sites(lat, m)]
    out = np.asarray(ops, dtype=np.float64).reshape(-1, 3, 3)
    _ROT_CACHE[key] = out
    return out


def _lattice_from_cif(path: str, element: str | None = None) -> Lattice:
    """A :class:`Lattice` from a CIF file (cell and every atom of the unit cell), read with gemmi."""
    try:
        import gemmi
    except ImportError as exc:  # pragma: no cover - gemmi is in the `formats` extra
        raise ParameterError("reading a CIF needs gemmi: pip install gemmi", "lattice") from exc
    try:
        st = gemmi.read_small_structure(str(path))
    except (RuntimeError, ValueError) as exc:
        raise ParameterError(f"cannot read crystal structure {path!r} ({exc}): give a CIF with a cell and atom sites",
                             "lattice") from exc
    sites = st.get_all_unit_cell_sites()
    if not len(sites):
        raise ParameterError(f"CIF {path!r} lists no atom sites: give one with _atom_site_fract_x/y/z", "lattice")
    c = st.cell
    entries = tuple((float(s.fract.x) % 1.0, float(s.fract.y) % 1.0, float(s.fract.z) % 1.0,
                     int(s.element.atomic_number), float(s.occ)) for s in sites)
    z = max(e[3] for e in entries)
    name = element or (st.name if st.name else None)
    return Lattice("cif", float(c.a), name, int(z), b_A=float(c.b), c_A=float(c.c),
                   angles_deg=(float(c.alpha), float(c.beta), float(c.gamma)), sites=entries)


def _from_structure(structure: str, a_A: float, c_A, zs: tuple[int, ...], u, element) -> Lattice:
    tpl = _template(structure, u)
    sites = tuple((*p, int(zs[sp]), 1.0) for p, sp in tpl)
    c = None if c_A is None else _check_a(c_A)
    return Lattice(structure, _check_a(a_A), element, int(max(zs)), c_A=c, sites=sites)


def get_lattice(name="fcc", a_A: float | None = None, c_A: float | None = None) -> Lattice:
    """A :class:`Lattice` from a structure, an element, a compound or a CIF file.

    Parameters
    ----------
    name : str, path or Lattice
        Structure (``"fcc"``, ``"bcc"``, ``"sc"``, ``"diamond"``, ``"hcp"``; needs ``a_A``, hcp
        also ``c_A``), element (``"Au"``, ``"gold"``, ``"Co"``, ``"Si"``), compound (``"CeO2"``,
        ``"TiO2"``, ``"ZnO"``, ...) or a ``.cif`` file; a Lattice is returned as is. Case-insensitive.
    a_A : float, optional
        Lattice constant ``a`` in Å; required for a bare structure. For a preset or a CIF it
        rescales the whole cell (``c / a`` kept) unless ``c_A`` is given too.
    c_A : float, optional
        Lattice constant ``c`` in Å of a hexagonal or tetragonal cell.

    Raises
    ------
    ValueError
        Unknown name, or a bare structure without ``a_A``.
    """
    if isinstance(name, Lattice) or (hasattr(name, "__fspath__") or str(name).strip().lower().endswith(".cif")):
        lat = name if isinstance(name, Lattice) else _lattice_from_cif(str(name))
        return _override(lat, a_A, c_A)
    key = str(name).strip()
    low = key.lower()
    if low in STRUCTURES:
        if a_A is None:
            raise ParameterError(f"lattice {key!r} needs a lattice constant: give `a_A` in Å, e.g. 4.078 for Au", "a_A")
        if STRUCTURES[low] != "cubic" and c_A is None:
            raise ParameterError(f"lattice {key!r} needs both lattice constants: give `a_A` and `c_A` in Å "
                                 "(e.g. 2.507 and 4.070 for hcp Co)", "a_A", "c_A")
        zs = (79,) * _N_SPECIES.get(low, 1)
        if low in _N_SPECIES:
            raise ParameterError(f"structure {key!r} has more than one element: name a compound (e.g. CeO2, TiO2, "
                                 "ZnO) or give a CIF file", "lattice")
        return _from_structure(low, a_A, c_A, zs, None, None)
    symbol = _ALIASES.get(low) or next((s for s in (*ELEMENTS, *HCP_ELEMENTS, *COMPOUNDS) if s.lower() == low), None)
    if symbol is None:
        known = ", ".join(list(STRUCTURES) + list(ELEMENTS) + list(HCP_ELEMENTS) + list(COMPOUNDS))
        raise ParameterError(f"unknown lattice {key!r}: use one of {known}, a .cif file (or fcc/bcc/sc with `a_A`)",
                             "a_A")
    if symbol in ELEMENTS:
        structure, a0, z = ELEMENTS[symbol]
        return _override(_from_structure(structure, a0, None, (z,), None, symbol), a_A, c_A)
    if symbol in HCP_ELEMENTS:
        ah, ch, zh = HCP_ELEMENTS[symbol]
        return _override(_from_structure("hcp", ah, ch, (zh,), None, symbol), a_A, c_A)
    sc, ac, cc, zs, u = COMPOUNDS[symbol]
    return _override(_from_structure(sc, ac, cc, zs, u, symbol), a_A, c_A)


def _override(lat: Lattice, a_A, c_A) -> Lattice:
    """``lat`` with ``a`` (and ``c``) replaced: ``a`` alone rescales the whole cell."""
    if a_A is None and c_A is None:
        return lat
    if a_A is not None:
        lat = lat.scaled(_check_a(a_A) / lat.a_A)
    if c_A is not None:
        if lat.is_cubic and a_A is None:
            raise ParameterError(f"`c_A` is for hexagonal and tetragonal cells; {lat.label} is cubic: give `a_A` alone",
                             "c_A", "a_A")
        lat = replace(lat, c_A=_check_a(c_A))
    return lat


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


def _zone_rotation(zone: np.ndarray, lattice: Lattice | None = None) -> np.ndarray:
    """Rotation putting crystal direction ``zone`` (``[uvw]`` of the cell) along the tilt axis ``y``.

    The beam ``z`` gets the lowest-index crystal direction perpendicular to the zone (ties:
    the first found), so e.g. ``[110]`` gives ``[001] ∥ z`` and ``[1-10] ∥ x``.
    """
    amat = np.eye(3) if lattice is None else lattice.direct_matrix
    zc = amat @ zone
    y = zc / np.linalg.norm(zc)
    best = None
    rng = (0, 1, -1, 2, -2, 3, -3)
    for n2 in range(1, 28):
        for h in rng:
            for k in rng:
                for l in rng:  # noqa: E741
                    c = np.array([h, k, l], dtype=float)
                    cc = amat @ c
                    if h * h + k * k + l * l != n2 or abs(cc @ y) > 1e-9 * np.linalg.norm(cc):
                        continue
                    best = cc
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


def orientation_matrix(orientation=None, *, seed=None, lattice: Lattice | None = None) -> np.ndarray:
    """Rotation ``R`` (lab ``(x, y, z)`` from crystal) for an orientation specification.

    Parameters
    ----------
    orientation : None, "random", "identity", "zone:[hkl]", (φ, θ, ψ) degrees or (3, 3) array
        ``None`` / ``"random"``: uniformly random rotation from ``seed``.
        ``"zone:[hkl]"``: crystal direction ``[hkl]`` along the tilt axis ``y``.
        Three numbers: intrinsic ZYZ Euler angles in degrees (as RELION).
        A 3×3 array: ``R`` itself (must be a proper rotation).
    seed : int or numpy Generator, optional
    lattice : Lattice, optional
        The cell in which a zone ``[uvw]`` is given (default: cubic axes).

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
            return _zone_rotation(_parse_hkl(text.split(":", 1)[-1] if ":" in text else text[4:]), lattice)
        if text.startswith("["):
            return _zone_rotation(_parse_hkl(text), lattice)
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


def reciprocal_vectors(hkl, a_A, rotation=None) -> np.ndarray:
    """Reciprocal-lattice vectors of ``hkl`` (shape (..., 3)) as ``(kz, ky, kx)`` in 1/Å.

    Parameters
    ----------
    hkl : array_like, shape (..., 3)
        Miller indices.
    a_A : float or Lattice
        Cubic lattice constant (Å), or the lattice (any cell).
    rotation : (3, 3) array, optional
        Orientation ``R`` (lab from crystal); ``None`` = identity.

    Returns
    -------
    ndarray, shape (..., 3)
        ``R @ B @ hkl`` (cubic: ``R @ hkl / a``) in the volume frame's order ``(kz, ky, kx)``.
    """
    if isinstance(a_A, Lattice):
        g_crys = a_A.g_vectors(hkl)
    else:
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
        Label of all reflections sharing ``|g|`` (e.g. ``"111"``, ``"511/333"``, hcp ``"101"``).
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


def _text(h) -> str:
    v = [int(i) for i in h]
    return "".join(str(i) for i in v) if all(-10 < i < 10 for i in v) else " ".join(str(i) for i in v)


def _class_rep(orbit: np.ndarray) -> tuple[int, ...]:
    """Representative of a symmetry class: the largest member with no negative index, else the largest."""
    members = sorted((tuple(int(v) for v in h) for h in orbit), reverse=True)
    nonneg = [m for m in members if min(m) >= 0]
    return (nonneg or members)[0]


def symmetry_classes(lat: Lattice, hkl: np.ndarray) -> np.ndarray:
    """Index of the symmetry class (Laue group: the structure's rotations and ±) of every row of ``hkl``."""
    ops = lat.rotations()
    # reciprocal action of x → M x: h → M^{-T} h; with Friedel's ±
    inv_t = np.rint(np.linalg.inv(ops).transpose(0, 2, 1)).astype(np.int64)
    images = np.concatenate([np.einsum("nij,mj->mni", inv_t, hkl), -np.einsum("nij,mj->mni", inv_t, hkl)], axis=1)
    index = {tuple(int(v) for v in h): i for i, h in enumerate(hkl)}
    cls = np.full(len(hkl), -1, dtype=np.int64)
    n = 0
    for i in range(len(hkl)):
        if cls[i] >= 0:
            continue
        for h in images[i]:
            j = index.get(tuple(int(v) for v in h))
            if j is not None:
                cls[j] = n
        cls[i] = n
        n += 1
    return cls


def _hkl_within(lat: Lattice, g_max: float) -> np.ndarray:
    """Every ``hkl ≠ 0`` (allowed or not) with ``|g| ≤ g_max``, shape (n, 3) int."""
    lim = [int(np.floor(g_max * np.linalg.norm(col) + 1e-9)) for col in lat.direct_matrix.T]
    axes = [np.arange(-m, m + 1) for m in lim]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    g = np.linalg.norm(lat.g_vectors(hkl), axis=1)
    return hkl[(g > 0) & (g <= g_max * (1 + 1e-9))]


def reflection_families(lat: Lattice, hkl) -> list[str]:
    """Family label of every row of ``hkl`` (allowed reflections of ``lat``).

    A family is every allowed reflection with the same ``|g|``; its label lists the symmetry
    classes in it, largest first (cubic ``"511/333"``; hcp ``"100"``, ``"002"``, ``"101"``).
    """
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    if not len(hkl):
        return []
    g_max = float(np.linalg.norm(lat.g_vectors(hkl), axis=1).max())
    every = _hkl_within(lat, g_max)
    every = every[lat.allowed(every)]
    cls = symmetry_classes(lat, every)
    key = np.round(np.linalg.norm(lat.g_vectors(every), axis=1) ** 2 * lat.a_A**2, 6)
    reps: dict[float, set] = {}
    for c in np.unique(cls):
        rep = _class_rep(every[cls == c])
        reps.setdefault(float(key[cls == c][0]), set()).add(rep)
    labels = {k: "/".join(_text(r) for r in sorted(v, reverse=True)) for k, v in reps.items()}
    mine = np.round(np.linalg.norm(lat.g_vectors(hkl), axis=1) ** 2 * lat.a_A**2, 6)
    return [labels.get(float(k), "") for k in mine]


def family_label(lattice, n2: int) -> str:
    """Label of the reflections of a cubic ``lattice`` with ``h²+k²+l² = n2`` (``"511/333"``; ``""``: extinct)."""
    lat = get_lattice(lattice, 1.0) if not isinstance(lattice, Lattice) else lattice
    if not lat.is_cubic:
        raise ParameterError(f"`n2 = h²+k²+l²` labels cubic families only; {lat.label} is not cubic", "lattice")
    m = int(np.floor(np.sqrt(n2)))
    cand = [(h, k, l) for h in range(m, -1, -1) for k in range(h, -1, -1) for l in range(k, -1, -1)  # noqa: E741
            if h * h + k * k + l * l == n2 and lat.allowed([h, k, l])]
    return reflection_families(lat, cand[:1])[0] if cand else ""


def allowed_hkl(lat: Lattice, n2_max: float | None = None, *, g_max: float | None = None) -> np.ndarray:
    """Every non-extinct ``hkl`` (both signs) out to ``|g| ≤ g_max`` (1/Å), shape (n, 3) int.

    ``n2_max`` is the cubic form: ``(a |g|)² ≤ n2_max`` (``0 < h²+k²+l² ≤ n2_max`` for a cubic cell).
    """
    if g_max is None:
        if n2_max is None:
            raise TypeError("allowed_hkl needs `n2_max` or `g_max`")
        g_max = float(np.sqrt(max(n2_max, 0.0))) / lat.a_A
    hkl = _hkl_within(lat, float(g_max))
    return hkl[lat.allowed(hkl)]


def expected_reflections(lattice="fcc", a_A: float | None = None, *, d_min_A: float, orientation=None,
                         friedel_pairs: bool = True) -> list[Reflection]:
    """Reflections of a crystal down to ``d_min_A``, with extinctions.

    Parameters
    ----------
    lattice : str or Lattice
        ``"fcc"``, ``"bcc"``, ``"sc"`` (with ``a_A``), an element (``"Au"``, ``"Co"``), a compound
        (``"CeO2"``) or a Lattice.
    a_A : float, optional
        Lattice constant (Å).
    d_min_A : float
        Smallest d-spacing to list (Å).
    orientation : None, 3×3 rotation, "zone:[hkl]" or Euler angles
        ``None`` = identity (cubic: ``[100] ∥ x``, ``[010] ∥ y``, ``[001] ∥ z``).
    friedel_pairs : bool
        List one member of each ``±g`` pair (the one whose first non-zero index is positive).

    Returns
    -------
    list of Reflection
        Sorted by decreasing d, then hkl.

    Notes
    -----
    Extinctions from the structure factor of the cell's atoms (fcc allows h, k, l all even or
    all odd; bcc h+k+l even; hcp not 00l with l odd; diamond not h+k+l = 4n+2). ``d = 1/|g|``.
    """
    lat = get_lattice(lattice, a_A)
    d_min = float(d_min_A)
    if not np.isfinite(d_min) or d_min <= 0:
        raise ParameterError(f"`d_min_A` must be a positive spacing in Å, got {d_min_A}", "d_min_A")
    rot = np.eye(3) if orientation is None else orientation_matrix(orientation, lattice=lat)
    hkl = allowed_hkl(lat, g_max=1.0 / d_min)
    if friedel_pairs and len(hkl):
        first = np.where(hkl[:, 0] != 0, hkl[:, 0], np.where(hkl[:, 1] != 0, hkl[:, 1], hkl[:, 2]))
        hkl = hkl[first > 0]
    if not len(hkl):
        return []
    gc = lat.g_vectors(hkl)
    g2 = np.round((gc**2).sum(axis=1) * lat.a_A**2, 6)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], g2))
    labels = reflection_families(lat, hkl)
    out = []
    for i in order:
        g = (rot @ gc[i])[::-1]
        h, k, l = (int(v) for v in hkl[i])  # noqa: E741
        out.append(Reflection((h, k, l), labels[i], float(1.0 / np.linalg.norm(gc[i])),
                              (float(g[0]), float(g[1]), float(g[2]))))
    return out
