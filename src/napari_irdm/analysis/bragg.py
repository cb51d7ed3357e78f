"""Bragg reflections of cubic lattices, missing-wedge classification and spot measurement.

This module holds the report (:func:`bragg_report`); the reflections themselves (lattices,
extinctions, family labels) are :mod:`napari_irdm.crystallography`, the missing-wedge region is
``_reflections.py`` and the spot measurement ``_spots.py``; their names are re-exported here.

The measuring instrument for atomic electron tomography: which lattice reflections does a
reconstruction really resolve, and which are lost in the missing wedge?

Frames: reciprocal vectors ``g`` are ``(kz, ky, kx)`` in 1/Å (the volume's array order, see
:mod:`napari_irdm.crystallography`); an orientation is the rotation ``R`` with
``r_lab(x, y, z) = R @ r_crystal``, so ``g_lab = R @ (h, k, l) / a``.

Spots are counted per **Friedel pair** (``g`` and ``−g`` are one spot in a power spectrum of a
real volume): e.g. {111} has 4 spots, {220} 6, {440} 6.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import numpy as np

from napari_irdm._json import jsonable
from napari_irdm.analysis._reflections import wedge_region, wedge_regions
from napari_irdm.analysis._spots import FamilyCount, Spot, measure_spots
from napari_irdm.crystallography import (
    Lattice,
    Reflection,
    allowed_hkl,
    expected_reflections,
    family_label,
    get_lattice,
    orientation_matrix,
    reciprocal_vectors,
)
from napari_irdm.errors import ParameterError

__all__ = [
    "BraggReport",
    "FamilyCount",
    "Reflection",
    "Spot",
    "bragg_report",
    "expected_reflections",
    "family_label",
    "measure_spots",
    "wedge_region",
    "wedge_regions",
]


# ------------------------------------------------------------------- the report
@dataclass
class BraggReport:
    """Per-family counts of detected reflections, split by missing-wedge region.

    Attributes
    ----------
    families : list of FamilyCount
        ``expected`` / ``detected`` spot counts (Friedel pairs) per region ``"measured"``, ``"wedge"``.
    spots : list of Spot
        Every tested reflection (known orientation) or detected peak (unknown orientation).
    controls : list of Spot
        Off-lattice positions at the same |g| tested the same way.
    information_limit_A : float or None
        Smallest d of any detected reflection (either region). The missing-wedge story is in
        :meth:`information_limit` per region: a WBP can reach the truth's limit in the measured
        region and find nothing in the wedge.
    false_positive_fraction : float
        Fraction of controls "detected" (should be ≤ ~5 %).
    """

    families: list[FamilyCount]
    spots: list[Spot]
    controls: list[Spot]
    information_limit_A: float | None
    false_positive_fraction: float
    snr_threshold: float
    pixel_size_A: float
    nyquist_inv_A: float
    tilt_range_deg: tuple[float, float] | None
    volume_shape: tuple[int, int, int]
    lattice: dict
    orientation_known: bool
    notes: list[str] = field(default_factory=list)
    #: with no orientation given: the one fitted to the detected peaks (``rotation`` lab from
    #: crystal, ``n_matched`` of ``n_peaks``, ``rms_inv_A``), or ``None``
    orientation_fitted: dict | None = None

    def to_dict(self) -> dict:
        """The report as plain JSON-able types (families, spots, notes)."""
        d = asdict(self)
        d["families"] = [asdict(f) for f in self.families]
        d["information_limit_by_region_A"] = {r: self.information_limit(r) for r in ("measured", "wedge")}
        return jsonable(d, digits=6)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON (key ``information_limit_A``, ``families``, ``spots``, ``controls``, ...)."""
        return json.dumps(self.to_dict(), indent=indent)

    def save_json(self, path) -> None:
        """Write :meth:`to_json` to ``path`` atomically."""
        from napari_irdm.io import atomic_write_text

        atomic_write_text(path, self.to_json())  # temp file + rename; mode per umask (not 0600)

    def information_limit(self, region: str) -> float | None:
        """Smallest d (Å) of a detected reflection in ``region`` (``"measured"`` or ``"wedge"``), or ``None``."""
        ds = [float(sp.d_A) for sp in self.spots if sp.detected and sp.region == region]
        return min(ds) if ds else None

    def counts(self, region: str) -> tuple[int, int]:
        """Total (expected, detected) spots in ``region`` over all families."""
        exp = sum(int(f.expected.get(region) or 0) for f in self.families)
        det = sum(int(f.detected.get(region) or 0) for f in self.families)
        return exp, det

    def table(self) -> str:
        """Plain-text table: one row per family, detected/expected per region."""
        rows = [f"{'family':>9} {'d (Å)':>7} {'|g| (1/Å)':>9}  {'measured':>9}  {'wedge':>9}"]
        for f in self.families:
            cells = []
            for reg in ("measured", "wedge"):
                e, d = f.expected.get(reg), f.detected.get(reg, 0)
                cells.append(f"{d}/{e}" if e is not None else f"{d}/?")
            rows.append(f"{f.family:>9} {f.d_A:7.3f} {1 / f.d_A:9.3f}  {cells[0]:>9}  {cells[1]:>9}")
        em, dm = self.counts("measured")
        ew, dw = self.counts("wedge")
        if self.orientation_known:
            rows.append(f"{'total':>9} {'':>7} {'':>9}  {f'{dm}/{em}':>9}  {f'{dw}/{ew}':>9}")
        else:
            n_all = sum(int(f.expected.get("total") or 0) for f in self.families)
            rows.append(f"{'total':>9} {'':>7} {'':>9}  {f'{dm}/?':>9}  {f'{dw}/?':>9}   (of {n_all} spots in all)")
        def fmt(v):
            return "none" if v is None else f"{v:.3f} Å"

        lim = (f"{fmt(self.information_limit_A)} (measured region {fmt(self.information_limit('measured'))}, "
               f"wedge {fmt(self.information_limit('wedge'))})")
        nctl = len(self.controls)
        nfp = sum(c.detected for c in self.controls)
        rows.append(f"information limit: {lim}; off-lattice controls detected: {nfp}/{nctl} "
                    f"({100 * self.false_positive_fraction:.1f} %); SNR ≥ {self.snr_threshold:g}")
        if self.tilt_range_deg is not None:
            rows.append(f"tilt range {self.tilt_range_deg[0]:g}°..{self.tilt_range_deg[1]:g}°; "
                        f"pixel {self.pixel_size_A:g} Å (Nyquist {self.nyquist_inv_A:.3f} 1/Å)")
        rows.extend(self.notes)
        return "\n".join(rows)


