"""Ground-truth image sources of the training library.

Each source is ``source(index, size=256) -> ndarray (size, size) float32 in [0, 1]``,
a pure function of ``index`` (no global random state). The sources stand in for the
paper's (Supplementary Table 1):

``phantom``
    "phantom faces" — random ovals and polygons (:func:`~napari_irdm.train.phantoms.phantom_face`).
``mgh``
    brain-like medical slices (the paper's MGH brain CT): pydicom's bundled head CTs and
    Shepp–Logan head-phantom variants.
``nbia``
    body / tumour medical slices (the paper's NBIA CT): pydicom's bundled body CT / MR slices.
``medical``
    ``mgh`` for even and ``nbia`` for odd indices.
``natural``
    random crops of scikit-image's bundled photographs (our stand-in for ImageNet "dog").
``porous``, ``faceted``, ``coreshell``, ``supported``, ``rods``, ``polycrystal``, ``amorphous``, ``ensemble``
    nanoparticle families for real HAADF-STEM data (:mod:`napari_irdm.train.families`).
``atomic``
    slices through simulated nanocrystals (:func:`napari_irdm.simulate.slice_source`; an error
    of the simulator is raised, never replaced by another source). :func:`lattice_slice` is a
    simpler lattice of Gaussian atoms in a random faceted particle, not used by ``atomic``.

Only files that ship inside the installed ``pydicom`` and ``scikit-image`` packages are
read; nothing is ever downloaded. Files that cannot be decoded here are skipped, so the
image for an index is deterministic for a given installation.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable

import numpy as np

from napari_irdm.train import families as _families
from napari_irdm.train.augment import augment
from napari_irdm.train.phantoms import phantom_face, shepp_logan_variant, source_rng

__all__ = [
    "SOURCES",
    "amorphous",
    "atomic",
    "coreshell",
    "ensemble",
    "faceted",
    "get_source",
    "lattice_slice",
    "medical",
    "mgh",
    "natural",
    "nbia",
    "phantom",
    "polycrystal",
    "porous",
    "rods",
    "supported",
]

_KEY = {"phantom": 0x5301, "mgh": 0x5302, "nbia": 0x5303, "natural": 0x5304, "atomic": 0x5305,
        **_families._KEY}  # the families' keys (0x5311-0x5318) live in families.py

_MGH_FILES = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm")
_NBIA_FILES = ("CT_small.dcm", "examples_overlay.dcm", "MR_small.dcm", "JPEG2000.dcm")
_NATURAL_FILES = (
    "astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
    "coins.png", "moon.png", "hubble_deep_field.jpg", "grass.png", "gravel.png", "brick.png", "horse.png",
)


# ----------------------------------------------------------------- bundled files
def _gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1) if img.shape[-1] in (3, 4) else img[0]
    return img


@functools.cache
def _dicom_images(names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Decoded bundled DICOM test images (only those present and decodable here)."""
    try:
        import pydicom
    except ImportError:  # pragma: no cover
        return ()
    folder = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    out = []
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                arr = _gray(ds.pixel_array)
        except Exception:  # noqa: BLE001 - a missing codec just drops that file
            continue
        lo, hi = np.percentile(arr, [0.5, 99.8])
        if hi > lo:
            out.append(np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32))
    return tuple(out)


