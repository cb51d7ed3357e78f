"""Helpers of the hostile-input sweep: tiny files, a CLI runner, and sha256 snapshots.

Every case asserts the same contract (docs/robustness.md): exit code 2, exactly one
stderr line ``napari-irdm: error: ...``, no traceback, and every file that existed before
the run byte-identical afterwards (and no new file, temp files included).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def snapshot(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every regular file under ``folder`` (symlinks by target name)."""
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link->" + os.readlink(p)
        elif p.is_file() and p.stat().st_size > 2**28:  # a sparse giant: size, time and its first MiB
            st = p.stat()
            with open(p, "rb") as fh:
                head = fh.read(2**20)
            out[rel] = f"{st.st_size}:{st.st_mtime_ns}:{hashlib.sha256(head).hexdigest()}"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif not p.is_dir():
            out[rel] = "special"
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``napari_irdm.cli.main`` in this process: (exit code, stdout, stderr). A usage error
    (SystemExit from argparse) counts as its exit code; any other exception escapes (= a traceback)."""
    from napari_irdm.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def run_sub(argv: list[str], *, env: dict | None = None, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """``python -m napari_irdm.cli ARGV`` in a subprocess with this worktree's src first."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(SRC) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("NAPARI_IRDM_DEVICE", "cpu")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "napari_irdm.cli", *map(str, argv)], env=e, timeout=timeout,
                          capture_output=True, text=True, **kw)


def assert_one_line_error(code: int, err: str, *, contains: str | None = None, expect_code: int = 2) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == expect_code, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("napari-irdm: error: "), lines[0]
    assert ".tmp" not in lines[0], lines[0]  # never the name of an internal temp file
    if contains is not None:
        assert contains.lower() in lines[0].lower(), (contains, lines[0])


def write_series(path: Path, n: int = 9, ny: int = 16, nx: int = 16, *, lo: float = -60, hi: float = 60,
                 seed: int = 0) -> Path:
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    rng = np.random.default_rng(seed)
    ts = TiltSeries(data=rng.random((n, ny, nx), dtype=np.float32), tilt_angles_deg=np.linspace(lo, hi, n),
                    pixel_size_A=2.0)
    write_tilt_series(path, ts)
    return path


def with_irdm_meta(src: Path, dst: Path, **changes) -> Path:
    """A copy of a napari-irdm MRC with fields of its JSON extended header replaced (same length)."""
    import mrcfile

    with mrcfile.open(src, permissive=True) as m:
        data = np.asarray(m.data).copy()
        meta = json.loads(bytes(m.extended_header).rstrip(b"\0 ").decode())
        vox = float(m.voxel_size.x)
    meta.update(changes)
    raw = json.dumps(meta).encode()
    raw += b" " * (-len(raw) % 4)
    with mrcfile.new(dst, overwrite=True) as m:
        m.set_data(data)
        m.set_extended_header(np.frombuffer(raw, dtype="V1").copy())
        m.header.exttyp = b"IRDM"
        m.voxel_size = vox
    return dst


@pytest.fixture
def work(tmp_path):
    """A folder with a tilt series (MRC + .rawtlt, and TIFF), a volume, and an old output."""
    from napari_irdm.io import write_volume

    ts = write_series(tmp_path / "ts.mrc")
    from napari_irdm.io import read_tilt_series, write_tilt_series

    write_tilt_series(tmp_path / "ts.tif", read_tilt_series(ts))
    rng = np.random.default_rng(1)
    write_volume(tmp_path / "vol.mrc", rng.random((16, 16, 16), dtype=np.float32), pixel_size_A=2.0,
                 tilt_angles_deg=np.linspace(-60, 60, 9), provenance=["test volume"])
    (tmp_path / "old.mrc").write_bytes((tmp_path / "vol.mrc").read_bytes())  # an existing output to keep
    return tmp_path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """name -> .pt path of deliberately broken models (each with a card that matches its bytes)."""
    torch = pytest.importorskip("torch")
    from napari_irdm import dl

    folder = tmp_path_factory.mktemp("models")
    gen = dl.build_generator({"preset": "cpu", "base_width": 4, "depth": 2})
    good = dl.save_model(gen, folder / "good.pt")
    card = json.loads(good.with_suffix(".json").read_text())

    def variant(name: str, blob: bytes, **config) -> Path:
        pt = folder / f"{name}.pt"
        pt.write_bytes(blob)
        c = dict(card, sha256=hashlib.sha256(blob).hexdigest(), config=dict(card["config"], **config))
        pt.with_suffix(".json").write_text(json.dumps(c))
        return pt

    import io as _io

    buf = _io.BytesIO()
    torch.save([1, 2, 3], buf)
    return {
        "good": good,
        "garbage": variant("garbage", b"\x80\x04 this is not a torch file" * 50),
        "not_state_dict": variant("not_state_dict", buf.getvalue()),
        "huge_width": variant("huge_width", good.read_bytes(), base_width=100_000),
        "wrong_arch": variant("wrong_arch", good.read_bytes(), depth=3),
    }


def _sparse_header_file(path: Path, nx: int, ny: int, nz: int) -> Path:
    """An MRC whose header (and sparse size) claims ``nz`` images of ``ny x nx`` float32."""
    import struct

    head = bytearray(1024)
    head[0:16] = struct.pack("<4i", nx, ny, nz, 2)
    head[208:212] = b"MAP "
    head[212:216] = b"\x44\x44\x00\x00"
    with open(path, "wb") as fh:
        fh.write(bytes(head))
        fh.truncate(1024 + 4 * nx * ny * nz)
    return path
