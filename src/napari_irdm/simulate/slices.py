"""2-D slices through random simulated nanocrystals: the "atomic lattice" source of the training library."""

from __future__ import annotations

import numpy as np

from napari_irdm.simulate._render import TRUNC_SIGMA, atom_weights, box_profiles, local_profiles
from napari_irdm.simulate.crystal import ELEMENTS, SHAPES, make_nanocrystal, orientation_matrix

__all__ = ["slice_source"]

_ZONES = ("[100]", "[110]", "[111]", "[112]", "[210]")
_SALT = 0x51CE


def _rot_x90() -> np.ndarray:
    # lab rotation by +90° about x: y → z, z → −y
    return np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _splat_2d(yc: np.ndarray, xc: np.ndarray, w: np.ndarray, n: int, sigma_px: float) -> np.ndarray:
    """Sum of pixel-integrated 2-D Gaussians on an ``n × n`` grid (local stamps, bincount)."""
    y0, py = local_profiles(yc, sigma_px)
    x0, px = local_profiles(xc, sigma_px)
    k = py.shape[1]
    iy = y0[:, None] + np.arange(k)[None]
    ix = x0[:, None] + np.arange(k)[None]
    py = np.where((iy >= 0) & (iy < n), py, 0.0) * w[:, None]
    px = np.where((ix >= 0) & (ix < n), px, 0.0)
    flat = np.clip(iy, 0, n - 1)[:, :, None] * n + np.clip(ix, 0, n - 1)[:, None, :]
    vals = py[:, :, None] * px[:, None, :]
    return np.bincount(flat.ravel(), weights=vals.ravel(), minlength=n * n).reshape(n, n)


#: the elements slices are drawn from, frozen: presets added to ELEMENTS later must not change the
#: training pairs or the held-back evaluation slices of any index
TRAINING_ELEMENTS = ("Au", "Pt", "Pd", "Ag", "Cu", "Ni", "Fe", "W", "Mo")


def slice_source(index: int, size: int = 256, *, pixel_size_A: float | None = None,
                 return_info: bool = False):
    """A 2-D slice through a random nanocrystal, deterministic per ``index``.

    Parameters
    ----------
    index : int
        Sample index: the same index always gives the same image.
    size : int
        Image edge in pixels (square).
    pixel_size_A : float, optional
        Fix the pixel size (Å); default random in [0.2, 0.45] Å.
    return_info : bool
        Also return a dict describing the sample.

    Returns
    -------
    image : ndarray, shape (size, size), float32 in [0, 1]
        Voxel-thick slice ``z = z0`` (volume frame) of the crystal rendered as pixel-integrated
        Gaussians, divided by its maximum.
    info : dict, only if ``return_info``

    Notes
    -----
    Random per index: element (fcc presets, some bcc), shape, size (35–95 % of the field of
    view), orientation (half of the samples with a low-index zone axis along the viewing
    direction ``z``, so atom columns show; the rest uniformly random), atom width σ
    0.3–0.5 Å, vacancies (0–3 %), a twin in one sample in five, slice height within the
    central half of the particle. Only atoms within 5σ of the plane are rendered, so a
    256² image takes ~10–30 ms.
    """
    n = int(size)
    if n < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    rng = np.random.default_rng([int(index), _SALT])
    elements = list(TRAINING_ELEMENTS)
    weights = np.array([3.0 if ELEMENTS[e][0] == "fcc" else 1.0 for e in elements])
    element = str(rng.choice(elements, p=weights / weights.sum()))
    shape = str(rng.choice(SHAPES))
    pix = float(pixel_size_A) if pixel_size_A is not None else float(rng.uniform(0.2, 0.45))
    if not pix > 0:
        raise ValueError(f"pixel_size_A must be positive, got {pixel_size_A}")
    fov_nm = n * pix / 10.0
    size_nm = float(np.clip(fov_nm * rng.uniform(0.35, 0.95), 0.8, 12.0))
    sigma = float(rng.uniform(0.3, 0.5))
    if rng.random() < 0.5:
        zone = str(rng.choice(_ZONES))
        rot = _rot_z(rng.uniform(0, 2 * np.pi)) @ _rot_x90() @ orientation_matrix("zone:" + zone)
        orient_desc = f"zone {zone} along z"
    else:
        rot = orientation_matrix(None, seed=rng)
        orient_desc = "random"
    twin = bool(rng.random() < 0.2 and ELEMENTS[element][0] == "fcc")
    crystal = make_nanocrystal(element, shape=shape, size_nm=size_nm, orientation=rot, seed=rng,
                               vacancy_fraction=float(rng.uniform(0.0, 0.03)), twin=twin)
    pos = crystal.positions_A
    zr = float(np.abs(pos[:, 0]).max()) if len(pos) else 0.0
    z0 = float(rng.uniform(-0.5, 0.5) * zr)
    near = np.abs(pos[:, 0] - z0) <= TRUNC_SIGMA * sigma + pix
    p = pos[near]
    w = atom_weights(crystal.atomic_numbers[near])
    sp = sigma / pix
    # weight of each atom inside the voxel-thick slab around z0
    gz = box_profiles(((p[:, 0] - z0) / pix)[None], 1, sp, dtype=np.float64)[0, :, 0]
    c = (n - 1) / 2.0
    img = _splat_2d(p[:, 1] / pix + c, p[:, 2] / pix + c, w * gz, n, sp)
    peak = float(img.max())
    img = (img / peak).astype(np.float32) if peak > 0 else np.zeros((n, n), np.float32)
    np.clip(img, 0.0, 1.0, out=img)
    if not return_info:
        return img
    info = {"element": element, "shape": shape, "size_nm": size_nm, "pixel_size_A": pix, "sigma_A": sigma,
            "orientation": orient_desc, "twin": twin, "z0_A": z0, "n_atoms_in_slice": int(near.sum())}
    return img, info