@functools.cache
def _skimage_images(names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """scikit-image's bundled photographs as grey [0, 1] arrays (read from the package folder)."""
    import skimage
    from skimage.io import imread

    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    out = []
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            arr = _gray(imread(path))
        except Exception:  # noqa: BLE001
            continue
        lo, hi = float(arr.min()), float(arr.max())
        if hi > lo:
            out.append(((arr - lo) / (hi - lo)).astype(np.float32))
    return tuple(out)


def _random_crop(img: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """A random square-ish crop of side ``lo``–``hi`` × the shorter image side."""
    h, w = img.shape
    side = max(8, int(round(min(h, w) * rng.uniform(lo, hi))))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    return img[y0 : y0 + side, x0 : x0 + side]


def _contrast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma (0.7–1.4) so intensities vary between samples of one base image."""
    return np.power(np.clip(img, 0.0, 1.0), rng.uniform(0.7, 1.4)).astype(np.float32)


# ----------------------------------------------------------------------- sources
def phantom(index: int, size: int = 256) -> np.ndarray:
    """Phantom face (random ovals and polygons), randomly rotated; see :func:`phantom_face`."""
    rng = source_rng(_KEY["phantom"], index)
    return augment(phantom_face(index, size), "phantom", size, rng)


def mgh(index: int, size: int = 256) -> np.ndarray:
    """Brain-like medical slice: a bundled head CT (random crop, contrast) or a Shepp–Logan variant.

    Augmented with random affine, rotation and flip (Supplementary Table 2).
    """
    rng = source_rng(_KEY["mgh"], index)
    images = _dicom_images(_MGH_FILES)
    if not images or rng.random() < 0.4:
        base = shepp_logan_variant(index, size)
    else:
        base = images[int(rng.integers(len(images)))]
        base = _contrast(_random_crop(base, rng, 0.55, 1.0), rng)
    return augment(base, "medical", size, rng)


def nbia(index: int, size: int = 256) -> np.ndarray:
    """Body / tumour medical slice: a bundled CT or MR slice, random crop and contrast, augmented."""
    rng = source_rng(_KEY["nbia"], index)
    images = _dicom_images(_NBIA_FILES)
    if not images:
        return mgh(index, size)
    base = images[int(rng.integers(len(images)))]
    base = _contrast(_random_crop(base, rng, 0.45, 1.0), rng)
    return augment(base, "medical", size, rng)


def medical(index: int, size: int = 256) -> np.ndarray:
    """Medical slice: :func:`mgh` for even ``index``, :func:`nbia` for odd."""
    return mgh(index // 2, size) if index % 2 == 0 else nbia(index // 2, size)


def natural(index: int, size: int = 256) -> np.ndarray:
    """A random crop (25–100 % of the short side) of one of scikit-image's bundled photographs, in grey."""
    rng = source_rng(_KEY["natural"], index)
    images = _skimage_images(_NATURAL_FILES)
    if not images:  # pragma: no cover - scikit-image always ships camera.png
        return phantom(index, size)
    base = images[int(rng.integers(len(images)))]
    return augment(_random_crop(base, rng, 0.25, 1.0), "natural", size, rng)


def lattice_slice(index: int, size: int = 256) -> np.ndarray:
    """A simple atomic image (not a source of the library): Gaussian atoms on a random 2-D lattice inside a faceted particle.

    A square or hexagonal lattice (spacing 3–7 % of ``size``, random orientation and
    offset), atoms of random width, clipped to a random convex polygon (the particle),
    with occasional vacancies and a weak amorphous support.
    """
    from skimage.draw import polygon

    rng = source_rng(_KEY["atomic"] + 101, index)
    a = size * rng.uniform(0.03, 0.07)
    hexagonal = rng.random() < 0.5
    b1 = np.array([1.0, 0.0]) * a
    b2 = (np.array([0.5, np.sqrt(3) / 2]) if hexagonal else np.array([0.0, 1.0])) * a * rng.uniform(0.9, 1.1)
    t = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    b1, b2 = rot @ b1, rot @ b2
    n = int(np.ceil(size / a * 1.6))
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    c = (size - 1) / 2.0
    pos = i.reshape(-1, 1) * b1 + j.reshape(-1, 1) * b2 + c + rng.uniform(-a, a, 2)
    # particle: convex polygon of random radius
    k = int(rng.integers(5, 10))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = size * rng.uniform(0.2, 0.42) * rng.uniform(0.8, 1.0, k)
    mask = np.zeros((size, size), bool)
    rr, cc = polygon(c + rad * np.sin(ang), c + rad * np.cos(ang), shape=mask.shape)
    mask[rr, cc] = True
    inside = (pos[:, 0] >= 0) & (pos[:, 0] < size) & (pos[:, 1] >= 0) & (pos[:, 1] < size)
    pos = pos[inside]
    keep = mask[pos[:, 0].astype(int), pos[:, 1].astype(int)] & (rng.random(len(pos)) > 0.03)
    pos = pos[keep]
    sigma = a * rng.uniform(0.12, 0.22)
    img = np.zeros((size, size), np.float64)
    yy = np.arange(size, dtype=np.float64)
    r = int(np.ceil(4 * sigma))
    amp = rng.uniform(0.8, 1.0, len(pos))
    for (py, px), w in zip(pos, amp):
        y0, y1 = max(0, int(py) - r), min(size, int(py) + r + 2)
        x0, x1 = max(0, int(px) - r), min(size, int(px) + r + 2)
        gy = np.exp(-0.5 * ((yy[y0:y1] - py) / sigma) ** 2)
        gx = np.exp(-0.5 * ((yy[x0:x1] - px) / sigma) ** 2)
        img[y0:y1, x0:x1] += w * gy[:, None] * gx[None, :]
    img += rng.uniform(0.0, 0.08) * rng.random((size, size)) * (rng.random() < 0.5)
    hi = float(img.max())
    return (img / hi).astype(np.float32) if hi > 0 else img.astype(np.float32)


def atomic(index: int, size: int = 256) -> np.ndarray:
    """Slice through a simulated nanocrystal (:func:`napari_irdm.simulate.slice_source`), randomly rotated.

    Raises
    ------
    RuntimeError
        The simulator failed or gave no finite ``(size, size)`` image (one line naming the source
        and the index; the simulator's error is chained). There is no substitute source.
    """
    from napari_irdm.simulate import slice_source

    rng = source_rng(_KEY["atomic"], index)
    what = f"training source 'atomic' (napari_irdm.simulate.slice_source({index}, size={size}))"
    try:
        base = np.asarray(slice_source(index, size=size), dtype=np.float32)
    except Exception as err:  # noqa: BLE001 - named and chained, never swallowed
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RuntimeError(f"{what} failed: {type(err).__name__}: {first}") from err
    if base.shape != (size, size) or not np.all(np.isfinite(base)):
        raise RuntimeError(f"{what} gave {'shape ' + str(base.shape) if base.shape != (size, size) else 'NaN / Inf'}"
                           f" instead of a finite {size}x{size} image")
    return augment(base, "atomic", size, rng)


#: name -> source function
SOURCES: dict[str, Callable[..., np.ndarray]] = {
    "phantom": phantom,
    "mgh": mgh,
    "nbia": nbia,
    "medical": medical,
    "natural": natural,
    "atomic": atomic,
    **_families.FAMILIES,
}

porous = _families.porous
faceted = _families.faceted
coreshell = _families.coreshell
supported = _families.supported
rods = _families.rods
polycrystal = _families.polycrystal
amorphous = _families.amorphous
ensemble = _families.ensemble


def get_source(name: str) -> Callable[..., np.ndarray]:
    """The source function called ``name`` (one of :data:`SOURCES`)."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}") from None