# ------------------------------------------------------------------ the driver
def _resolve_lattice(truth, lattice, a_A, orientation):
    if truth is not None:
        if isinstance(truth, (str, bytes)) or hasattr(truth, "__fspath__"):
            from napari_irdm.simulate.store import load_truth

            truth = load_truth(truth)
        crystal = getattr(truth, "crystal", truth)
        return crystal.lattice, np.asarray(crystal.orientation, dtype=np.float64), truth
    lat = get_lattice(lattice if lattice is not None else "fcc", a_A)
    rot = None if orientation is None else orientation_matrix(orientation, lattice=lat)
    return lat, rot, None


def _check_resolution(lat: Lattice, pixel_size_A: float, d_min_A: float | None) -> float:
    """The d_min to use; ValueError naming the reflections beyond Nyquist if asked for."""
    nyq = 0.5 / pixel_size_A
    d_nyq = 1.0 / nyq
    d_first = float(lat.d_spacing(allowed_hkl(lat, g_max=np.sqrt(27.0) / min(lat.cell[:3]))).max())
    first = expected_reflections(lat, d_min_A=d_first * (1 - 1e-9))[0]
    if first.d_A < d_nyq:
        raise ValueError(
            f"pixel size {pixel_size_A:g} Å is too coarse for any reflection of {lat.element or lat.structure} "
            f"(Nyquist {nyq:.3f} 1/Å, d ≥ {d_nyq:.3f} Å; {first.family} has d = {first.d_A:.3f} Å): use a smaller pixel size"
        )
    if d_min_A is None:
        return d_nyq * (1 + 1e-9)
    d_min = float(d_min_A)
    if d_min < d_nyq * (1 - 1e-9):
        beyond: dict[str, float] = {}
        for r in expected_reflections(lat, d_min_A=d_min):
            if r.d_A < d_nyq:
                beyond.setdefault(r.family, r.d_A)
        listing = ", ".join(f"{k} ({v:.3f} Å)" for k, v in beyond.items())
        raise ParameterError(
            f"pixel size {pixel_size_A:g} Å (Nyquist {nyq:.3f} 1/Å, d = {d_nyq:.3f} Å) cannot hold "
            f"reflections beyond Nyquist: {listing}: use `d_min_A` ≥ {d_nyq:.3f} Å or a smaller pixel size",
            "d_min_A")
    return d_min


