"""MRC / CCP4 files (``.mrc .st .ali .mrcs .preali .rec .map``) through ``mrcfile``.

Reading is lazy (nothing is loaded until used) but does not memory-map: the data come
through :class:`~napari_irdm.io._filearray.FileArray`, ordinary reads that turn a file
truncated while it is read into a one-line error instead of a SIGBUS. Files without the
``MAP `` id string (old FEI / TIA exports) are read in ``mrcfile``'s permissive mode
with a warning. Tilt angles and pixel size are taken from the extended header when it
is one we know: FEI1/FEI2, the legacy FEI layout (1024 records of 32 float32: field 0
= alpha tilt in degrees, field 11 = pixel size in metres), SerialEM/IMOD (``nint`` /
``nreal`` flags: tilt angle × 100 as int16) and our own ``IRDM`` JSON block.

Writing is atomic (temp file in the same folder, then ``os.replace``) and always
float32 (mode 2), with the voxel size set and provenance in the header labels.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_irdm.errors import DataWarning, ParameterError
from napari_irdm.io._atomic import atomic_path, ensure_free_space, format_bytes, reserve_space
from napari_irdm.io._errors import missing_file
from napari_irdm.io._filearray import FileArray

__all__ = [
    "MRC_SUFFIXES",
    "MrcContents",
    "create_volume_mrc",
    "header_angles",
    "is_mrc_header",
    "mrc_labels",
    "open_mrc",
    "write_mrc",
]

MRC_SUFFIXES = (".mrc", ".st", ".ali", ".mrcs", ".preali", ".rec", ".map")
_HEADER_BYTES = 1024
_IRDM_EXTTYP = b"IRDM"
# pixel sizes outside this range (Å) in a header are treated as junk
_PIXEL_RANGE_A = (1e-3, 1e5)


@dataclass
class MrcContents:
    """What :func:`open_mrc` found in an MRC file (data read lazily, read-only)."""

    path: Path
    data: FileArray
    mode: int
    voxel_size_A: tuple[float, float, float]
    labels: list[str]
    exttyp: str
    ext_header: bytes
    has_map_id: bool
    byteorder: str
    nint: int = 0
    nreal: int = 0
    warnings: list[str] = field(default_factory=list)
    #: MRC space group: 0 = image stack (a tilt series), 1 = a volume (401: stack of volumes)
    ispg: int = 0

    @property
    def pixel_size_A(self) -> float | None:
        """In-plane pixel size in Å, or ``None`` when the header does not really say.

        ``cella / mx`` of exactly 1.0 is what a header gets when nobody set the cell (the
        cell then equals the grid size, as FEI, TIA and many converters write it), so 1.0 Å
        counts as unset; 0 and non-finite values too.
        """
        x, y = self.voxel_size_A[0], self.voxel_size_A[1]
        if not (np.isfinite(x) and x > 0) or x == 1.0:
            return None
        if not (_PIXEL_RANGE_A[0] <= x <= _PIXEL_RANGE_A[1]):
            return None
        if np.isfinite(y) and y > 0 and y != 1.0 and abs(y - x) > 1e-3 * x:
            warnings.warn(
                f"{self.path}: pixel size differs along x ({x:g} Å) and y ({y:g} Å); using x",
                DataWarning,
                stacklevel=3,
            )
        return _round_sig(x)

    @property
    def irdm_metadata(self) -> dict | None:
        """The JSON block napari-irdm writes in the extended header (checked), or ``None``.

        Raises
        ------
        ValueError
            When the block is ours but holds values of the wrong type (angles not a list of
            numbers, pixel size not a positive number, provenance not a list of text).
        """
        if self.exttyp != _IRDM_EXTTYP.decode() or not self.ext_header:
            return None
        try:
            meta = json.loads(self.ext_header.rstrip(b"\0 ").decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(meta, dict):
            return None
        return check_irdm_metadata(meta, self.path, "MRC extended header")


def check_irdm_metadata(meta: dict, path, where: str) -> dict:
    """Validate the types in a napari-irdm metadata block (MRC extended header or TIFF Info).

    Raises a one-line ``ValueError`` naming the file and the bad field.
    """
    fix = "re-write the file with napari-irdm, or give `angles_file` / `pixel_size_A` to override"
    names = ("angles_file", "pixel_size_A")
    angles = meta.get("tilt_angles_deg")
    if angles is not None:
        ok = isinstance(angles, list) and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in angles)
        if not ok or not angles:
            raise ParameterError(f"{path}: 'tilt_angles_deg' in the napari-irdm {where} is not a list of numbers "
                                 f"(got {type(angles).__name__}): {fix}", *names)
    px = meta.get("pixel_size_A")
    if px is not None:
        ok = isinstance(px, (int, float)) and not isinstance(px, bool) and np.isfinite(px) and px > 0
        if not ok:
            raise ParameterError(f"{path}: 'pixel_size_A' in the napari-irdm {where} is not a positive number "
                                 f"(got {json.dumps(px)[:40]}): {fix}", *names)
    prov = meta.get("provenance")
    if prov is not None and not (isinstance(prov, list) and all(isinstance(p, str) for p in prov)):
        raise ParameterError(f"{path}: 'provenance' in the napari-irdm {where} is not a list of text lines: {fix}",
                             *names)
    kind = meta.get("kind")
    if kind is not None and kind not in ("volume", "tilt series"):
        raise ParameterError(f"{path}: 'kind' in the napari-irdm {where} must be 'volume' or 'tilt series', "
                             f"got {json.dumps(kind)[:40]}: {fix}", *names)
    return meta


def is_mrc_header(head: bytes) -> bool:
    """Cheap plausibility check of the first 1024 bytes of a file as an MRC header."""
    if len(head) < _HEADER_BYTES:
        return False
    if head[208:212] == b"MAP ":
        return True
    for order in ("<", ">"):
        nx, ny, nz, mode = np.frombuffer(head[:16], dtype=f"{order}i4")
        if 0 < nx < 2**20 and 0 < ny < 2**20 and 0 < nz < 2**24 and mode in (0, 1, 2, 3, 4, 6, 12):
            return True
    return False


def open_mrc(path: str | os.PathLike) -> MrcContents:
    """Open an MRC file read-only, data memory-mapped.

    Raises
    ------
    ValueError
        Missing, empty, truncated or corrupt file (one line naming the file and the fix).
    """
    import mrcfile
    from mrcfile import utils

    path = Path(path)
    if not path.exists():
        raise missing_file(path, "MRC file")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an MRC file: give the file")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path} is empty (0 bytes): re-copy or re-export the file")
    if size < _HEADER_BYTES:
        raise ValueError(f"{path} is truncated ({size} bytes, an MRC header alone is 1024): re-copy or re-export the file")
    with open(path, "rb") as fh:
        head = fh.read(_HEADER_BYTES)
    has_map_id = head[208:212] == b"MAP "
    if not has_map_id and not is_mrc_header(head):
        raise ValueError(f"{path} is not an MRC file (no MAP id and an impossible header): check the file or its format")
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with mrcfile.open(path, mode="r", permissive=True, header_only=True) as mrc:
                header = mrc.header.copy()
                voxel = mrc.voxel_size
                voxel_size = (float(voxel.x), float(voxel.y), float(voxel.z))
                labels = [_label_text(lab) for lab in mrc.get_labels()]
        caught = [str(w.message) for w in record]
    except Exception as err:  # mrcfile raises ValueError, OSError, EOFError... for bad headers
        raise ValueError(f"{path} is not a readable MRC file ({_first_line(err)}): check the file or re-export it") from None
    if header is None:
        raise ValueError(f"{path} has an unreadable MRC header ({'; '.join(caught) or 'unknown'}): re-export the file")
    byteorder = header.dtype["nx"].byteorder
    byteorder = {"=": "<" if np.little_endian else ">", "|": "<"}.get(byteorder, byteorder)
    try:
        dtype = utils.data_dtype_from_header(header)
        shape = tuple(int(s) for s in utils.data_shape_from_header(header))
    except Exception as err:
        raise ValueError(f"{path} has a corrupt MRC header ({_first_line(err)}): re-export the file") from None
    if dtype.kind == "c":
        raise ValueError(f"{path} holds complex (Fourier) data, mode {int(header.mode)}: give real-space images")
    if any(s <= 0 for s in shape):
        raise ValueError(f"{path} has a corrupt MRC header (shape {shape}): re-export the file")
    nsymbt = int(header.nsymbt)
    if nsymbt < 0:
        raise ValueError(f"{path} has a corrupt MRC header (extended header size {nsymbt}): re-export the file")
    offset = _HEADER_BYTES + nsymbt
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        raise ValueError(
            f"{path} is truncated ({size} bytes, the header promises {expected} for {'x'.join(map(str, shape))} "
            f"{dtype.name}): re-copy or re-export the file"
        )
    with open(path, "rb") as fh:
        fh.seek(_HEADER_BYTES)
        ext = fh.read(nsymbt)
    data = FileArray(path, dtype, shape, offset)
    nint, nreal = (int(v) for v in np.frombuffer(head[128:132], dtype=f"{byteorder}i2"))
    exttyp = bytes(header.exttyp).decode("latin-1").strip("\0 ")
    if not has_map_id:
        msg = f"{path}: no 'MAP ' id string in the MRC header (an old FEI/TIA file?); read in permissive mode"
        warnings.warn(msg, DataWarning, stacklevel=2)
        caught.insert(0, msg)
    return MrcContents(
        path=path,
        data=data,
        mode=int(header.mode),
        voxel_size_A=voxel_size,
        labels=[lab for lab in labels if lab],
        exttyp=exttyp,
        ext_header=ext,
        has_map_id=has_map_id,
        byteorder=byteorder,
        nint=nint,
        nreal=nreal,
        warnings=caught,
        ispg=int(header.ispg),
    )


def header_angles(mrc: MrcContents, n_images: int) -> tuple[np.ndarray, float | None, str] | None:
    """Tilt angles (and pixel size) stored in the extended header, or ``None``.

    Returns
    -------
    (angles_deg, pixel_size_A or None, source) or None
        ``source`` is ``"FEI extended header"``, ``"SerialEM extended header"`` or
        ``"napari-irdm header"``.
    """
    ext = mrc.ext_header
    if not ext:
        return None
    meta = mrc.irdm_metadata
    if meta is not None:
        angles = meta.get("tilt_angles_deg")
        if angles is None:
            return None
        px = meta.get("pixel_size_A")
        return np.asarray(angles, dtype=np.float64), (float(px) if px else None), "napari-irdm header"
    if mrc.exttyp in ("FEI1", "FEI2"):
        return _fei_angles(mrc, n_images)
    if mrc.exttyp in ("SERI", "AGAR") or (mrc.exttyp in ("", "MRCO") and 0 < mrc.nint and mrc.nreal & 1 and mrc.nreal < 2**10):
        return _serialem_angles(mrc, n_images)
    if mrc.exttyp in ("", "MRCO") and mrc.nint == 0 and len(ext) >= 128 * n_images:
        return _legacy_fei_angles(mrc, n_images)
    return None


def _fei_angles(mrc: MrcContents, n: int):
    from mrcfile.dtypes import get_ext_header_dtype

    dt = get_ext_header_dtype(mrc.exttyp.encode(), mrc.byteorder)
    if dt is None or len(mrc.ext_header) < dt.itemsize:
        return None
    first = np.frombuffer(mrc.ext_header[: dt.itemsize], dtype=dt)[0]
    stride = int(first["Metadata size"])
    if stride < dt.itemsize or stride * n > len(mrc.ext_header):
        return None
    recs = [np.frombuffer(mrc.ext_header[i * stride : i * stride + dt.itemsize], dtype=dt)[0] for i in range(n)]
    angles = np.array([float(r["Alpha tilt"]) for r in recs])
    return angles, _metres_to_A(float(recs[0]["Pixel size X"])), "FEI extended header"


def _legacy_fei_angles(mrc: MrcContents, n: int):
    recs = np.frombuffer(mrc.ext_header[: 128 * n], dtype=f"{mrc.byteorder}f4").reshape(n, 32).astype(np.float64)
    angles = recs[:, 0]
    # A guess from layout alone: accept only what looks like tilt angles.
    if not np.all(np.isfinite(angles)) or np.any(np.abs(angles) > 90) or (n > 1 and np.all(angles == angles[0])):
        return None
    return angles, _metres_to_A(recs[0, 11]), "FEI extended header"


def _serialem_angles(mrc: MrcContents, n: int):
    nint = mrc.nint
    if nint < 2 or len(mrc.ext_header) < nint * n:
        return None
    raw = np.frombuffer(mrc.ext_header[: nint * n], dtype=np.uint8).reshape(n, nint)
    angles = raw[:, :2].copy().view(f"{mrc.byteorder}i2").ravel().astype(np.float64) / 100.0
    return angles, None, "SerialEM extended header"


def _metres_to_A(value: float) -> float | None:
    if not np.isfinite(value) or value <= 0:
        return None
    px = float(value) * 1e10
    if not (_PIXEL_RANGE_A[0] <= px <= _PIXEL_RANGE_A[1]):
        return None
    return _round_sig(px)


def _round_sig(value: float) -> float:
    """Round to 6 significant digits: headers hold float32, so 33.599998 means 33.6."""
    return float(f"{float(value):.6g}")


def mrc_labels(provenance: Sequence[str] = (), tilt_angles_deg=None) -> list[str]:
    """At most 10 ASCII labels of at most 80 characters.

    Version + date, tilt range, provenance (its newest lines when they do not all fit: the step that made the file is the last one).
    """
    from napari_irdm import __version__

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    labels = [f"napari-irdm {__version__} {now}"]
    if tilt_angles_deg is not None:
        labels.append("tilt " + _describe_angles(tilt_angles_deg))
    lines = [_ascii(p) for p in provenance if str(p).strip()]
    room = 10 - len(labels)
    if len(lines) > room:
        lines = lines[len(lines) - room + 1 :] + [f"(+{len(lines) - room + 1} more lines, older, in the extended header)"]
    return [lab[:80] for lab in labels + lines]


def _describe_angles(angles) -> str:
    a = np.asarray(angles, dtype=np.float64).ravel()
    if a.size == 0:
        return "angles: none"
    text = f"{a.min():g}..{a.max():g} deg, {a.size} images"
    d = np.diff(a)
    if a.size > 1 and np.allclose(d, d[0], atol=1e-6):
        text += f", step {d[0]:g}"
    return text


def _ascii(text: str) -> str:
    table = {"°": " deg", "Å": "A", "±": "+-", "×": "x", "θ": "theta", "µ": "u", "—": "-", "–": "-", "²": "^2", "³": "^3"}
    out = "".join(table.get(c, c) for c in str(text).replace("\n", " ").replace("\t", " "))
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in out)


def _irdm_ext_header(pixel_size_A, provenance, tilt_angles_deg, kind: str = "volume") -> np.ndarray:
    from napari_irdm import __version__

    meta = {
        "napari_irdm": __version__,
        "kind": kind,
        "pixel_size_A": None if pixel_size_A is None else float(pixel_size_A),
        "tilt_angles_deg": None if tilt_angles_deg is None else [float(v) for v in np.asarray(tilt_angles_deg).ravel()],
        "provenance": [str(p) for p in provenance],
    }
    raw = json.dumps(meta, ensure_ascii=True).encode("ascii")
    raw += b" " * (-len(raw) % 4)
    return np.frombuffer(raw, dtype="V1").copy()


def _check_pixel_size(pixel_size_A, path) -> float | None:
    if pixel_size_A is None:
        return None
    px = float(pixel_size_A)
    if not np.isfinite(px) or px <= 0:
        raise ValueError(f"pixel size {pixel_size_A!r} Å for {path} must be a positive number of Ångström")
    return px


@contextlib.contextmanager
def create_volume_mrc(
    path: str | os.PathLike,
    shape: Sequence[int],
    *,
    pixel_size_A: float | None = None,
    provenance: Sequence[str] = (),
    tilt_angles_deg=None,
    image_stack: bool = False,
) -> Iterator[np.memmap]:
    """Create a float32 MRC to fill chunk by chunk; atomic.

    Parameters
    ----------
    path
        Target file; written as a temp file in the same folder and renamed on success.
    shape : (nz, ny, nx)
        Volume shape (for ``image_stack=True``: ``(n_tilts, ny, nx)``).
    pixel_size_A
        Voxel size in Å (``None`` leaves the header at 0: unknown).
    provenance
        History lines: in the labels (≤ 10 × 80 ASCII characters) and, complete, in the
        extended header (``exttyp = "IRDM"``, JSON; other programs skip it).
    tilt_angles_deg
        Angles of the series (summarised in a label, kept exactly in the extended header).
    image_stack
        Mark the file as an image stack (space group 0) rather than a volume.

    Yields
    ------
    numpy.memmap, shape ``shape``, float32
        Writable; contents start at 0. On clean exit the header statistics are computed
        (one chunked pass) and the file is renamed to ``path``; on an exception the temp
        file is deleted and ``path`` is left untouched.
    """
    import mrcfile

    path = Path(path)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or any(s <= 0 for s in shape):
        raise ValueError(f"cannot create {path} with shape {shape}: give a positive 3-D shape (nz, ny, nx)")
    px = _check_pixel_size(pixel_size_A, path)
    provenance = tuple(str(p) for p in provenance)
    ext = _irdm_ext_header(px, provenance, tilt_angles_deg, "tilt series" if image_stack else "volume")
    nbytes = _HEADER_BYTES + ext.size + 4 * int(np.prod(shape, dtype=np.int64))
    what = f"the {'x'.join(map(str, shape))} float32 {'tilt series' if image_stack else 'volume'} " \
           f"({format_bytes(nbytes)})"
    ensure_free_space(path, nbytes, what=what)
    with atomic_path(path) as tmp:
        # the blocks are allocated before the memory map is written: a full disk is then a
        # clean error here, never a SIGBUS half-way through
        mrc = mrcfile.new_mmap(tmp, shape, mrc_mode=2, overwrite=True, extended_header=ext, exttyp=_IRDM_EXTTYP)
        try:
            fd = os.open(tmp, os.O_RDWR)
            try:
                reserve_space(fd, os.fstat(fd).st_size, path, what=what)
            finally:
                os.close(fd)
            yield mrc.data
            if image_stack:
                mrc.set_image_stack()
            mrc.voxel_size = px if px is not None else 0.0
            mrc.header.nlabl = 0
            for label in mrc_labels(provenance, tilt_angles_deg):
                mrc.add_label(label)
            _update_stats(mrc)
        finally:
            mrc.close()


def write_mrc(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    pixel_size_A: float | None = None,
    provenance: Sequence[str] = (),
    tilt_angles_deg=None,
    image_stack: bool = False,
) -> Path:
    """Write a 3-D array as a float32 MRC (chunked copy through :func:`create_volume_mrc`)."""
    data = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if data.ndim != 3:
        raise ValueError(f"cannot write {path}: data has shape {data.shape}, need 3-D (nz, ny, nx)")
    if data.dtype.kind not in "biuf":
        raise ValueError(f"cannot write {path}: data type {data.dtype} is not real numbers")
    with create_volume_mrc(
        path, data.shape, pixel_size_A=pixel_size_A, provenance=provenance,
        tilt_angles_deg=tilt_angles_deg, image_stack=image_stack,
    ) as out:
        step = _chunk(data.shape)
        for z in range(0, data.shape[0], step):
            out[z : z + step] = data[z : z + step]
    return Path(path)


def _chunk(shape, target_bytes: int = 64 * 2**20) -> int:
    return max(1, target_bytes // max(1, 4 * int(np.prod(shape[1:]))))


def _update_stats(mrc) -> None:
    data = mrc.data
    lo, hi, s, s2, n = np.inf, -np.inf, 0.0, 0.0, 0
    step = _chunk(data.shape)
    for z in range(0, data.shape[0], step):
        c = np.asarray(data[z : z + step], dtype=np.float64)
        lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
        s += float(c.sum())
        s2 += float(np.vdot(c, c))
        n += c.size
    mean = s / n
    h = mrc.header
    h.dmin, h.dmax, h.dmean = lo, hi, mean
    h.rms = float(np.sqrt(max(0.0, s2 / n - mean * mean)))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _label_text(label) -> str:
    if isinstance(label, bytes):
        label = label.decode("latin-1")
    return " ".join(str(label).replace("\0", " ").split())
