"""Nanoparticle ground-truth families for a training library aimed at real HAADF-STEM data.

Each family is ``family(index, size=256) -> ndarray (size, size) float32 in [0, 1]``, a pure
function of ``index`` (a :func:`~napari_irdm.train.phantoms.source_rng` generator per index,
no global random state, nothing downloaded). An image is a slice ``f(z, x)`` perpendicular to
the tilt axis (rows ``z`` = beam direction at 0°) of a mass-thickness (HAADF) volume: particles
bright, vacuum 0. Densities are relative (the brightest material is 1).

``porous``
    one or a few fused bodies with enclosed voids: sponge-like (thresholded smooth noise),
    random mesopores, an ordered hexagonal pore array or one large hollow.
``faceted``
    1–6 convex polygonal crystals (3–8 facets, random size, aspect and orientation), uniform or
    slightly graded density.
``coreshell``
    1–3 core–shell particles, heavier core or heavier shell, core possibly off-centre, yolk–shell
    (a vacuum gap) in some samples.
``supported``
    particles on a thin support film (amorphous carbon / oxide) that crosses the whole field of
    view along ``x`` (it exceeds the FOV), slightly tilted and undulating.
``rods``
    1–8 nanorods (aspect 3.5–8) or nanowires (aspect 8–25, often longer than the FOV), capped or
    flat ends, random orientation.
``polycrystal``
    a particle made of 2–6 grains (Voronoi), each with its own atomic lattice orientation
    (Gaussian atom columns, square or hexagonal lattice).
``amorphous``
    random-atom clusters, smooth random-density blobs (soot / carbon) or an amorphous film
    band, no lattice.
``ensemble``
    a dense agglomerate of many particles, or one particle larger than the field of view:
    the object always extends past the image edges.

Besides ``ensemble``, one sample in five of the other families (except ``supported``, whose film
always exceeds the FOV) is rendered on a canvas 1.5–2.5× larger and cropped, so that the object
fills or exceeds the field of view.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_irdm.train.phantoms import source_rng

__all__ = [
    "FAMILIES",
    "amorphous",
    "coreshell",
    "ensemble",
    "faceted",
    "polycrystal",
    "polycrystal_info",
    "porous",
    "rods",
    "supported",
]

_KEY = {
    "porous": 0x5311,
    "faceted": 0x5312,
    "coreshell": 0x5313,
    "supported": 0x5314,
    "rods": 0x5315,
    "polycrystal": 0x5316,
    "amorphous": 0x5317,
    "ensemble": 0x5318,
}

#: fraction of samples (families other than ``ensemble`` / ``supported``) zoomed past the FOV
ZOOM_FRACTION = 0.2


# -------------------------------------------------------------------- primitives
def _box(n: int, cy: float, cx: float, r: float) -> tuple[slice, slice]:
    r = int(np.ceil(r)) + 2
    y0, x0 = min(n, max(0, int(cy) - r)), min(n, max(0, int(cx) - r))
    return slice(y0, max(y0, min(n, int(cy) + r + 2))), slice(x0, max(x0, min(n, int(cx) + r + 2)))


def _blob(n: int, rng: np.random.Generator, cy: float, cx: float, r: float, rough: float = 0.15,
          order: int = 5) -> tuple[np.ndarray, float, float]:
    """Smooth star-shaped blob: ``r(θ) = r (1 + Σ a_k cos(kθ + φ_k))``; returns (mask, r_min, r_max)."""
    ks = np.arange(2, order + 1)
    amp = rough * rng.uniform(-1.0, 1.0, len(ks)) / ks
    phase = rng.uniform(0.0, 2 * np.pi, len(ks))
    th = np.linspace(-np.pi, np.pi, 1441)
    prof = 1.0 + (amp[:, None] * np.cos(ks[:, None] * th[None, :] + phase[:, None])).sum(axis=0)
    rmin, rmax = r * float(prof.min()), r * float(prof.max())
    mask = np.zeros((n, n), bool)
    sy, sx = _box(n, cy, cx, rmax)
    yy, xx = np.ogrid[sy, sx]
    dy, dx = yy - cy, xx - cx
    mask[sy, sx] = np.hypot(dy, dx) <= r * np.interp(np.arctan2(dy, dx), th, prof)
    return mask, rmin, rmax


def _polygon(n: int, rng: np.random.Generator, cy: float, cx: float, r: float, sides: int | None = None,
             aspect: float | None = None, cover: bool = False) -> np.ndarray:
    """Convex polygon (convex hull of jittered regular vertices, random aspect and rotation).

    A boolean mask (pixel centres inside), or with ``cover`` the fraction of each pixel covered
    (a one-pixel ramp across each facet), so that facets stay straight at the pixel scale.
    """
    from scipy.spatial import ConvexHull

    m = int(sides if sides is not None else rng.choice([3, 4, 4, 5, 6, 6, 6, 7, 8]))
    ang = 2 * np.pi * np.arange(m) / m + rng.uniform(-0.2, 0.2, m) * (2 * np.pi / m)
    rad = r * rng.uniform(0.85, 1.0, m)
    pts = np.stack([rad * np.sin(ang), rad * np.cos(ang)], axis=1)
    pts[:, 0] *= aspect if aspect is not None else rng.uniform(0.6, 1.0)
    t = rng.uniform(0.0, np.pi)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    pts = pts @ rot.T
    hull = pts[ConvexHull(pts).vertices] + (cy, cx)
    # signed distance to the polygon: the largest distance past any facet (exact inside, and at the facets)
    edge = np.roll(hull, -1, axis=0) - hull
    normal = np.stack([edge[:, 1], -edge[:, 0]], axis=1) / np.linalg.norm(edge, axis=1)[:, None]
    normal *= np.where(((hull.mean(axis=0) - hull) * normal).sum(axis=1) > 0, -1.0, 1.0)[:, None]  # outward
    sy, sx = _box(n, cy, cx, r)
    yy, xx = np.mgrid[sy, sx].astype(np.float64)
    d = np.full(yy.shape, -np.inf)
    for (vy, vx), (ny, nx) in zip(hull, normal):
        d = np.maximum(d, ny * (yy - vy) + nx * (xx - vx))
    out = np.zeros((n, n), np.float64 if cover else bool)
    # the fraction of a pixel covered by a straight facet is ~ 0.5 - distance (box pixel)
    out[sy, sx] = np.clip(0.5 - d, 0.0, 1.0) if cover else d <= 0
    return out


def _particle(n, rng, cy, cx, r, p_polygon=0.5):
    """A faceted polygon or a smooth blob."""
    if rng.random() < p_polygon:
        return _polygon(n, rng, cy, cx, r)
    return _blob(n, rng, cy, cx, r, rough=rng.uniform(0.05, 0.25))[0]


def _noise(shape, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Smooth Gaussian random field of unit standard deviation."""
    sigma = max(float(sigma), 0.5)
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    transfer = np.exp(-2 * (np.pi * sigma) ** 2 * (ky**2 + kx**2))  # a periodic Gaussian filter, any width
    f = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * transfer, s=shape)
    s = float(f.std())
    return f / s if s > 0 else f


