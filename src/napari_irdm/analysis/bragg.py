"""Bragg reflections of cubic lattices, missing-wedge classification and spot measurement.

This module holds the report (:func:`bragg_report`); the reflection geometry lives in
``_reflections.py`` and the spot measurement in ``_spots.py``, re-exported here.

The measuring instrument for atomic electron tomography: which lattice reflections does a
reconstruction really resolve, and which are lost in the missing wedge?

Frames: reciprocal vectors ``g`` are ``(kz, ky, kx)`` in 1/Å (the volume's array order, see
:mod:`napari_irdm.simulate.crystal`); an orientation is the rotation ``R`` with
``r_lab(x, y, z) = R @ r_crystal``, so ``g_lab = R @ (h, k, l) / a``.

Spots are counted per **Friedel pair** (``g`` and ``−g`` are one spot in a power spectrum of a
real volume): e.g. {111} has 4 spots, {220} 6, {440} 6.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from napari_irdm.analysis._reflections import (
    Reflection,
    _all_hkl,
    expected_reflections,
    family_label,
    wedge_region,
    wedge_regions,
)
from napari_irdm.analysis._spots import FamilyCount, Spot, measure_spots
from napari_irdm.simulate.crystal import Lattice, get_lattice, orientation_matrix

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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["families"] = [asdict(f) for f in self.families]
        d["information_limit_by_region_A"] = {r: self.information_limit(r) for r in ("measured", "wedge")}
        return _jsonable(d)

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


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if not np.isfinite(v) else round(v, 6)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


# ------------------------------------------------------------------ the driver
def _resolve_lattice(truth, lattice, a_A, orientation):
    if truth is not None:
        if isinstance(truth, (str, bytes)) or hasattr(truth, "__fspath__"):
            from napari_irdm.simulate.tiltseries import load_truth

            truth = load_truth(truth)
        crystal = getattr(truth, "crystal", truth)
        return crystal.lattice, np.asarray(crystal.orientation, dtype=np.float64), truth
    lat = get_lattice(lattice if lattice is not None else "fcc", a_A)
    rot = None if orientation is None else orientation_matrix(orientation)
    return lat, rot, None


def _check_resolution(lat: Lattice, pixel_size_A: float, d_min_A: float | None) -> float:
    """The d_min to use; ValueError naming the reflections beyond Nyquist if asked for."""
    nyq = 0.5 / pixel_size_A
    d_nyq = 1.0 / nyq
    first = expected_reflections(lat, d_min_A=lat.a_A / np.sqrt(27.0))[0]
    if first.d_A < d_nyq:
        raise ValueError(
            f"pixel size {pixel_size_A:g} Å is too coarse for any reflection of {lat.element or lat.structure} "
            f"(Nyquist {nyq:.3f} 1/Å, d ≥ {d_nyq:.3f} Å; {first.family} has d = {first.d_A:.3f} Å): use a smaller pixel size"
        )
    if d_min_A is None:
        return d_nyq * (1 + 1e-9)
    d_min = float(d_min_A)
    if d_min < d_nyq * (1 - 1e-9):
        beyond = {}
        for r in expected_reflections(lat, d_min_A=d_min):
            if r.d_A < d_nyq:
                beyond.setdefault(r.family, r.d_A)
        listing = ", ".join(f"{k} ({v:.3f} Å)" for k, v in beyond.items())
        raise ValueError(
            f"pixel size {pixel_size_A:g} Å (Nyquist {nyq:.3f} 1/Å, d = {d_nyq:.3f} Å) cannot hold "
            f"reflections beyond Nyquist: {listing}: use d_min ≥ {d_nyq:.3f} Å or a smaller pixel size"
        )
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
) -> BraggReport:
    """Which lattice reflections does a volume resolve, in the measured region and in the wedge?

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
    from scipy.ndimage import maximum_filter

    from napari_irdm.analysis.spectrum import power_spectrum_3d

    vol = getattr(volume, "data", volume)
    if pixel_size_A is None:
        pixel_size_A = getattr(volume, "pixel_size_A", None)
    if tilt_angles_deg is None:
        tilt_angles_deg = getattr(volume, "tilt_angles_deg", None)
    shape = tuple(np.shape(vol))
    if len(shape) != 3:
        raise ValueError(f"volume must be 3-D (nz, ny, nx), got shape {shape}: pass a reconstructed volume")
    if pixel_size_A is None or not np.isfinite(float(pixel_size_A)) or float(pixel_size_A) <= 0:
        raise ValueError(f"pixel size is missing or invalid ({pixel_size_A}): pass pixel_size_A (CLI --pixel-size) in Å")
    p = float(pixel_size_A)
    angles = None if tilt_angles_deg is None else np.asarray(tilt_angles_deg, dtype=np.float64).ravel()
    if angles is not None and (angles.size == 0 or not np.all(np.isfinite(angles))):
        raise ValueError("tilt angles are empty or not finite: pass --tilt-range A B or --angles FILE")
    lat, rot, _truth = _resolve_lattice(truth, lattice, a_A, orientation)
    d_min = _check_resolution(lat, p, d_min_A)
    nyq = 0.5 / p
    notes = []
    if shell_vox is None:
        shell_vox, width = _auto_shell(vol, window)
        notes.append(f"background shell {shell_vox[0]:.1f}-{shell_vox[1]:.1f} voxels (spot width ~{width:.1f} voxels)")
    shell_vox = (float(shell_vox[0]), float(shell_vox[1]))
    if exclude_radius_vox is None:
        exclude_radius_vox = shell_vox[0]
    spec, _freqs = power_spectrum_3d(vol, p, window=window, log=True)
    filt = maximum_filter(spec, size=3, mode="wrap")
    rng = np.random.default_rng(seed)
    margin = float(margin_vox) / (max(shape) * p)
    tilt_range = None if angles is None else (float(angles.min()), float(angles.max()))
    common = dict(snr_threshold=float(snr_threshold), pixel_size_A=p, nyquist_inv_A=nyq, tilt_range_deg=tilt_range,
                  volume_shape=shape, lattice=lat.to_dict())
    refl_all = expected_reflections(lat, d_min_A=d_min, orientation=rot if rot is not None else None)
    fam_d: dict[str, float] = {}
    for r in refl_all:
        fam_d.setdefault(r.family, r.d_A)
    spacing = refl_all[0].g_norm * min(shape) * p  # nearest reciprocal-lattice distance (voxels), ≈ |g_first|
    if shell_vox[1] > 0.8 * spacing:
        notes.append(f"spots are nearly as wide as their spacing ({spacing:.1f} voxels): spot counts are "
                     "unreliable for a particle this small (≲ 5 unit cells across; use ≥ 2 nm)")
    if rot is None:
        return _report_unknown(spec, filt, lat, refl_all, fam_d, angles, shape, p, rng, common,
                               n_controls, shell_vox, exclude_radius_vox, margin, notes)

    refl = refl_all
    g = np.array([r.g for r in refl])
    pos = _to_vox(g, shape, p)
    # every lattice point (both signs) that can fall in the box: excluded from background shells
    hkl_all = _all_hkl(lat, (lat.a_A * nyq * np.sqrt(3.0) * 1.05) ** 2)
    lattice_vox = _to_vox((hkl_all / lat.a_A) @ rot.T[:, ::-1], shape, p)
    snr, found = measure_spots(spec, pos, exclude_vox=lattice_vox, shell_vox=shell_vox,
                               exclude_radius_vox=exclude_radius_vox, filtered=filt)
    regions = list(wedge_regions(g, angles, margin_inv_A=margin))
    spots = [
        Spot("reflection", r.hkl, r.family, r.d_A, r.g, tuple(pv), tuple(fv), float(s), reg,
             bool(np.isfinite(s) and s >= snr_threshold))
        for r, pv, fv, s, reg in zip(refl, pos, found, snr, regions)
    ]
    # off-lattice controls
    cg, creg, cidx = _random_controls(rng, [r.g_norm for r in refl], regions, angles, lattice_vox, shape, p,
                                      2.0 * exclude_radius_vox, max(0, int(n_controls)), margin)
    controls = []
    if len(cg):
        cpos = _to_vox(cg, shape, p)
        csnr, cfound = measure_spots(spec, cpos, exclude_vox=lattice_vox, shell_vox=shell_vox,
                                     exclude_radius_vox=exclude_radius_vox, filtered=filt)
        for gg, pv, fv, s, reg, i in zip(cg, cpos, cfound, csnr, creg, cidx):
            controls.append(Spot("control", None, refl[i].family, refl[i].d_A, tuple(gg), tuple(pv), tuple(fv),
                                 float(s), reg, bool(np.isfinite(s) and s >= snr_threshold)))
    families = []
    for fam, d in fam_d.items():
        members = [s for s in spots if s.family == fam]
        exp = {reg: sum(1 for s in members if s.region == reg) for reg in ("measured", "wedge")}
        det = {reg: sum(1 for s in members if s.region == reg and s.detected) for reg in ("measured", "wedge")}
        families.append(FamilyCount(fam, d, exp, det))
    detected_d = [s.d_A for s in spots if s.detected]
    fp = float(np.mean([c.detected for c in controls])) if controls else 0.0
    if angles is None:
        notes.append("no tilt angles given: every reflection counted as measured")
    return BraggReport(families, spots, controls, min(detected_d) if detected_d else None, fp,
                       orientation_known=True, notes=notes, **common)


