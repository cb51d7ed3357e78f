"""Full disks, files that change while read, temp files, names and modes.

Disk full is tested twice: on a real 1 MiB tmpfs when the test may mount one (root, a
kernel that allows it; skipped cleanly otherwise), and by a write error injected at the
atomic-write layer (always).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from .conftest import SRC, assert_one_line_error, run_cli, snapshot


def _temps(folder: Path) -> list[str]:
    return [p.name for p in Path(folder).iterdir() if ".tmp" in p.name]


# --------------------------------------------------------------------------- injected write errors


def _fail_at_rename(monkeypatch):
    import napari_irdm.io._atomic as atomic

    def boom(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr(atomic, "_before_replace", boom)


@pytest.mark.parametrize("method", ["wbp", "sirt"])
@pytest.mark.parametrize("suffix", [".mrc", ".tif"])
def test_injected_disk_full_keeps_the_old_output(work, capsys, monkeypatch, method, suffix):
    old = work / f"old{suffix}"
    if suffix == ".tif":
        old.write_bytes((work / "ts.tif").read_bytes())
    before = snapshot(work)
    _fail_at_rename(monkeypatch)
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", old, "--method", method, *([] if method == "wbp" else ["--iterations", "2"])],
                           capsys)
    assert_one_line_error(code, err, contains="no space left")
    assert str(old) in err  # the target is named, the temp file is not
    assert snapshot(work) == before and not _temps(work)


def test_injected_disk_full_in_simulate_spectrum_and_checkpoint(work, capsys, monkeypatch):
    _fail_at_rename(monkeypatch)
    code, _, err = run_cli(["simulate", "gold", "-o", work / "sim", "--size-nm", "0.8", "--box", "24",
                            "--tilt-step", "20"], capsys)
    assert_one_line_error(code, err, contains="no space left")
    assert not (work / "sim").exists() or not _temps(work / "sim")
    from napari_irdm.io._atomic import atomic_write_bytes

    with pytest.raises(OSError, match="no space left") as info:
        atomic_write_bytes(work / "checkpoint.pt", b"x" * 100)
    assert ".tmp" not in str(info.value) and not _temps(work)


def test_free_space_is_checked_before_a_large_write(work, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**30, 2**30 - 2**20, 2**20))
    before = snapshot(work)
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", work / "big.mrc", "--thickness", "2000"], capsys)
    assert_one_line_error(code, err, contains="not enough free space")
    assert "needs 2.0 MiB" in err and "1.0 MiB free" in err
    assert snapshot(work) == before


# --------------------------------------------------------------------------- a real tiny file system


@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()[:80]}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


_NO_PRECHECK = (
    "import sys, napari_irdm.io.mrc as m, napari_irdm.io.tiff as t, napari_irdm._cli.reconstruct as r;"
    "m.ensure_free_space = lambda *a, **k: None;"  # skip the up-front check: exercise the write itself
    "r.ensure_free_space = lambda *a, **k: None;"
    "import napari_irdm.io._atomic as at; at.ensure_free_space = lambda *a, **k: None;"
    "from napari_irdm.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_real_full_disk_is_refused_up_front(work, tiny_fs, capsys):
    (tiny_fs / "keep.mrc").write_bytes(b"k" * 1000)
    before = snapshot(tiny_fs)
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", tiny_fs / "keep.mrc", "--thickness", "2000"], capsys)
    assert_one_line_error(code, err, contains="not enough free space")
    assert snapshot(tiny_fs) == before and not _temps(tiny_fs)


_API_WRITE = (
    "import sys, numpy as np, napari_irdm.io.mrc as m, napari_irdm.io.tiff as t, napari_irdm.io._atomic as at;"
    "m.ensure_free_space = t.ensure_free_space = at.ensure_free_space = lambda *a, **k: None;"
    "from napari_irdm.io import write_volume;"
    "write_volume(sys.argv[1], np.ones((300, 32, 32), np.float32))"  # 1.2 MiB: what IRDM / TIFF outputs do
)


@pytest.mark.parametrize("how", ["cli-wbp-memory-map", "api-write_volume-mrc", "api-write_volume-tif"])
def test_real_full_disk_during_the_write_is_no_sigbus(work, tiny_fs, how):
    """Without the up-front check the write itself must fail cleanly: MRC blocks are
    allocated (posix_fallocate) before the memory map is written, so no SIGBUS (exit -7)."""
    (tiny_fs / "keep.mrc").write_bytes(b"k" * 1000)
    before = snapshot(tiny_fs)
    env = dict(os.environ, PYTHONPATH=str(SRC), NAPARI_IRDM_DEVICE="cpu")
    if how.startswith("cli"):
        cmd = [sys.executable, "-c", _NO_PRECHECK, "reconstruct", str(work / "ts.mrc"), "-o",
               str(tiny_fs / "keep.mrc"), "--thickness", "2000", "--quiet"]
    else:
        cmd = [sys.executable, "-c", _API_WRITE, str(tiny_fs / ("keep.mrc" if how.endswith("mrc") else "v.tif"))]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != -7, "SIGBUS"
    if how.startswith("cli"):
        assert_one_line_error(r.returncode, r.stderr, contains="space")
    else:
        assert r.returncode == 1 and "DiskFullError" in r.stderr or "WriteError" in r.stderr, r.stderr[-400:]
        assert "space" in r.stderr.splitlines()[-1]
    assert snapshot(tiny_fs) == before and not _temps(tiny_fs)


# --------------------------------------------------------------------------- reading files that change


def test_file_truncated_while_read_is_an_error_not_sigbus(work, capsys, monkeypatch):
    from napari_irdm.io import _filearray

    target = work / "ts.mrc"
    original = _filearray.FileArray._read

    def truncating_read(self, start, stop):
        with open(self.path, "r+b") as fh:  # another program cuts the file under us
            fh.truncate(1500)
        return original(self, start, stop)

    monkeypatch.setattr(_filearray.FileArray, "_read", truncating_read)
    code, _, err = run_cli(["info", target], capsys)
    assert_one_line_error(code, err, contains="truncated")


def test_filearray_reads_match_the_file(work):
    import mrcfile

    from napari_irdm.io.mrc import open_mrc

    c = open_mrc(work / "ts.mrc")
    with mrcfile.open(work / "ts.mrc") as m:
        ref = np.asarray(m.data)
    assert np.array_equal(np.asarray(c.data), ref)
    assert np.array_equal(c.data[2:5], ref[2:5])
    assert np.array_equal(c.data[::3, 1:4, ::2], ref[::3, 1:4, ::2])
    assert np.array_equal(c.data[-1], ref[-1]) and np.array_equal(c.data[[0, 4]], ref[[0, 4]])
    assert np.array_equal(c.data[..., 3], ref[..., 3])


def test_header_claiming_more_than_the_file_is_refused_before_mapping(work, capsys):
    p = work / "liar.mrc"
    raw = bytearray((work / "ts.mrc").read_bytes())
    raw[8:12] = (10**6).to_bytes(4, "little")  # nz = a million images
    p.write_bytes(bytes(raw))
    code, _, err = run_cli(["info", p], capsys)
    assert_one_line_error(code, err, contains="truncated")


# --------------------------------------------------------------------------- names, modes, temp files


def test_250_character_output_name_works(work, capsys):
    out = work / ("v" * 246 + ".mrc")
    code, stdout, err = run_cli(["reconstruct", work / "ts.mrc", "-o", out, "--quiet"], capsys)
    assert code == 0, err
    from napari_irdm.io import read_volume

    assert read_volume(out).shape == (16, 16, 16) and not _temps(work)


def test_outputs_get_the_umask_mode_not_0600(work, capsys):
    old = os.umask(0o022)
    try:
        code, _, err = run_cli(["simulate", "gold", "-o", work / "sim", "--size-nm", "0.8", "--box", "24",
                                "--tilt-step", "20"], capsys)
        assert code == 0, err
        from napari_irdm.analysis.bragg import bragg_report
        from napari_irdm.io import read_volume
        from napari_irdm.simulate.store import load_truth

        truth = load_truth(work / "sim")
        vol = read_volume(work / "sim" / "truth_volume.mrc")
        report = bragg_report(vol.data, vol.pixel_size_A, vol.tilt_angles_deg, truth=truth, d_min_A=1.5,
                              n_controls=0)
        report.save_json(work / "report.json")
        files = sorted((work / "sim").iterdir()) + [work / "report.json"]
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
        assert set(modes.values()) == {"0o644"}, modes
    finally:
        os.umask(old)


def test_stale_temp_of_a_dead_writer_is_removed_by_the_next_run(work, capsys):
    from napari_irdm.io._atomic import _HOST, _temp_prefix

    out = work / "vol2.mrc"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = work / f"{_temp_prefix(out)}{pid}@{_HOST}.{uuid.uuid4().hex[:8]}.tmp.mrc"
    other_host = work / f"{_temp_prefix(out)}{pid}@zzzzzz.{uuid.uuid4().hex[:8]}.tmp.mrc"  # maybe alive there
    other_host.write_bytes(b"\0")
    stale.write_bytes(b"\0" * 4096)
    live = work / f"{_temp_prefix(out)}{os.getpid()}@{_HOST}.abcdefgh.tmp.mrc"  # a concurrent (live) writer's
    live.write_bytes(b"\0" * 10)
    code, _, err = run_cli(["reconstruct", work / "ts.mrc", "-o", out, "--quiet"], capsys)
    assert code == 0, err
    assert not stale.exists() and live.exists() and other_host.exists()


@pytest.mark.slow
def test_16_gib_header_under_a_6_gib_address_space_cap(tmp_path):
    """A (sparse) file whose header claims 16 GiB, read under ``ulimit -v 6 GiB``: ``info --quick``
    works (no memory map to fail), ``reconstruct`` is refused up front with the numbers."""
    import resource

    from .conftest import _sparse_header_file

    huge = _sparse_header_file(tmp_path / "huge.mrc", 64, 64, 2**20)  # 2^20 images of 64x64 float32
    cap = 6 * 2**30

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = dict(os.environ, PYTHONPATH=str(SRC), NAPARI_IRDM_DEVICE="cpu")
    r = subprocess.run([sys.executable, "-m", "napari_irdm.cli", "info", str(huge), "--quick"], env=env,
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert r.returncode == 0, r.stderr[-400:]
    assert "1048576 images x 64 x 64" in r.stdout
    r = subprocess.run([sys.executable, "-m", "napari_irdm.cli", "reconstruct", str(huge), "-o",
                        str(tmp_path / "v.mrc"), "--tilt-range", "-60", "60", "--tilt-step", "1"], env=env,
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert_one_line_error(r.returncode, r.stderr, contains="of memory")
    assert not (tmp_path / "v.mrc").exists() and not _temps(tmp_path)