def _texture(n, rng, amount) -> np.ndarray:
    """Multiplicative smooth density fluctuation ``1 + amount · noise``."""
    return 1.0 + amount * _noise((n, n), rng, n * rng.uniform(0.02, 0.08))


def _ramp(n, rng, amount) -> np.ndarray:
    """Linear density gradient of relative amplitude ``amount`` across the image, random direction."""
    t = rng.uniform(0.0, 2 * np.pi)
    yy, xx = np.mgrid[0:n, 0:n] / max(n - 1, 1) - 0.5
    return 1.0 + amount * (np.sin(t) * yy + np.cos(t) * xx)


def _atoms(n: int, pos: np.ndarray, amp: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian atom columns at sub-pixel positions ``pos`` (rows, cols): bilinear splat + Gaussian filter."""
    img = np.zeros((n, n), np.float64)
    if len(pos):
        y0, x0 = np.floor(pos[:, 0]).astype(int), np.floor(pos[:, 1]).astype(int)
        fy, fx = pos[:, 0] - y0, pos[:, 1] - x0
        for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n)
            np.add.at(img, (yy[ok], xx[ok]), (amp * w)[ok])
    return ndi.gaussian_filter(img, sigma) * (2 * np.pi * sigma**2)


def _lattice(n: int, rng: np.random.Generator, a: float, hexagonal: bool, theta: float,
             centre: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lattice positions covering the ``n × n`` canvas and the reciprocal vectors (2, 2) as columns."""
    b1 = np.array([0.0, 1.0]) * a  # (row, col)
    b2 = (np.array([np.sqrt(3) / 2, 0.5]) if hexagonal else np.array([1.0, 0.0])) * a
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    basis = rot @ np.stack([b1, b2], axis=1)  # columns b1, b2
    m = int(np.ceil(n / a * 1.5)) + 2
    i, j = np.meshgrid(np.arange(-m, m + 1), np.arange(-m, m + 1), indexing="ij")
    c = (n - 1) / 2.0 if centre is None else centre
    pos = np.stack([i.ravel(), j.ravel()], axis=1) @ basis.T + c + rng.uniform(-a, a, 2)
    keep = (pos[:, 0] > -2) & (pos[:, 0] < n + 1) & (pos[:, 1] > -2) & (pos[:, 1] < n + 1)
    recip = 2 * np.pi * np.linalg.inv(basis).T  # columns g1, g2 with g_i · b_j = 2π δ_ij
    return pos[keep], recip


def _finish(img: np.ndarray, blur: float) -> np.ndarray:
    """Finite resolution (Gaussian ``blur`` px), scaled so the brightest pixel is 1, float32 in [0, 1]."""
    img = np.clip(np.asarray(img, np.float64), 0.0, None)
    if blur > 0:
        img = ndi.gaussian_filter(img, blur)
    hi = float(img.max())
    if not hi > 0:  # pragma: no cover - every family draws at least one object into the FOV (see _crop)
        raise RuntimeError("empty ground-truth image")
    return np.clip(img / hi, 0.0, 1.0).astype(np.float32)


def _canvas(rng: np.random.Generator, size: int, zoom: bool) -> tuple[int, bool]:
    """Canvas edge: ``size``, or 1.5–2.5 × ``size`` for the zoomed (FOV-filling) samples."""
    if zoom and rng.random() < ZOOM_FRACTION:
        return int(np.ceil(size * rng.uniform(1.5, 2.5))), True
    return size, False


def _crop(img: np.ndarray, rng: np.random.Generator, size: int, anchor: tuple[float, float] | None = None,
          ) -> tuple[np.ndarray, tuple[int, int]]:
    """A ``size × size`` window of ``img`` around ``anchor`` (default the centre) with random placement.

    A window that would hold no object (objects scattered over a zoomed canvas can all miss
    the centre) is moved onto a random pixel of an object instead.
    """
    n = img.shape[0]
    if n == size:
        return img, (0, 0)
    ay, ax = anchor if anchor is not None else ((n - 1) / 2, (n - 1) / 2)
    oy = int(np.clip(round(ay - size * rng.uniform(0.3, 0.7)), 0, n - size))
    ox = int(np.clip(round(ax - size * rng.uniform(0.3, 0.7)), 0, n - size))
    if not img[oy : oy + size, ox : ox + size].any() and img.any():
        ys, xs = np.nonzero(img)
        k = int(rng.integers(ys.size))
        return _crop(img, rng, size, anchor=(float(ys[k]), float(xs[k])))
    return img[oy : oy + size, ox : ox + size], (oy, ox)


def _check_size(size: int) -> int:
    size = int(size)
    if size < 16:
        raise ValueError(f"image size must be >= 16 pixels, got {size}")
    return size


# ---------------------------------------------------------------------- families
def porous(index: int, size: int = 256) -> np.ndarray:
    """A porous particle (sponge, random or ordered mesopores, or hollow): voids enclosed by a solid rim."""
    size = _check_size(size)
    rng = source_rng(_KEY["porous"], index)
    n, _ = _canvas(rng, size, True)
    c = (n - 1) / 2
    body = np.zeros((n, n), bool)
    for _k in range(1 if rng.random() < 0.7 else int(rng.integers(2, 4))):
        r = n * rng.uniform(0.22, 0.4) * (1.0 if not body.any() else 0.7)
        off = n * 0.12 * rng.uniform(-1, 1, 2) * (0 if not body.any() else 1.5)
        body |= _blob(n, rng, c + off[0], c + off[1], r, rough=rng.uniform(0.05, 0.25))[0]
    rim = max(2, int(round(n * rng.uniform(0.015, 0.04))))
    interior = ndi.binary_erosion(body, iterations=rim)
    mode = rng.choice(["sponge", "mesopores", "ordered", "hollow"], p=[0.4, 0.3, 0.15, 0.15])
    if mode == "sponge":
        field = _noise((n, n), rng, n * rng.uniform(0.012, 0.035))
        thr = np.quantile(field[interior], 1.0 - rng.uniform(0.25, 0.5)) if interior.any() else np.inf
        pores = interior & (field > thr)
    elif mode == "mesopores":
        pores = np.zeros((n, n), bool)
        yy, xx = np.nonzero(interior)
        for _k in range(int(rng.integers(4, 40)) if len(yy) else 0):
            j = int(rng.integers(len(yy)))
            pr = n * rng.uniform(0.01, 0.045)
            sy, sx = _box(n, yy[j], xx[j], pr)
            gy, gx = np.mgrid[sy, sx]
            pores[sy, sx] |= np.hypot(gy - yy[j], gx - xx[j]) <= pr
        pores &= interior
    elif mode == "ordered":
        a = max(4.0, n * rng.uniform(0.05, 0.09))
        pos, _ = _lattice(n, rng, a, True, rng.uniform(0, np.pi))
        disk = _atoms(n, pos, np.ones(len(pos)), a * rng.uniform(0.18, 0.25))
        pores = interior & (disk > 0.5)
    else:  # hollow: one large void
        pores = _blob(n, rng, c + n * 0.05 * rng.uniform(-1, 1), c + n * 0.05 * rng.uniform(-1, 1),
                      n * rng.uniform(0.1, 0.2), rough=0.1)[0] & interior
    img = body * rng.uniform(0.7, 1.0) * _texture(n, rng, 0.05)
    img[pores] = 0.0
    img, _ = _crop(img, rng, size)
    return _finish(img, size * rng.uniform(0.002, 0.004) + 0.3)


def _place(n, rng, occupied, r, lo=0.2, hi=0.8, gap=2, tries=30):
    """A centre in [lo, hi]·n whose disc of radius ``r`` (+ ``gap``) misses ``occupied`` (None if none found)."""
    for _t in range(tries):
        cy, cx = n * rng.uniform(lo, hi, 2)
        sy, sx = _box(n, cy, cx, r + gap)
        gy, gx = np.mgrid[sy, sx]
        if not (occupied[sy, sx] & (np.hypot(gy - cy, gx - cx) <= r + gap)).any():
            return cy, cx
    return None


def faceted(index: int, size: int = 256) -> np.ndarray:
    """1–6 separate convex polygonal crystals with flat facets, uniform or slightly graded density."""
    size = _check_size(size)
    rng = source_rng(_KEY["faceted"], index)
    n, _ = _canvas(rng, size, True)
    k = 1 if rng.random() < 0.45 else int(rng.integers(2, 7))
    img = np.zeros((n, n))
    occupied = np.zeros((n, n), bool)
    for i in range(k):
        r = n * rng.uniform(0.12, 0.38) / np.sqrt(k)
        where = ((n - 1) / 2, (n - 1) / 2) if i == 0 and k == 1 else _place(n, rng, occupied, r)
        if where is None:
            continue
        cov = _polygon(n, rng, where[0], where[1], r, cover=True)
        grade = _ramp(n, rng, rng.uniform(-0.3, 0.3)) if rng.random() < 0.5 else 1.0
        img = img + cov * rng.uniform(0.5, 1.0) * grade  # particles do not overlap
        occupied |= cov > 0
    img, _ = _crop(img, rng, size)
    return _finish(img, 0.4)


def coreshell(index: int, size: int = 256) -> np.ndarray:
    """1–3 core–shell particles: core and shell of different densities, core possibly off-centre or yolk–shell."""
    size = _check_size(size)
    rng = source_rng(_KEY["coreshell"], index)
    n, _ = _canvas(rng, size, True)
    k = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
    img = np.zeros((n, n))
    occupied = np.zeros((n, n), bool)
    for i in range(k):
        R = n * rng.uniform(0.22, 0.4) / np.sqrt(k)
        where = ((n - 1) / 2, (n - 1) / 2) if i == 0 and k == 1 else _place(n, rng, occupied, R * 1.3)
        if where is None:
            continue
        cy, cx = where
        outer, rmin_o, _ = _blob(n, rng, cy, cx, R, rough=rng.uniform(0.0, 0.15))
        t = max(2.5, 0.12 * R)  # minimum shell thickness (px)
        gap = max(2.0, 0.1 * R) if rng.random() < 0.15 else 0.0  # yolk–shell vacuum gap
        rc = R * rng.uniform(0.35, 0.7)
        rc = max(1.5, min(rc, rmin_o - t - gap - 1.0) / 1.06)
        core, _, rmax_c = _blob(n, rng, cy, cx, rc, rough=0.05)  # re-centred below
        free = max(0.0, rmin_o - t - gap - rmax_c - 0.5)
        d = free * np.sqrt(rng.random())
        phi = rng.uniform(0, 2 * np.pi)
        core = ndi.shift(core.astype(float), (d * np.sin(phi), d * np.cos(phi)), order=0) > 0.5
        dense_core = rng.random() < 0.6
        dc, ds = (1.0, rng.uniform(0.2, 0.6)) if dense_core else (rng.uniform(0.2, 0.6), 1.0)
        part = outer * ds * _texture(n, rng, 0.04)
        if gap > 0:
            part[ndi.binary_dilation(core, iterations=int(round(gap)))] = 0.0
        part[core] = dc
        img = np.where(outer, part, img)
        occupied |= outer
    img, _ = _crop(img, rng, size)
    return _finish(img, 0.6)


def supported(index: int, size: int = 256) -> np.ndarray:
    """Particles on a thin support film that runs along ``x`` across (and past) the whole field of view."""
    size = _check_size(size)
    rng = source_rng(_KEY["supported"], index)
    n = size
    x = np.arange(n, dtype=np.float64)
    z0 = n * rng.uniform(0.35, 0.7)
    tilt = np.tan(np.deg2rad(rng.uniform(-6.0, 6.0)))
    und = np.convolve(rng.standard_normal(n + 64), np.hanning(33) / np.hanning(33).sum(), "same")[32:-32]
    und = und / (np.abs(und).max() + 1e-12)
    thick = n * rng.uniform(0.03, 0.1)
    top = z0 + tilt * (x - n / 2) + und * thick * rng.uniform(0.0, 0.6)
    bottom = top + thick * (1.0 + 0.25 * np.roll(und, n // 3))
    bottom = np.maximum(bottom, top + max(2.0, 0.02 * n))
    zz = np.arange(n, dtype=np.float64)[:, None]
    film = (zz >= top[None, :]) & (zz <= bottom[None, :])
    img = film * rng.uniform(0.12, 0.45) * np.clip(_texture(n, rng, 0.15), 0.5, 1.5)
    occupied = film.copy()
    for _k in range(int(rng.integers(1, 7))):
        r = n * rng.uniform(0.04, 0.14)
        cx = n * rng.uniform(0.05, 0.95)
        j = int(np.clip(cx, 0, n - 1))
        above = rng.random() < 0.7
        sink = r * rng.uniform(0.35, 0.6)  # sitting on (slightly into) the film
        cy = top[j] - sink if above else bottom[j] + sink
        m = _particle(n, rng, cy, cx, r)
        if (m & occupied & ~film).any():
            continue
        img = np.where(m, rng.uniform(0.6, 1.0), img)
        occupied |= m
    return _finish(img, 0.6)


def rods(index: int, size: int = 256) -> np.ndarray:
    """1–8 nanorods (aspect 3.5–8) or nanowires (aspect 8–25) of random orientation; long ones cross the image edge."""
    size = _check_size(size)
    rng = source_rng(_KEY["rods"], index)
    n, _ = _canvas(rng, size, True)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    img = np.zeros((n, n))
    for _k in range(int(rng.choice([1, 1, 2, 2, 3, 4, 5, 6, 8]))):
        if rng.random() < 0.6:  # nanorod, aspect 3.5–8
            length = n * rng.uniform(0.15, 0.5)
            width = length / rng.uniform(3.5, 8.0)
        else:  # nanowire, aspect 8–25, often longer than the FOV
            length = n * rng.uniform(0.6, 1.5)
            width = length / rng.uniform(8.0, 25.0)
        width = float(np.clip(width, max(2.0, 0.02 * n), 0.15 * n))
        length = max(length, 3.5 * width)
        t = rng.uniform(0, np.pi)
        cy, cx = n * rng.uniform(0.15, 0.85, 2)
        u = np.array([np.sin(t), np.cos(t)])
        py, px = yy - cy, xx - cx
        along = py * u[0] + px * u[1]
        across = np.abs(-py * u[1] + px * u[0])
        half = length / 2 - width / 2
        if rng.random() < 0.5:  # capsule (rounded ends)
            d = np.hypot(np.clip(np.abs(along) - half, 0, None), across)
            m = d <= width / 2
        else:  # flat ends
            m = (np.abs(along) <= length / 2) & (across <= width / 2)
        img = np.where(m, np.maximum(img, rng.uniform(0.5, 1.0)), img)
    img, _ = _crop(img, rng, size)
    return _finish(img, 0.6)


def polycrystal_info(index: int, size: int = 256) -> tuple[np.ndarray, dict]:
    """:func:`polycrystal` image and a description of its grains.

    Returns
    -------
    image : ndarray (size, size) float32 in [0, 1]
    info : dict
        ``labels`` (size, size) int (0 outside the particle, grain ``g`` = ``g``), ``spacing_px``,
        ``hexagonal``, ``recip`` (list per grain of the (2, 2) reciprocal vectors, rad/px,
        columns, (row, col) components), ``theta_deg`` (lattice rotation of each grain).
    """
    from scipy.spatial import cKDTree

    size = _check_size(size)
    rng = source_rng(_KEY["polycrystal"], index)
    n, _ = _canvas(rng, size, True)
    c = (n - 1) / 2
    R = n * rng.uniform(0.3, 0.45)
    part = _polygon(n, rng, c, c, R) if rng.random() < 0.4 else _blob(n, rng, c, c, R, rough=0.15)[0]
    a = max(3.0, size * rng.uniform(0.025, 0.05))
    yy, xx = np.nonzero(part)
    # 2–6 grains of at least ~80 atoms each: Voronoi cells of seeds half a mean cell width apart
    g_max = int(np.clip(len(yy) / (80 * a * a), 2, 6))
    g = int(rng.integers(2, g_max + 1))
    pts = np.stack([yy, xx], 1).astype(float)
    seeds = [pts[rng.integers(len(pts))]]
    dmin = 0.5 * np.sqrt(len(yy) / g)
    for _t in range(400):
        if len(seeds) == g:
            break
        p = pts[rng.integers(len(pts))]
        if min(np.hypot(*(p - q)) for q in seeds) >= dmin:
            seeds.append(p)
    seed_arr = np.array(seeds)
    g = len(seed_arr)
    gy, gx = np.mgrid[0:n, 0:n]
    d2 = (gy[None] - seed_arr[:, 0, None, None]) ** 2 + (gx[None] - seed_arr[:, 1, None, None]) ** 2
    labels = np.where(part, np.argmin(d2, axis=0) + 1, 0)
    hexagonal = bool(rng.random() < 0.5)
    period = 60.0 if hexagonal else 90.0
    thetas: list[float] = []
    for _k in range(g):  # orientations at least 8° apart modulo the lattice symmetry
        for _t in range(50):
            th = rng.uniform(0, period)
            if all(min(abs(th - o) % period, period - abs(th - o) % period) >= 8.0 for o in thetas):
                break
        thetas.append(th)
    sigma = max(0.7, a * rng.uniform(0.13, 0.2))
    pos_all, amp_all, grain_all, recips = [], [], [], []
    for k, th in enumerate(thetas, start=1):
        pos, recip = _lattice(n, rng, a, hexagonal, np.deg2rad(th))
        recips.append(recip)
        pos = pos + rng.normal(0.0, 0.02 * a, pos.shape)
        iy = np.clip(np.round(pos[:, 0]).astype(int), 0, n - 1)
        ix = np.clip(np.round(pos[:, 1]).astype(int), 0, n - 1)
        keep = (labels[iy, ix] == k) & (rng.random(len(pos)) > 0.02)
        pos_all.append(pos[keep])
        amp_all.append(np.full(int(keep.sum()), rng.uniform(0.7, 1.0)))
        grain_all.append(np.full(int(keep.sum()), k))
    pos, amp, grain = np.concatenate(pos_all), np.concatenate(amp_all), np.concatenate(grain_all)
    # grain boundaries: of two atoms of different grains closer than 0.6 a, drop one
    if len(pos) > 1:
        drop = np.zeros(len(pos), bool)
        for i, j in cKDTree(pos).query_pairs(0.6 * a, output_type="ndarray"):
            if grain[i] != grain[j] and not drop[i]:
                drop[j] = True
        pos, amp = pos[~drop], amp[~drop]
    img = _atoms(n, pos, amp, sigma)
    img, (oy, ox) = _crop(img, rng, size)
    info = {"labels": labels[oy : oy + size, ox : ox + size], "spacing_px": a, "hexagonal": hexagonal,
            "recip": recips, "theta_deg": thetas, "period_deg": period}
    return _finish(img, 0.0), info


def polycrystal(index: int, size: int = 256) -> np.ndarray:
    """A particle of 2–6 grains, each with an atomic lattice (Gaussian columns) of its own orientation."""
    return polycrystal_info(index, size)[0]


def amorphous(index: int, size: int = 256) -> np.ndarray:
    """No lattice: random-atom clusters, smooth random-density blobs (carbon / soot), or an amorphous film."""
    size = _check_size(size)
    rng = source_rng(_KEY["amorphous"], index)
    n, _ = _canvas(rng, size, True)
    c = (n - 1) / 2
    mode = rng.choice(["atoms", "smooth", "film"], p=[0.4, 0.35, 0.25])
    if mode == "film":
        x = np.arange(n)
        width = n * rng.uniform(0.08, 0.3)
        rough = _noise((2, n), rng, n * rng.uniform(0.03, 0.1)) * width * 0.15  # rough, undulating surfaces
        top = n * rng.uniform(0.3, 0.6) + np.tan(np.deg2rad(rng.uniform(-8, 8))) * (x - n / 2) + rough[0]
        zz = np.arange(n)[:, None]
        mask = (zz >= top[None, :]) & (zz <= top[None, :] + width + rough[1][None, :])
    else:
        mask = np.zeros((n, n), bool)
        for _k in range(int(rng.integers(1, 5))):
            off = n * 0.15 * rng.uniform(-1, 1, 2) * (1 if mask.any() else 0.3)
            mask |= _blob(n, rng, c + off[0], c + off[1], n * rng.uniform(0.12, 0.35), rough=0.3)[0]
    if mode == "smooth":
        field = _noise((n, n), rng, n * rng.uniform(0.01, 0.05))
        img = mask * np.clip(0.6 + 0.25 * field, 0.05, None)
        img = ndi.gaussian_filter(img, 0.8)
    else:
        a = max(2.5, size * rng.uniform(0.03, 0.06))
        area = float(mask.sum())
        npts = rng.poisson(area / a**2 * rng.uniform(0.8, 1.2))
        ys, xs = np.nonzero(mask)
        j = rng.integers(len(ys), size=npts)
        pos = np.stack([ys[j], xs[j]], 1) + rng.uniform(-0.5, 0.5, (npts, 2))
        img = _atoms(n, pos, rng.uniform(0.4, 1.0, npts), max(0.8, a * rng.uniform(0.2, 0.3)))
        if mode == "film":
            img = img + ndi.gaussian_filter(mask * 1.0, 1.5) * rng.uniform(0.0, 0.3) * img.max()
    img, _ = _crop(img, rng, size, anchor=None)
    return _finish(img, 0.0)


def ensemble(index: int, size: int = 256) -> np.ndarray:
    """An object that fills and exceeds the field of view: a dense agglomerate, or one huge particle."""
    size = _check_size(size)
    rng = source_rng(_KEY["ensemble"], index)
    n = size
    img = np.zeros((n, n))
    if rng.random() < 0.35:  # one particle larger than the FOV, textured, a few voids
        c = n * rng.uniform(0.3, 0.7, 2)
        m = _particle(n, rng, c[0], c[1], n * rng.uniform(0.6, 1.1), p_polygon=0.5)
        img = m * rng.uniform(0.6, 1.0) * np.clip(_texture(n, rng, 0.1), 0.5, 1.5)
        if rng.random() < 0.5:
            field = _noise((n, n), rng, n * rng.uniform(0.015, 0.04))
            img[ndi.binary_erosion(m, iterations=2) & (field > 1.8)] = 0.0
    else:  # agglomerate of many particles, centres spread past the edges
        occupied = np.zeros((n, n), bool)
        rmean = n * rng.uniform(0.05, 0.12)
        for _k in range(int(rng.integers(15, 60))):
            r = rmean * rng.uniform(0.6, 1.4)
            where = _place(n, rng, occupied, r * 0.8, lo=-0.05, hi=1.05, gap=0, tries=5)
            if where is None:
                continue
            m = _particle(n, rng, where[0], where[1], r)
            dens = rng.uniform(0.4, 1.0)
            if rng.random() < 0.25:  # a core–shell member
                inner = ndi.binary_erosion(m, iterations=max(1, int(r * 0.35)))
                img = np.where(m & ~occupied, dens * 0.4, img)
                img = np.where(inner & ~occupied, dens, img)
            else:
                img = np.where(m & ~occupied, dens, img)
            occupied |= m
    return _finish(img, 0.6)


#: family name -> function
FAMILIES = {
    "porous": porous,
    "faceted": faceted,
    "coreshell": coreshell,
    "supported": supported,
    "rods": rods,
    "polycrystal": polycrystal,
    "amorphous": amorphous,
    "ensemble": ensemble,
}