def _to_vox(g: np.ndarray, shape, pixel_size_A: float) -> np.ndarray:
    n = np.asarray(shape, dtype=np.float64)
    return (n // 2)[None] + np.atleast_2d(g) * n[None] * pixel_size_A


def _random_controls(rng, radii, regions, angles, lattice_vox, shape, pixel_size_A, min_dist_vox, n_per, margin=0.0):
    """Off-lattice positions: same |g| and region, far from every lattice point, inside the box.

    The distance to the nearest lattice point must be ≥ ``min_dist_vox``; where the reciprocal
    lattice is too dense for that (small boxes), it is relaxed step by step down to half of it.
    """
    from scipy.spatial import cKDTree

    shape_a = np.asarray(shape, dtype=np.float64)
    half = shape_a // 2 - 1
    tree = cKDTree(lattice_vox) if len(lattice_vox) else None
    out_g, out_r, out_i = [], [], []
    if n_per <= 0:
        return np.zeros((0, 3)), out_r, out_i
    for i, (rad, reg) in enumerate(zip(radii, regions)):
        v = rng.normal(size=(512, 3))
        g = v / np.linalg.norm(v, axis=1, keepdims=True) * rad
        pos = _to_vox(g, shape, pixel_size_A)
        ok = np.all(np.abs(pos - shape_a // 2) <= half, axis=1)
        if angles is not None:
            ok &= wedge_regions(g, angles, margin_inv_A=margin) == reg
        dist = tree.query(pos)[0] if tree is not None else np.full(len(pos), np.inf)
        for frac in (1.0, 0.85, 0.7, 0.5):
            sel = np.flatnonzero(ok & (dist >= frac * min_dist_vox))
            if len(sel):
                break
        for j in sel[:n_per]:
            out_g.append(g[j])
            out_r.append(reg)
            out_i.append(i)
    return np.array(out_g).reshape(-1, 3), out_r, out_i


def _auto_shell(vol: np.ndarray, window: str | None) -> tuple[tuple[float, float], float]:
    """Background shell radii from the expected Bragg-peak width (voxels).

    A particle of extent ``D`` voxels along an axis of ``n`` voxels gives spots about ``n / D``
    voxels wide along that axis (a Hann window halves the effective extent of a box-filling
    particle). The shell starts at 1.5 peak widths (at least 3 voxels) and is 3 voxels thick.
    """
    a = np.asarray(vol, dtype=np.float32)
    peak = float(a.max()) if a.size else 0.0
    widths = []
    if peak > 0:
        for ax in range(3):
            prof = a.max(axis=tuple(i for i in range(3) if i != ax))
            idx = np.flatnonzero(prof > 0.2 * peak)
            n = a.shape[ax]
            extent = float(idx[-1] - idx[0] + 1) if idx.size else float(n)
            if window not in (None, "none"):
                extent = min(extent, 0.5 * n)
            widths.append(n / max(extent, 1.0))
    w = max(widths) if widths else 2.0
    r_in = max(3.0, 1.5 * w)
    return (r_in, r_in + 3.0), w


def bragg_report(
    volume,
    pixel_size_A: float | None,
    tilt_angles_deg=None,
    *,
    truth=None,
    lattice="fcc",
    a_A: float | None = None,
    orientation=None,
    snr_threshold: float = 3.0,
    d_min_A: float | None = None,
    window: str = "hann",
    n_controls: int = 2,
    seed: int = 0,
    shell_vox: tuple[float, float] | None = None,
    exclude_radius_vox: float | None = None,
    margin_vox: float = 0.5,
    fit_orientation: bool = True,
) -> BraggReport:
    """Find which lattice reflections a volume resolves, in the measured region and in the wedge.

    Parameters
    ----------
    volume : ndarray (nz, ny, nx) or Volume
        Reconstruction or ground truth (a Volume supplies pixel size and angles when not given).
    pixel_size_A : float
        Voxel size (Å).
    tilt_angles_deg : array_like, optional
        Angles of the series the volume came from (only its range matters); ``None``: every
        spot counts as measured.
    truth : GroundTruth or path, optional
        Simulation ground truth: lattice, lattice constant and orientation are taken from it.
    lattice, a_A : str, float
        Lattice (``"fcc"`` + ``a_A``, or an element such as ``"Au"``) when no truth is given.
    orientation : rotation, "zone:[hkl]", Euler angles or None
        Known crystal orientation; ``None`` (and no truth): peaks are found by peak detection
        and indexed by |g| alone (expected counts per region are then unknown).
    snr_threshold : float
        A spot is detected when its SNR ≥ this.
    d_min_A : float, optional
        Finest d-spacing tested (default: down to Nyquist, d = 2 · pixel size).
    window : str
        Apodisation for the spectrum.
    n_controls : int
        Off-lattice controls per reflection (same |g|, same region).
    seed : int
        Seeds the control positions.
    shell_vox, exclude_radius_vox
        Background shell radii and exclusion radius (voxels), see :func:`measure_spots`.
        Default: from the particle's extent in the volume (the expected spot width), at least
        3–6 voxels; the exclusion radius equals the inner shell radius.
    fit_orientation : bool
        With no orientation (and no truth): fit one to the peaks found by peak detection
        (:mod:`napari_irdm.analysis._orient`) and, when it puts enough of them on the lattice,
        report as for a known orientation (``orientation_fitted`` says so); else, or with
        ``False``, the peaks indexed by |g| alone.
    margin_vox : float
        Reflections closer than this many frequency steps (``1 / (nx · pixel)``) to the measured
        sector count as measured: a Bragg peak is about one step wide, so a spot a fraction of
        a step beyond the θmax line is still mostly measured.

    Returns
    -------
    BraggReport

    Raises
    ------
    ValueError
        Volume not 3-D, pixel size missing, families beyond Nyquist, unknown lattice.
    """
    vol, p, angles = _check_inputs(volume, pixel_size_A, tilt_angles_deg)
    lat, rot, _truth = _resolve_lattice(truth, lattice, a_A, orientation)
    prepare = partial(_prepare, vol, p, angles, d_min_A=d_min_A, window=window, shell_vox=shell_vox,
                      exclude_radius_vox=exclude_radius_vox, margin_vox=margin_vox, snr_threshold=snr_threshold,
                      n_controls=n_controls, seed=seed)
    m = prepare(lat, rot)
    if rot is not None:
        return _report_known(m, rot)
    unknown = _report_unknown(m)
    return _report_fitted(prepare, m, unknown) if fit_orientation else unknown


def _report_fitted(prepare, m: _Measurement, unknown: BraggReport) -> BraggReport:
    """The known-orientation report in the orientation (and lattice scale) fitted to the unknown report's peaks.

    ``prepare(lattice, rotation)`` is :func:`_prepare` with the report's settings (a ``partial``).
    """
    nominal = m.lat
    found = _fit_to_peaks(m, unknown)
    for trial in SCALE_TRIALS:  # no fit: perhaps the pixel size is a few % off, so |g| indexing missed
        if found is not None:
            break
        mt = prepare(nominal.scaled(1.0 / trial), None)
        found = _fit_to_peaks(mt, _report_unknown(mt), SCALE_TRIAL_MIN_FRACTION)
        if found is not None:
            found = replace(found, scale=found.scale * trial)
    if found is None:
        return replace(unknown, notes=unknown.notes + [
            "no orientation put enough of the indexed peaks on the lattice to be fitted"])
    lat, scaled = nominal, ""
    if abs(found.scale - 1.0) > SCALE_REFIT:  # measure again with the lattice constant the peaks show
        lat = nominal.scaled(1.0 / found.scale)
        scaled = (f"; the peaks sit {100 * (found.scale - 1):+.1f} % off the lattice's |g|: counted with a = "
                  f"{lat.a_A:.4g} Å (or the pixel size is {100 * (1 / found.scale - 1):+.1f} % off)")
        m = prepare(lat, found.rotation)
    else:
        d_min = _check_resolution(lat, m.p, prepare.keywords["d_min_A"])
        m = replace(m, refl_all=expected_reflections(lat, d_min_A=d_min, orientation=found.rotation))
    known = _report_known(m, found.rotation)
    note = (f"orientation fitted to the detected peaks: {found.n_matched} of {found.n_peaks} indexed peaks on "
            f"the lattice (rms {found.rms_inv_A:.4f} 1/Å, families {', '.join(found.families)}); expected counts "
            f"follow from it{scaled}")
    return replace(known, notes=known.notes + [note], orientation_fitted={
        "rotation": found.rotation.tolist(), "n_matched": found.n_matched, "n_peaks": found.n_peaks,
        "rms_inv_A": found.rms_inv_A, "scale": found.scale, "a_A": float(lat.a_A)})


#: a fitted orientation whose peaks sit more than this fraction off the lattice's |g| is measured
#: again with the lattice constant they imply (a pixel size miscalibrated by a few % is common)
SCALE_REFIT = 0.005
#: lattice-constant factors tried when no orientation fits at the nominal one (|g| indexing
#: tolerates about 2 %): a pixel size 4 % off then still indexes
SCALE_TRIALS = (0.98, 1.02, 0.96, 1.04, 0.94, 1.06)
#: six more lattices tried are six more chances to fit a wrong one: a trial must explain this
#: fraction of its peaks (the nominal lattice: ``_orient.MIN_MATCHED_FRACTION``)
SCALE_TRIAL_MIN_FRACTION = 0.9


def _fit_to_peaks(m: _Measurement, unknown: BraggReport, min_fraction: float | None = None):
    """:func:`~napari_irdm.analysis._orient.fit_orientation` of the unknown report's indexed peaks."""
    from napari_irdm.analysis._orient import fit_orientation as fit

    fam_g = {f: 1.0 / d for f, d in m.fam_d.items()}
    peaks = sorted((s for s in unknown.spots if s.detected and s.family in fam_g), key=lambda s: -float(s.snr))
    tol, _dk = _index_tolerance(m, np.array([fam_g[s.family] for s in peaks]))
    return fit([np.asarray(s.g_inv_A, float)[::-1] for s in peaks], [s.family for s in peaks], tol, m.lat,
               min_fraction=min_fraction)


def _index_tolerance(m: _Measurement, g_inv_A) -> tuple[np.ndarray, float]:
    """Indexing tolerance (1/Å) at each ``|g|``, max(1.5 frequency steps, 2 % of ``|g|``), and the step.

    A peak this close to a family's ``|g|`` (or to a rotated lattice point) is indexed to it.
    """
    dk = 1.0 / (min(m.shape) * m.p)
    return np.maximum(1.5 * dk, 0.02 * np.asarray(g_inv_A, np.float64)), dk


def _check_inputs(volume, pixel_size_A, tilt_angles_deg) -> tuple[np.ndarray, float, np.ndarray | None]:
    """The volume's array, pixel size and angles (a Volume supplies the last two when not given)."""
    vol = getattr(volume, "data", volume)
    if pixel_size_A is None:
        pixel_size_A = getattr(volume, "pixel_size_A", None)
    if tilt_angles_deg is None:
        tilt_angles_deg = getattr(volume, "tilt_angles_deg", None)
    shape = tuple(np.shape(vol))
    if len(shape) != 3:
        raise ValueError(f"volume must be 3-D (nz, ny, nx), got shape {shape}: pass a reconstructed volume")
    if pixel_size_A is None or not np.isfinite(float(pixel_size_A)) or float(pixel_size_A) <= 0:
        raise ParameterError(f"pixel size is missing or invalid ({pixel_size_A}): give `pixel_size_A` in Å", "pixel_size_A")
    angles = None if tilt_angles_deg is None else np.asarray(tilt_angles_deg, dtype=np.float64).ravel()
    if angles is not None and (angles.size == 0 or not np.all(np.isfinite(angles))):
        raise ParameterError("tilt angles are empty or not finite: give `tilt_angles_deg`, one finite angle per image",
                             "tilt_angles_deg")
    return vol, float(pixel_size_A), angles


@dataclass(frozen=True)
class _Measurement:
    """What both report paths measure with: the spectrum, the lattice, the grid and the thresholds."""

    spec: np.ndarray  # centred log power spectrum
    filt: np.ndarray  # its 3×3×3 maximum filter
    lat: Lattice
    shape: tuple[int, int, int]
    p: float  # voxel size (Å)
    angles: np.ndarray | None
    margin: float  # 1/Å: closer than this to the measured sector counts as measured
    shell_vox: tuple[float, float]
    exclude_radius_vox: float
    snr_threshold: float
    n_controls: int
    rng: np.random.Generator
    refl_all: list[Reflection]
    fam_d: dict[str, float]  # family -> d (Å), in order of decreasing d
    common: dict  # the BraggReport fields both paths share
    notes: list[str]

    def measure(self, positions_vox, exclude_vox):
        """``(snr, found)`` of spots at ``positions_vox``, see :func:`measure_spots`."""
        return measure_spots(self.spec, positions_vox, exclude_vox=exclude_vox, shell_vox=self.shell_vox,
                             exclude_radius_vox=self.exclude_radius_vox, filtered=self.filt)

    def regions(self, g, *, margin: bool = True) -> np.ndarray:
        return wedge_regions(g, self.angles, margin_inv_A=self.margin if margin else 0.0)

    def spot(self, kind: str, **fields) -> Spot:
        return Spot.tested(kind, threshold=self.snr_threshold, **fields)

    def controls(self, radii, regions, avoid_vox, exclude_vox, label) -> list[Spot]:
        """Off-lattice control spots at ``radii`` (1/Å) in ``regions``; ``label(i, g)`` → (family, d)."""
        cg, creg, cidx = _random_controls(self.rng, radii, regions, self.angles, avoid_vox, self.shape, self.p,
                                          2.0 * self.exclude_radius_vox, max(0, int(self.n_controls)), self.margin)
        if not len(cg):
            return []
        cpos = _to_vox(cg, self.shape, self.p)
        csnr, cfound = self.measure(cpos, exclude_vox)
        out = []
        for gg, pv, fv, s, reg, i in zip(cg, cpos, cfound, csnr, creg, cidx):
            family, d = label(i, gg)
            out.append(self.spot("control", family=family, d_A=d, g=gg, position=pv, found=fv, snr=s, region=reg))
        return out


def _prepare(vol, p: float, angles, lat: Lattice, rot, *, d_min_A, window, shell_vox, exclude_radius_vox,
             margin_vox, snr_threshold, n_controls, seed) -> _Measurement:
    """Spectrum, background shell, expected reflections and notes for :func:`bragg_report`."""
    from scipy.ndimage import maximum_filter

    from napari_irdm.analysis.spectrum import power_spectrum_3d

    shape = tuple(np.shape(vol))
    d_min = _check_resolution(lat, p, d_min_A)
    notes = []
    if shell_vox is None:
        shell_vox, width = _auto_shell(vol, window)
        notes.append(f"background shell {shell_vox[0]:.1f}-{shell_vox[1]:.1f} voxels (spot width ~{width:.1f} voxels)")
    shell_vox = (float(shell_vox[0]), float(shell_vox[1]))
    if exclude_radius_vox is None:
        exclude_radius_vox = shell_vox[0]
    spec, _freqs = power_spectrum_3d(vol, p, window=window, log=True)
    tilt_range = None if angles is None else (float(angles.min()), float(angles.max()))
    common = dict(snr_threshold=float(snr_threshold), pixel_size_A=p, nyquist_inv_A=0.5 / p,
                  tilt_range_deg=tilt_range, volume_shape=shape, lattice=lat.to_dict())
    refl_all = expected_reflections(lat, d_min_A=d_min, orientation=rot)
    fam_d: dict[str, float] = {}
    for r in refl_all:
        fam_d.setdefault(r.family, r.d_A)
    spacing = refl_all[0].g_norm * min(shape) * p  # nearest reciprocal-lattice distance (voxels), ≈ |g_first|
    if shell_vox[1] > 0.8 * spacing:
        notes.append(f"spots are nearly as wide as their spacing ({spacing:.1f} voxels): spot counts are "
                     "unreliable for a particle this small (≲ 5 unit cells across; use ≥ 2 nm)")
    return _Measurement(
        spec=spec, filt=maximum_filter(spec, size=3, mode="wrap"), lat=lat, shape=shape, p=p, angles=angles,
        margin=float(margin_vox) / (max(shape) * p), shell_vox=shell_vox, exclude_radius_vox=float(exclude_radius_vox),
        snr_threshold=float(snr_threshold), n_controls=int(n_controls), rng=np.random.default_rng(seed),
        refl_all=refl_all, fam_d=fam_d, common=common, notes=notes)


def _detected_by_region(spots: list[Spot], family: str) -> dict[str, int]:
    return {reg: sum(1 for s in spots if s.family == family and s.region == reg and s.detected)
            for reg in ("measured", "wedge")}


def _false_positive_fraction(controls: list[Spot]) -> float:
    return float(np.mean([c.detected for c in controls])) if controls else 0.0


def _report_known(m: _Measurement, rot: np.ndarray) -> BraggReport:
    """Known orientation: every expected reflection is tested where it must be."""
    lat, refl = m.lat, m.refl_all
    g = np.array([r.g for r in refl])
    pos = _to_vox(g, m.shape, m.p)
    # every lattice point (both signs) that can fall in the box: excluded from background shells
    hkl_all = allowed_hkl(lat, g_max=m.common["nyquist_inv_A"] * np.sqrt(3.0) * 1.05)
    lattice_vox = _to_vox(reciprocal_vectors(hkl_all, lat, rot), m.shape, m.p)
    snr, found = m.measure(pos, lattice_vox)
    regions = list(m.regions(g))
    spots = [m.spot("reflection", hkl=r.hkl, family=r.family, d_A=r.d_A, g=r.g, position=pv, found=fv, snr=s,
                    region=reg)
             for r, pv, fv, s, reg in zip(refl, pos, found, snr, regions)]
    controls = m.controls([r.g_norm for r in refl], regions, lattice_vox, lattice_vox,
                          lambda i, _g: (refl[i].family, refl[i].d_A))
    families = []
    for fam, d in m.fam_d.items():
        exp = {reg: sum(1 for s in spots if s.family == fam and s.region == reg) for reg in ("measured", "wedge")}
        families.append(FamilyCount(fam, d, exp, _detected_by_region(spots, fam)))
    detected_d = [s.d_A for s in spots if s.detected]
    notes = list(m.notes)
    if m.angles is None:
        notes.append("no tilt angles given: every reflection counted as measured")
    return BraggReport(families, spots, controls, min(detected_d) if detected_d else None,
                       _false_positive_fraction(controls), orientation_known=True, notes=notes, **m.common)


def _peak_candidates(m: _Measurement, fam_g: np.ndarray, tol: np.ndarray, dk: float) -> np.ndarray:
    """Local maxima of the spectrum (one half of k-space) near a family's |g| and above its shell's noise."""
    from scipy.ndimage import maximum_filter

    spec, filt, shape, p = m.spec, m.filt, m.shape, m.p
    shape_a = np.asarray(shape)
    centre = shape_a // 2
    local = (spec == maximum_filter(spec, size=5, mode="wrap"))
    idx = np.argwhere(local)
    off = idx - centre
    half = (off[:, 0] > 0) | ((off[:, 0] == 0) & (off[:, 1] > 0)) | ((off[:, 0] == 0) & (off[:, 1] == 0) & (off[:, 2] > 0))
    idx, off = idx[half], off[half]
    k = off / (shape_a[None] * p)
    kn = np.sqrt((k**2).sum(axis=1))
    fam_i = np.argmin(np.abs(kn[:, None] - fam_g[None]), axis=1)
    near = np.abs(kn - fam_g[fam_i]) <= tol[fam_i] + dk
    idx, k, kn = idx[near], k[near], kn[near]
    # pre-screen against the spherical shell at the same |k|
    val = filt[idx[:, 0], idx[:, 1], idx[:, 2]]
    keep = np.zeros(len(idx), dtype=bool)
    axes = [((np.arange(n) - c) / (n * p)).astype(np.float32) for n, c in zip(shape, centre)]
    kr = np.sqrt(axes[0][:, None, None] ** 2 + axes[1][None, :, None] ** 2 + axes[2][None, None, :] ** 2).ravel()
    fvals = filt.ravel()
    for j, gf in enumerate(fam_g):
        band = np.abs(kr - gf) <= tol[j] + dk
        vals = fvals[band]
        med = np.median(vals)
        sig = 1.4826 * np.median(np.abs(vals - med)) + 1e-9
        sel = np.abs(kn - gf) <= tol[j] + dk
        keep |= sel & ((val - med) / sig >= m.snr_threshold)
    return idx[keep]


def _report_unknown(m: _Measurement) -> BraggReport:
    """Unknown orientation: local maxima of the spectrum, indexed to families by |g|."""
    shape_a = np.asarray(m.shape)
    centre = shape_a // 2
    fam_names = list(m.fam_d)
    fam_g = np.array([1.0 / m.fam_d[f] for f in fam_names])
    tol, dk = _index_tolerance(m, fam_g)
    cand = _peak_candidates(m, fam_g, tol, dk)
    snr, found = m.measure(cand, cand)
    spots = []
    for s, fv in zip(snr, found):
        if not (np.isfinite(s) and s >= m.snr_threshold):
            continue
        g = (fv - centre) / (shape_a * m.p)
        gn = float(np.sqrt((g**2).sum()))
        j = int(np.argmin(np.abs(fam_g - gn)))
        fam = fam_names[j] if abs(fam_g[j] - gn) <= tol[j] else "unindexed"
        spots.append(m.spot("peak", family=fam, d_A=1.0 / gn, g=g, position=fv, found=fv, snr=s,
                            region=str(m.regions(g[None])[0])))
    mult: dict[str, int] = {}
    for r in m.refl_all:
        mult[r.family] = mult.get(r.family, 0) + 1
    families = [FamilyCount(fam, d, {"measured": None, "wedge": None, "total": mult[fam]},
                            _detected_by_region(spots, fam)) for fam, d in m.fam_d.items()]
    # controls: random positions at the family radii away from every candidate peak
    radii = [1.0 / m.fam_d[f] for f in fam_names for _ in range(mult[f])]
    regions = [str(m.regions(m.rng.normal(size=(1, 3)), margin=False)[0]) for _ in radii]
    controls = m.controls(radii, regions, cand.astype(float), cand,
                          lambda _i, gg: ("", 1.0 / float(np.sqrt((gg**2).sum()))))
    # a lone peak at some |g| may be chance (thousands of candidates are searched): the limit
    # needs two spots of a family (or all of a one-spot family)
    per_fam = {f.family: f.detected["measured"] + f.detected["wedge"] for f in families}
    indexed = [m.fam_d[f] for f, n in per_fam.items() if n >= min(2, mult[f])]
    notes = list(m.notes) + [
        "orientation unknown: spots found by peak detection and indexed by |g|; expected counts per region "
        "unknown (? in the table); information limit from families with at least two detected spots"]
    n_un = sum(1 for s in spots if s.family == "unindexed")
    if n_un:
        notes.append(f"{n_un} detected peak(s) could not be indexed to a family")
    return BraggReport(families, spots, controls, min(indexed) if indexed else None,
                       _false_positive_fraction(controls), orientation_known=False, notes=notes, **m.common)
