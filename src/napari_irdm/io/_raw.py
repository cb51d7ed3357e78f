"""Opening files without loading them; where angles and pixel size come from."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np

from napari_irdm.errors import DataWarning, ParameterError
from napari_irdm.geometry import angles_from_range, check_angles
from napari_irdm.io._errors import MissingAnglesError, as_path, missing_file
from napari_irdm.io._filearray import FileArray
from napari_irdm.io.angles import find_sidecar_angles, read_angles
from napari_irdm.io.mrc import MRC_SUFFIXES, MrcContents, header_angles, open_mrc
from napari_irdm.io.tiff import TIFF_SUFFIXES, TiffContents, is_tiff_header, open_tiff

__all__ = ["CHUNK_BYTES", "SERIES_SUFFIXES", "SUPPORTED_SUFFIXES", "VOLUME_SUFFIXES", "Raw", "check_axis",
           "decide_content", "open_raw", "resolve_angles", "resolve_pixel", "sample"]

SUPPORTED_SUFFIXES = MRC_SUFFIXES + TIFF_SUFFIXES
#: IMOD's names for image stacks (raw, aligned, pre-aligned) and for reconstructions
SERIES_SUFFIXES = (".st", ".ali", ".mrcs", ".preali")
VOLUME_SUFFIXES = (".rec",)
CHUNK_BYTES = 64 * 2**20


class Raw:
    """A file opened without loading: data (memmap or array) + what the header said."""

    def __init__(self, path: Path, kind: str, contents: MrcContents | TiffContents):
        self.path = path
        self.kind = kind
        self.contents = contents
        self.data = contents.data

    @property
    def file_pixel_size(self) -> tuple[float | None, str | None]:
        c = self.contents
        if isinstance(c, MrcContents):
            px = c.pixel_size_A
            if px is not None:
                return px, "MRC header voxel size"
            meta = c.irdm_metadata
            if meta and meta.get("pixel_size_A"):
                return float(meta["pixel_size_A"]), "napari-irdm header"
            return None, None
        return c.pixel_size_A, c.pixel_source

    def header_angles(self, n: int) -> tuple[np.ndarray, float | None, str] | None:
        c = self.contents
        if isinstance(c, MrcContents):
            return header_angles(c, n)
        meta = c.irdm_metadata
        if meta and meta.get("tilt_angles_deg") is not None:
            return np.asarray(meta["tilt_angles_deg"], dtype=np.float64), meta.get("pixel_size_A"), "napari-irdm TIFF metadata"
        return None

    @property
    def file_provenance(self) -> tuple[str, ...]:
        meta = self.contents.irdm_metadata
        if meta and isinstance(meta.get("provenance"), list):
            return tuple(str(p) for p in meta["provenance"])
        if isinstance(self.contents, MrcContents):
            return tuple(lab for lab in self.contents.labels if lab)
        return ()

    @property
    def content_kind(self) -> tuple[str | None, str]:
        """``("volume" | "tilt series" | None, how we know)`` from our metadata, the MRC space
        group (0 = image stack, 1 = volume) or the TIFF axes (T, I or Q first = a stack of
        images, Z = volume). :func:`decide_content` turns it into the answer."""
        meta = self.contents.irdm_metadata
        if meta and meta.get("kind") in ("volume", "tilt series"):
            return meta["kind"], "napari-irdm metadata"
        c = self.contents
        if isinstance(c, MrcContents):
            if c.ispg == 0:
                return "tilt series", "MRC space group 0 (image stack)"
            if 1 <= c.ispg <= 230:
                return "volume", f"MRC space group {c.ispg} (volume)"
            if 401 <= c.ispg <= 630:
                return "volume", f"MRC space group {c.ispg} (volume stack)"
            return None, f"MRC space group {c.ispg} (unknown)"
        axes = getattr(c, "axes", "")
        if axes[:1] in ("T", "I", "Q"):  # time, image sequence, tifffile's plain stack
            return "tilt series", f"TIFF axes {axes}"
        if axes[:1] == "Z":
            return "volume", f"TIFF axes {axes}"
        return None, f"TIFF axes {axes or '?'}"

    def describe(self) -> str:
        if isinstance(self.contents, MrcContents):
            return f"MRC mode {self.contents.mode} ({self.data.dtype.name})"
        return f"TIFF {self.contents.axes} ({self.data.dtype.name})"


def decide_content(raw: Raw, *, angles_given: bool = False) -> tuple[str, str]:
    """Tilt series or volume: ``("tilt series" | "volume", how we know)``, one rule for
    :func:`napari_irdm.io.read`, :func:`napari_irdm.io.inspect_file` and the napari reader.

    In this order: the napari-irdm metadata of a file we wrote; angles the caller gave (a
    series); IMOD's suffixes (``.st .ali .mrcs .preali`` series, ``.rec`` volume); a header
    saying image stack (MRC space group 0, TIFF axes T/I/Q); angles for every image next to
    the file or in its extended header (many writers leave space group 1 on image stacks);
    else a volume.
    """
    kind, how = raw.content_kind
    if how == "napari-irdm metadata":
        return str(kind), how
    if angles_given:
        return "tilt series", "tilt angles given"
    suffix = raw.path.suffix.lower()
    if suffix in SERIES_SUFFIXES:
        return "tilt series", f"{suffix} file (an image stack)"
    if suffix in VOLUME_SUFFIXES:
        return "volume", f"{suffix} file (a reconstruction)"
    if kind == "tilt series":
        return kind, how
    found = find_sidecar_angles(raw.path) or raw.header_angles(raw.data.shape[0])
    if found is not None and np.asarray(found[0]).size == raw.data.shape[0]:
        return "tilt series", (f"tilt angles for every image ({found[-1]}); the header's {how} is ignored"
                               if kind == "volume" else f"tilt angles for every image ({found[-1]})")
    return "volume", how if kind == "volume" else f"{how}, no tilt angles"


def _file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in MRC_SUFFIXES:
        return "mrc"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    head = b""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        pass
    if is_tiff_header(head):
        kind = "tiff"
    elif len(head) == 1024 and head[208:212] == b"MAP ":
        kind = "mrc"
    else:
        kind = None
    if kind is not None:
        warnings.warn(
            f"{path} has the suffix {suffix or '(none)'!r} but holds {kind.upper()} data: read as {kind.upper()}; "
            f"rename it to {path.with_suffix('.mrc' if kind == 'mrc' else '.tif').name} to silence this",
            DataWarning,
            stacklevel=3,
        )
        return kind
    raise ValueError(
        f"{path}: unsupported file type {suffix or '(no extension)'!r}: "
        f"give an MRC ({' '.join(MRC_SUFFIXES)}) or TIFF ({' '.join(TIFF_SUFFIXES)}) file"
    )


def open_raw(path: str | os.PathLike, what: str) -> Raw:
    path = as_path(path, what)
    if not path.exists():
        raise missing_file(path, what)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}: give the file")
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError(f"{path} is not a regular file (a pipe, socket or device): give a {what} file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): re-copy or re-export the file")
    kind = _file_kind(path)
    contents = open_mrc(path) if kind == "mrc" else open_tiff(path)
    raw = Raw(path, kind, contents)
    if raw.data.ndim != 3:
        shape = "x".join(map(str, raw.data.shape))
        raise ValueError(f"{path} holds {raw.data.ndim}-D data ({shape}): a {what} must be a 3-D stack of images")
    if raw.data.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {raw.data.dtype} data: give real-valued images")
    return raw


def sample(data: np.ndarray | FileArray, max_values: int = 2_000_000) -> np.ndarray:
    """A strided subsample of a 3-D array (at most 64 images, ≈ ``max_values`` values)."""
    n, ny, nx = data.shape
    if n * ny * nx <= max_values:
        return np.asarray(data)
    kz = int(np.ceil(n / 64))
    m = int(np.ceil(n / kz))
    ks = max(1, int(np.ceil(np.sqrt(m * ny * nx / max_values))))
    return np.asarray(data[::kz, ::ks, ::ks])

# --------------------------------------------------------------------------- angles, pixel size


def as_angles(values, what: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of degrees; a one-line ``ValueError`` naming ``what`` otherwise."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{what} must be a list of angles in degrees (numbers), got the text {values!r}: "
                         "read an angle file with io.read_angles or pass angles_file")
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a list of angles in degrees (numbers), got "
                         f"{type(values).__name__} {str(values)[:40]!r}") from None


def resolve_angles(
    raw: Raw,
    n: int,
    *,
    tilt_angles_deg,
    tilt_range,
    tilt_step,
    angles_file,
    required: bool,
) -> tuple[np.ndarray | None, str]:
    """Angles (validated against ``n`` images) and where they came from."""
    path = raw.path
    if tilt_angles_deg is not None and (tilt_range is not None or tilt_step is not None):
        raise ValueError(f"give tilt angles for {path} either as a list or as a range with a step, not both")
    if (tilt_range is None) != (tilt_step is None):
        raise ParameterError(f"a tilt range for {path} needs both `tilt_range` and `tilt_step` (e.g. -70 70 and 2)",
                             "tilt_range", "tilt_step")
    if tilt_angles_deg is not None:
        angles, source = as_angles(tilt_angles_deg, f"tilt_angles_deg for {path}"), "explicit"
    elif tilt_range is not None:
        try:
            start, stop = (float(v) for v in tilt_range)
            float(tilt_step)
        except (TypeError, ValueError):
            raise ValueError(f"tilt range {tilt_range!r} for {path} must be two numbers (start, stop) in degrees") from None
        angles = angles_from_range(start, stop, float(tilt_step))
        source = f"range {start:g}:{stop:g}:{abs(float(tilt_step)):g}"
    elif angles_file is not None:
        af = Path(angles_file)
        angles = read_angles(af)
        source = f"{af.suffix.lstrip('.').lower() or 'file'}: {af}"
    else:
        found = find_sidecar_angles(path)
        if found is not None:
            angles, source = found
        else:
            head = raw.header_angles(n)
            if head is None:
                if not required:
                    return None, "none"
                raise MissingAnglesError(
                    f"no tilt angles for {path}: give `angles_file`, or `tilt_range` with `tilt_step` "
                    f"(or put {path.with_suffix('.rawtlt').name} next to it)"
                )
            angles, _, source = head
    return check_angles(angles, n, what=str(path), source=source), source


def resolve_pixel(raw: Raw, pixel_size_A) -> tuple[float | None, str | None]:
    if pixel_size_A is not None:
        px = float(pixel_size_A)
        if not np.isfinite(px) or px <= 0:
            raise ValueError(f"pixel size {pixel_size_A!r} Å for {raw.path} must be a positive number of Ångström")
        return px, "explicit"
    file_px, source = raw.file_pixel_size
    if file_px is not None:
        return file_px, source
    if raw.kind == "mrc":  # an extended header may carry a pixel size (FEI: metres)
        head = raw.header_angles(raw.data.shape[0])
        if head is not None and head[1] is not None:
            return float(head[1]), head[2]
    return None, None


def check_axis(tilt_axis: str, path) -> str:
    axis = str(tilt_axis).strip().lower()
    if axis not in ("y", "x"):
        raise ValueError(f"tilt_axis {tilt_axis!r} for {path} must be 'y' (image rows, default) or 'x' (columns)")
    return axis
