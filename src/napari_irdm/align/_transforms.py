"""Per-image alignment transforms: IMOD ``.xf`` semantics, application, scaling, files.

Convention (tested in ``tests/align/test_transforms.py``)
--------------------------------------------------------
Image coordinates are ``(x, y) = (column, row)`` measured from the image centre
``((nx − 1) / 2, (ny − 1) / 2)`` (IMOD's ``nx/2`` with pixel centres at ``i + 0.5``).
One transform per image, as in IMOD's ``.xf``: ``A11 A12 A21 A22 DX DY`` maps a point ``x``
of the *raw* image to the point ``x' = A x + d`` of the *aligned* image, i.e.
``aligned(A x + d) = raw(x)``. For a rotation, ``A = R(−φ)`` with ``φ`` the tilt-axis angle in
the raw image, counter-clockwise from the ``+y`` (row) axis in ``(x, y)``, like AreTomo's
``ROT`` and IMOD's rotation angle. So a pure shift ``d = (+2, 0)`` moves the content of the
raw image 2 pixels towards larger column index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Transforms", "apply_transforms", "read_aln", "read_xf", "write_tlt", "write_xf"]


@dataclass(frozen=True)
class Transforms:
    """Alignment of a tilt series: one 2×3 ``.xf`` matrix per image plus the geometry it refers to.

    Attributes
    ----------
    matrices : ndarray, shape (n, 2, 3)
        ``[[A11, A12, DX], [A21, A22, DY]]`` per image, ``DX, DY`` in pixels of ``pixel_size_A``.
    tilt_angles_deg : ndarray, shape (n,)
        Refined tilt angles (``.tlt``).
    pixel_size_A : float or None
        Pixel size the shifts are in.
    image_shape : tuple (ny, nx) or None
        Shape of the raw images the transforms apply to.
    """

    matrices: np.ndarray
    tilt_angles_deg: np.ndarray
    pixel_size_A: float | None = None
    image_shape: tuple[int, int] | None = None
    provenance: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_parameters(cls, shifts_xy, rotation_deg: float, tilt_angles_deg, **kw) -> Transforms:
        """Transforms ``A = R(−φ)`` (one in-plane tilt-axis angle) with per-image shifts ``d``.

        Parameters
        ----------
        shifts_xy : array_like, shape (n, 2)
            ``(DX, DY)`` per image, pixels.
        rotation_deg : float
            Tilt-axis angle ``φ`` in the raw images (degrees, see module notes).
        """
        d = np.asarray(shifts_xy, dtype=np.float64).reshape(-1, 2)
        c, s = np.cos(np.deg2rad(rotation_deg)), np.sin(np.deg2rad(rotation_deg))
        m = np.zeros((d.shape[0], 2, 3))
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, s, -s, c
        m[:, :, 2] = d
        return cls(m, np.asarray(tilt_angles_deg, np.float64).ravel(), **kw)

    @classmethod
    def identity(cls, tilt_angles_deg, **kw) -> Transforms:
        a = np.asarray(tilt_angles_deg, np.float64).ravel()
        return cls.from_parameters(np.zeros((a.size, 2)), 0.0, a, **kw)

    @property
    def n(self) -> int:
        return int(self.matrices.shape[0])

    @property
    def shifts_xy(self) -> np.ndarray:
        """``(DX, DY)`` per image, shape (n, 2)."""
        return self.matrices[:, :, 2].copy()

    @property
    def rotation_deg(self) -> float:
        """Mean tilt-axis angle ``φ`` of the matrices (``A = R(−φ)``)."""
        return float(np.rad2deg(np.arctan2(self.matrices[:, 0, 1], self.matrices[:, 0, 0])).mean())

    def replace(self, **changes) -> Transforms:
        return replace(self, **changes)

    def subset(self, keep) -> Transforms:
        keep = np.asarray(keep)
        return self.replace(matrices=self.matrices[keep], tilt_angles_deg=self.tilt_angles_deg[keep])

    def scaled(self, pixel_size_A: float | None = None, *, factor: float | None = None,
               image_shape: tuple[int, int] | None = None) -> Transforms:
        """The same physical alignment for another sampling of the same field of view.

        Give the new ``pixel_size_A`` (needs this one's) or a ``factor`` (new pixels per old
        pixel, e.g. 0.5 for a 2× binned copy). Rotation parts are unchanged; shifts scale by
        ``old pixel / new pixel``. Centres coincide (both images centred on the same point).
        """
        if factor is None:
            if pixel_size_A is None or self.pixel_size_A is None:
                raise ValueError("scaling transforms needs both pixel sizes (or factor=new/old pixels per length)")
            factor = float(self.pixel_size_A) / float(pixel_size_A)
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"scale factor must be a positive number, got {factor}")
        m = self.matrices.copy()
        m[:, :, 2] *= factor
        px = pixel_size_A if pixel_size_A is not None else (
            None if self.pixel_size_A is None else self.pixel_size_A / factor)
        return self.replace(matrices=m, pixel_size_A=px, image_shape=image_shape)

    def compose(self, then: Transforms) -> Transforms:
        """The transform ``then ∘ self`` (first this one, then ``then``), per image."""
        if then.n != self.n:
            raise ValueError(f"cannot compose transforms of {self.n} and {then.n} images")
        a1, d1 = self.matrices[:, :, :2], self.matrices[:, :, 2]
        a2, d2 = then.matrices[:, :, :2], then.matrices[:, :, 2]
        m = np.empty_like(self.matrices)
        m[:, :, :2] = a2 @ a1
        m[:, :, 2] = np.einsum("nij,nj->ni", a2, d1) + d2
        return self.replace(matrices=m, tilt_angles_deg=then.tilt_angles_deg)


def _coordinates(ny: int, nx: int, device) -> torch.Tensor:
    y = torch.arange(ny, dtype=torch.float64, device=device) - (ny - 1) / 2.0
    x = torch.arange(nx, dtype=torch.float64, device=device) - (nx - 1) / 2.0
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy], dim=-1)  # (ny, nx, 2) as (x, y)


def apply_transforms(stack, transforms: Transforms, *, fill: str = "median", device=None):
    """Resample raw images into the aligned frame: ``aligned(A x + d) = raw(x)``.

    Parameters
    ----------
    stack : ndarray or tensor, shape (n, ny, nx)
    transforms : Transforms
        One matrix per image, shifts in pixels of ``stack``.
    fill : {"median", "zero"}
        Value outside the raw field of view: each image's median (its background) or 0.

    Returns
    -------
    Same type as ``stack``, float32, shape (n, ny, nx).

    Notes
    -----
    Pure translations are applied as Fourier phase shifts (``torch-fourier-shift``) of the image
    padded by its fill value to twice its size (no wrap-around; exact for band-limited images);
    anything with a rotation is resampled with bicubic interpolation (``grid_sample``).
    """
    from napari_irdm.device import resolve_device

    is_np = not isinstance(stack, torch.Tensor)
    dev = resolve_device(device if device is not None else (None if is_np else stack.device))
    t = torch.as_tensor(np.asarray(stack, np.float32) if is_np else stack, device=dev).float()
    if t.ndim != 3 or t.shape[0] != transforms.n:
        raise ValueError(f"apply_transforms: got {tuple(t.shape)} images for {transforms.n} transforms")
    n, ny, nx = t.shape
    fills = t.flatten(1).median(dim=1).values if fill == "median" else torch.zeros(n, device=dev)
    a = torch.as_tensor(transforms.matrices[:, :, :2], dtype=torch.float64, device=dev)
    d = torch.as_tensor(transforms.matrices[:, :, 2], dtype=torch.float64, device=dev)
    eye = torch.eye(2, dtype=torch.float64, device=dev)
    if bool(torch.allclose(a, eye.expand_as(a), atol=1e-9)):
        from torch_fourier_shift import fourier_shift_image_2d

        py, px = ny // 2, nx // 2
        centred = t - fills[:, None, None]
        padded = F.pad(centred, (px, px, py, py))
        shifted = fourier_shift_image_2d(padded, d.flip(-1).float())  # library takes (dy, dx)
        out = shifted[:, py : py + ny, px : px + nx] + fills[:, None, None]
    else:
        xy = _coordinates(ny, nx, dev)  # output points x'
        ainv = torch.linalg.inv(a)  # source x = A⁻¹ (x' − d)
        src = torch.einsum("nij,hwj->nhwi", ainv, xy) - torch.einsum("nij,nj->ni", ainv, d)[:, None, None, :]
        grid = torch.empty_like(src)
        grid[..., 0] = src[..., 0] / max((nx - 1) / 2.0, 0.5)
        grid[..., 1] = src[..., 1] / max((ny - 1) / 2.0, 0.5)
        centred = (t - fills[:, None, None])[:, None]
        out = F.grid_sample(centred, grid.float(), mode="bicubic", padding_mode="zeros", align_corners=True)
        out = out[:, 0] + fills[:, None, None]
    return out.cpu().numpy() if is_np else out


# --------------------------------------------------------------------------- files


def write_xf(path: str | os.PathLike, transforms: Transforms) -> Path:
    """Write an IMOD ``.xf`` (one line ``A11 A12 A21 A22 DX DY`` per image, IMOD's fixed columns); atomic."""
    from napari_irdm.io import atomic_path

    path = Path(path)
    m = transforms.matrices
    lines = [
        f"{r[0, 0]:12.7f}{r[0, 1]:12.7f}{r[1, 0]:12.7f}{r[1, 1]:12.7f}{r[0, 2]:12.3f}{r[1, 2]:12.3f}" for r in m
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def write_tlt(path: str | os.PathLike, transforms: Transforms) -> Path:
    """Write the (refined) tilt angles as an IMOD ``.tlt``; atomic."""
    from napari_irdm.io.angles import write_angles

    return write_angles(path, transforms.tilt_angles_deg)


def read_xf(path: str | os.PathLike, *, tilt_angles_deg=None, pixel_size_A: float | None = None) -> Transforms:
    """Read an IMOD ``.xf`` (6 numbers per line); angles from ``tilt_angles_deg`` or a sidecar ``.tlt``.

    Raises
    ------
    ValueError
        Missing file, a line that is not 6 numbers, non-finite values, a singular matrix.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"transform file {path} does not exist: check the path")
    rows = []
    for k, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        try:
            vals = [float(v) for v in line.split()]
        except ValueError:
            vals = []
        if len(vals) != 6 or not np.all(np.isfinite(vals)):
            raise ValueError(f"{path} line {k}: an .xf line must be 6 numbers 'A11 A12 A21 A22 DX DY', got {line.strip()[:60]!r}")
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path} holds no transforms: it must have one line 'A11 A12 A21 A22 DX DY' per image")
    v = np.asarray(rows)
    m = np.stack([np.stack([v[:, 0], v[:, 1], v[:, 4]], 1), np.stack([v[:, 2], v[:, 3], v[:, 5]], 1)], 1)
    if np.any(np.abs(np.linalg.det(m[:, :, :2])) < 1e-6):
        raise ValueError(f"{path} has a singular 2x2 matrix: the file is not an image-alignment .xf")
    if tilt_angles_deg is None:
        tlt = path.with_suffix(".tlt")
        if tlt.is_file():
            from napari_irdm.io.angles import read_angles

            tilt_angles_deg = read_angles(tlt)
        else:
            tilt_angles_deg = np.full(len(rows), np.nan)
    a = np.asarray(tilt_angles_deg, np.float64).ravel()
    if a.size != len(rows):
        raise ValueError(f"{path} has {len(rows)} transforms but {a.size} tilt angles were given: they must match")
    return Transforms(m, a, pixel_size_A=pixel_size_A, provenance=(f"transforms from {path.name}",))


def read_aln(path: str | os.PathLike, *, pixel_size_A: float | None = None) -> tuple[Transforms, np.ndarray]:
    """Read an AreTomo ``.aln`` (global alignment) with ``alnfile``.

    Returns
    -------
    transforms : Transforms
        ``.xf`` matrices (``alnfile.df_to_xf``: ``A = R(−ROT)``, ``d = −A·(TX, TY)``) and the
        refined tilt angles (``TILT``).
    sections : ndarray of int
        The raw-stack image index of each row (AreTomo's ``SEC``; dark images it dropped are absent).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"AreTomo alignment {path} does not exist: check the path")
    try:
        import alnfile

        df = alnfile.read(path)
        m = np.asarray(alnfile.df_to_xf(df), dtype=np.float64)
    except ImportError as err:
        raise ValueError(f"reading {path} needs the 'alnfile' package: pip install alnfile ({err})") from err
    except Exception as err:  # a foreign or damaged file: one line, no traceback
        first = (str(err).splitlines() or [""])[0]
        raise ValueError(f"{path} is not a readable AreTomo .aln file ({type(err).__name__}: {first})") from err
    if m.ndim != 3 or m.shape[0] == 0:
        raise ValueError(f"{path} holds no global alignment rows")
    angles = np.asarray(df["tilt"], np.float64)
    sections = np.asarray(df["sec"], dtype=int)
    return Transforms(m, angles, pixel_size_A=pixel_size_A, provenance=(f"transforms from {path.name} (AreTomo)",)), sections