def _report_unknown(spec, filt, lat, refl_all, fam_d, angles, shape, p, rng, common, n_controls, shell_vox,
                    exclude_radius_vox, margin, notes):
    """Unknown orientation: local maxima of the spectrum, indexed to families by |g|."""
    from scipy.ndimage import maximum_filter

    thr = common["snr_threshold"]
    shape_a = np.asarray(shape)
    centre = shape_a // 2
    fam_names = list(fam_d)
    fam_g = np.array([1.0 / fam_d[f] for f in fam_names])
    dk = 1.0 / (shape_a.min() * p)  # coarsest frequency step
    tol = np.maximum(1.5 * dk, 0.02 * fam_g)
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
        keep |= sel & ((val - med) / sig >= thr)
    cand = idx[keep]
    snr, found = measure_spots(spec, cand, exclude_vox=cand, shell_vox=shell_vox,
                               exclude_radius_vox=exclude_radius_vox, filtered=filt)
    spots = []
    for s, fv in zip(snr, found):
        if not (np.isfinite(s) and s >= thr):
            continue
        g = (fv - centre) / (shape_a * p)
        gn = float(np.sqrt((g**2).sum()))
        j = int(np.argmin(np.abs(fam_g - gn)))
        fam = fam_names[j] if abs(fam_g[j] - gn) <= tol[j] else "unindexed"
        reg = str(wedge_regions(g[None], angles, margin_inv_A=margin)[0])
        spots.append(Spot("peak", None, fam, 1.0 / gn, tuple(g), tuple(fv), tuple(fv), float(s), reg, True))
    mult: dict[str, int] = {}
    for r in refl_all:
        mult[r.family] = mult.get(r.family, 0) + 1
    families = []
    for fam, d in fam_d.items():
        det = {reg: sum(1 for s in spots if s.family == fam and s.region == reg) for reg in ("measured", "wedge")}
        families.append(FamilyCount(fam, d, {"measured": None, "wedge": None, "total": mult[fam]}, det))
    # controls: random positions at the family radii away from every candidate peak
    radii = [1.0 / fam_d[f] for f in fam_names for _ in range(mult[f])]
    regions = [str(wedge_regions(rng.normal(size=(1, 3)), angles)[0]) for _ in radii]
    cg, creg, cidx = _random_controls(rng, radii, regions, angles, idx[keep].astype(float), shape, p,
                                      2.0 * exclude_radius_vox, max(0, int(n_controls)), margin)
    controls = []
    if len(cg):
        cpos = _to_vox(cg, shape, p)
        csnr, cfound = measure_spots(spec, cpos, exclude_vox=cand, shell_vox=shell_vox,
                                     exclude_radius_vox=exclude_radius_vox, filtered=filt)
        for gg, pv, fv, s, reg in zip(cg, cpos, cfound, csnr, creg):
            gn = float(np.sqrt((gg**2).sum()))
            controls.append(Spot("control", None, "", 1.0 / gn, tuple(gg), tuple(pv), tuple(fv), float(s), reg,
                                 bool(np.isfinite(s) and s >= thr)))
    # a lone peak at some |g| may be chance (thousands of candidates are searched): the limit
    # needs two spots of a family (or all of a one-spot family)
    per_fam = {f.family: f.detected["measured"] + f.detected["wedge"] for f in families}
    indexed = [fam_d[f] for f, n in per_fam.items() if n >= min(2, mult[f])]
    fp = float(np.mean([c.detected for c in controls])) if controls else 0.0
    notes = list(notes) + [
        "orientation unknown: spots found by peak detection and indexed by |g|; expected counts per region "
        "unknown (? in the table); information limit from families with at least two detected spots"]
    n_un = sum(1 for s in spots if s.family == "unindexed")
    if n_un:
        notes.append(f"{n_un} detected peak(s) could not be indexed to a family")
    return BraggReport(families, spots, controls, min(indexed) if indexed else None, fp,
                       orientation_known=False, notes=notes, **common)
