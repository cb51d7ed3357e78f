"""The hostile-input sweep through every subcommand (in-process: fast).

Each case builds its hostile input inside the test folder, runs the CLI, and asserts the
contract of docs/robustness.md: exit 2, one stderr line, no traceback, no file touched or
added. The ``contains`` text pins *which* check fired (so a case cannot pass by failing
for an unrelated reason).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from .conftest import assert_one_line_error, run_cli, snapshot, with_irdm_meta


def _fifo(w: Path, name: str = "angles.rawtlt") -> Path:
    p = w / name
    os.mkfifo(p)
    return p


def _link(w: Path, target: str, name: str) -> Path:
    p = w / name
    p.symlink_to(w / target)
    return p


def _mrc_header(nx, ny, nz, mode=2) -> bytes:
    head = bytearray(1024)
    head[0:16] = struct.pack("<4i", nx, ny, nz, mode)
    head[208:212] = b"MAP "
    head[212:216] = b"\x44\x44\x00\x00"
    return bytes(head)


def _palette_tiff(w: Path) -> Path:
    import tifffile

    p = w / "palette.tif"
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 256
    tifffile.imwrite(p, np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8),
                     photometric="palette", colormap=cmap)
    return p


def _truncated_tiff(w: Path) -> Path:
    p = w / "trunc.tif"
    p.write_bytes((w / "ts.tif").read_bytes()[:600])
    return p


def _nan_series(w: Path) -> Path:
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    d = np.ones((3, 8, 8), np.float32)
    d[1, 2, 2] = np.nan
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tilt_series(w / "nan.mrc", TiltSeries(d, np.array([-10.0, 0.0, 10.0])))
    return w / "nan.mrc"


def _mk_results(d: Path) -> Path:
    """A folder holding an earlier evaluation's results."""
    d.mkdir()
    (d / "summary.csv").write_text("source,wedge_deg,method\n")
    return d


def _mk_xf(p: Path, n: int = 3) -> Path:
    """An identity IMOD .xf for ``n`` images."""
    p.write_text("".join("   1.0000000   0.0000000   0.0000000   1.0000000       0.000       0.000\n" for _ in range(n)))
    return p


def _junk(w: Path, name: str, data: bytes) -> Path:
    p = w / name
    p.write_bytes(data)
    return p


def _sim_dir(w: Path) -> Path:
    d = w / "sim"
    d.mkdir()
    (d / "atoms.csv").write_text("Au,79,0,0,0\n")
    return d


def _checkpoint_dir(w: Path, blob: bytes) -> Path:
    d = w / "run"
    d.mkdir()
    (d / "checkpoint.pt").write_bytes(blob)
    return d


def _bad_checkpoint_obj(w: Path) -> Path:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"step": 3}, buf)
    return _checkpoint_dir(w, buf.getvalue())


def _os_module_checkpoint(w: Path) -> Path:
    """A checkpoint whose pickle would call os.system on a weights_only=False load."""
    import io
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(w / "pwned"),))

    buf = io.BytesIO()
    pickle.dump({"step": 1, "x": Evil()}, buf)
    return _checkpoint_dir(w, buf.getvalue())


def _run_dir(w: Path) -> Path:
    """A folder holding an earlier training run (any checkpoint bytes: it must not be read)."""
    d = w / "old_run"
    d.mkdir()
    for n in ("checkpoint.pt", "config.json", "log.csv"):
        (d / n).write_bytes(b"earlier run " + n.encode())
    return d


def _sim_out(w: Path) -> Path:
    """A folder holding one file of an earlier simulation."""
    d = w / "old_sim"
    d.mkdir()
    (d / "tilt_series.mrc").write_bytes((w / S).read_bytes())
    return d


def _dark_series(w: Path) -> Path:
    """A series whose first image is blank (zero total): intensity normalisation must refuse it."""
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    d = np.random.default_rng(0).random((9, 16, 16), dtype=np.float32)
    d[0] = 0.0
    p = w / "dark.mrc"
    write_tilt_series(p, TiltSeries(d, np.linspace(-60, 60, 9), pixel_size_A=2.0))
    return p


def _narrow_series(w: Path) -> Path:
    from .conftest import write_series

    return write_series(w / "narrow.mrc", ny=8, nx=3)


#: (id, builder(work dir, models) -> (argv, env, text the error must contain))
S = "ts.mrc"
CASES = [
    # ---------------------------------------------------------------- data loss: output == input
    ("reconstruct-out-is-input-mrc", lambda w, m: (["reconstruct", w / S, "-o", w / S], {}, "is the input")),
    ("reconstruct-out-is-input-tif", lambda w, m: (["reconstruct", w / "ts.tif", "-o", w / "ts.tif"], {}, "is the input")),
    ("reconstruct-out-links-to-input", lambda w, m: (["reconstruct", w / S, "-o", _link(w, S, "l.mrc")], {},
                                                     "is the input")),
    ("reconstruct-out-is-input-relative", lambda w, m: (["reconstruct", w / S, "-o", w / "x" / ".." / S], {},
                                                        "")),
    ("spectrum-json-is-volume", lambda w, m: (["spectrum", w / "vol.mrc", "--json", w / "vol.mrc", "--lattice", "Au"],
                                              {}, "is the input")),
    ("validate-json-is-volume", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--json", w / "vol.mrc"],
                                              {}, "is the input")),
    ("validate-json-is-series", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--json", w / S],
                                              {}, "is the input")),
    ("validate-plot-links-to-volume", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--plot",
                                                     _link(w, "vol.mrc", "p.png")], {}, "is the input")),
    ("validate-plot-is-json", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--json", w / "r.png",
                                             "--plot", w / "r.png"], {}, "is the input")),
    ("validate-cone-nan", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--cone", "nan"], {}, "--cone")),
    ("validate-cone-95", lambda w, m: (["validate", w / "vol.mrc", "--series", w / S, "--cone", "95"], {}, "--cone")),
    ("validate-series-missing", lambda w, m: (["validate", w / "vol.mrc", "--series", w / "none.mrc"], {},
                                              "does not exist")),
    ("align-out-is-input", lambda w, m: (["align", w / S, "-o", w / S], {}, "is the input")),
    ("align-out-links-to-input", lambda w, m: (["align", w / S, "-o", _link(w, S, "a.mrc")], {}, "is the input")),
    ("align-report-is-input", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--report", _link(w, S, "r.png")],
                                            {}, "is the input")),
    ("align-xf-would-replace-applied-xf", lambda w, m: (
        ["align", w / S, "-o", w / "t.mrc", "--apply", _mk_xf(w / "t.xf")], {}, "is the input")),
    ("align-bin-zero", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--bin", "0"], {}, "--bin")),
    ("align-levels-garbage", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--levels", "4,x"], {}, "--levels")),
    ("align-exclude-missing-image", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--exclude", "999"], {},
                                                  "does not exist")),
    ("reconstruct-bin-zero", lambda w, m: (["reconstruct", w / S, "-o", w / "v.mrc", "--bin", "0"], {}, "--bin")),
    ("reconstruct-crop-outside", lambda w, m: (["reconstruct", w / S, "-o", w / "v.mrc", "--crop", "0:999,0:8"], {},
                                               "--crop")),
    ("reconstruct-crop-garbage", lambda w, m: (["reconstruct", w / S, "-o", w / "v.mrc", "--crop", "a:b"], {}, "--crop")),
    ("reconstruct-exclude-all-but-two", lambda w, m: (["reconstruct", w / S, "-o", w / "v.mrc", "--exclude", "0-6"],
                                                      {}, "--exclude")),
    ("reconstruct-normalise-dark-images", lambda w, m: (["reconstruct", _dark_series(w), "-o", w / "v.mrc",
                                                         "--normalise-intensity"], {}, "subtract the background")),
    ("align-crop-too-small", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--crop", "0:8,0:8"], {}, "--crop")),
    ("align-apply-missing", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--apply", w / "none.xf"], {},
                                          "does not exist")),
    ("align-angles-fifo", lambda w, m: (["align", w / S, "-o", w / "a.mrc", "--angles", _fifo(w)], {},
                                        "not a regular file")),
    ("align-rawtlt-sidecar-is-inputs", lambda w, m: (["align", w / S, "-o", w / "ts.st", "--method", "xcorr",
                                                      "--levels", "1"], {}, "is the input")),
    ("train-export-is-init-from", lambda w, m: (["train", "--out", w / "run", "--init-from", m["good"], "--export",
                                                 m["good"], "--steps", "1"], {}, "is the input")),
    ("train-export-is-own-checkpoint", lambda w, m: (["train", "--out", w / "run", "--export",
                                                      w / "run" / "checkpoint.pt", "--steps", "1"], {}, "is the input")),
    ("evaluate-out-holds-results", lambda w, m: (["evaluate", "--out", _mk_results(w / "ev"), "--model", "none",
                                                  "--n", "1"], {}, "--overwrite")),
    ("simulate-sigma-huge", lambda w, m: (["simulate", "gold", "-o", w / "s2", "--sigma", "1e6"], {}, "--sigma")),
    ("spectrum-json-is-volume-sidecar", lambda w, m: (["spectrum", w / "vol.mrc", "--lattice", "Au", "--json",
                                                       _mk_angles(w / "vol.rawtlt")], {}, "is the input")),
    ("spectrum-json-links-to-volume", lambda w, m: (["spectrum", w / "vol.mrc", "--json", _link(w, "vol.mrc", "j.json"),
                                                     "--lattice", "Au"], {}, "is the input")),
    ("simulate-out-holds-angles-input", lambda w, m: (
        ["simulate", "gold", "-o", w / "simd", "--angles", _mk_angles(w / "simd" / "tilt_series.rawtlt")], {},
        "is the input")),
    ("evaluate-out-is-a-file", lambda w, m: (["evaluate", "--out", w / S, "--n", "1"], {}, "existing file")),
    ("train-out-is-a-file", lambda w, m: (["train", "--out", w / S], {}, "existing file")),
    ("simulate-out-is-a-file", lambda w, m: (["simulate", "gold", "-o", w / S], {}, "existing file")),
    ("demo-screenshot-bad-suffix", lambda w, m: (["demo", "--screenshot", w / S], {}, "suffix")),
    # ---------------------------------------------------------------- hangs and huge sizes
    ("reconstruct-angles-fifo", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--angles", _fifo(w)], {},
                                              "not a regular file")),
    ("info-angles-fifo", lambda w, m: (["info", w / S, "--angles", _fifo(w)], {}, "not a regular file")),
    ("simulate-angles-fifo", lambda w, m: (["simulate", "gold", "-o", w / "s", "--angles", _fifo(w)], {},
                                           "not a regular file")),
    ("spectrum-angles-fifo", lambda w, m: (["spectrum", w / "vol.mrc", "--lattice", "Au", "--angles", _fifo(w)], {},
                                           "not a regular file")),
    ("info-file-is-fifo", lambda w, m: (["info", _fifo(w, "f.mrc")], {}, "not a regular file")),
    ("reconstruct-thickness-1e6", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--thickness", "1000000"],
                                                {}, "--thickness")),
    ("reconstruct-iterations-1e9", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "sirt",
                                                  "--iterations", "1000000000"], {}, "--iterations")),
    ("reconstruct-memory-cap", lambda w, m: (["reconstruct", w / S, "-o", w / "o.tif", "--thickness", "4000"],
                                             {"NAPARI_IRDM_MEMORY_LIMIT_MB": "1"}, "needs about")),
    ("reconstruct-64GiB-header", lambda w, m: (["reconstruct", _sparse_mrc(w, 4096, 4096, 1024), "-o", w / "o.mrc",
                                                "--tilt-range", "-60", "60", "--tilt-step", "0.1171875"],
                                               {"NAPARI_IRDM_MEMORY_LIMIT_MB": "6144"}, "memory")),
    ("reconstruct-tilt-step-1e-9", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--tilt-range", "-70", "70",
                                                  "--tilt-step", "1e-9"], {}, "angles")),
    ("train-batch-size-0", lambda w, m: (["train", "--out", w / "r", "--batch-size", "0"], {}, "--batch-size")),
    ("train-batch-size-1e5", lambda w, m: (["train", "--out", w / "r", "--batch-size", "100000"], {}, "--batch-size")),
    ("train-batch-memory", lambda w, m: (["train", "--out", w / "r", "--batch-size", "4096", "--size", "512",
                                          "--n-val", "1"], {"NAPARI_IRDM_MEMORY_LIMIT_MB": "6144"}, "needs about")),
    ("train-size-huge", lambda w, m: (["train", "--out", w / "r", "--size", "100000"], {}, "--size")),
    ("train-size-factor-0", lambda w, m: (["train", "--out", w / "r", "--size-factor", "0"], {}, "size factor")),
    ("train-size-factor-nan", lambda w, m: (["train", "--out", w / "r", "--size-factor", "nan"], {}, "size factor")),
    ("train-oversample-1000", lambda w, m: (["train", "--out", w / "r", "--oversample", "1000"], {}, "--oversample")),
    ("train-width-1e5", lambda w, m: (["train", "--out", w / "r", "--width", "100000"], {}, "--width")),
    ("train-workers-1000", lambda w, m: (["train", "--out", w / "r", "--workers", "1000"], {}, "--workers")),
    ("reconstruct-output-empty", lambda w, m: (["reconstruct", w / S, "-o", ""], {}, "empty")),
    ("train-lr-nan", lambda w, m: (["train", "--out", w / "r", "--lr", "nan"], {}, "--lr")),
    ("evaluate-batch-size-0", lambda w, m: (["evaluate", "--out", w / "e", "--batch-size", "0"], {}, "--batch-size")),
    ("evaluate-batch-memory", lambda w, m: (["evaluate", "--out", w / "e", "--batch-size", "4096", "--size", "2048"],
                                            {"NAPARI_IRDM_MEMORY_LIMIT_MB": "6144"}, "needs about")),
    ("evaluate-size-huge", lambda w, m: (["evaluate", "--out", w / "e", "--size", "100000"], {}, "--size")),
    ("evaluate-n-0", lambda w, m: (["evaluate", "--out", w / "e", "--n", "0"], {}, "--n")),
    ("evaluate-noise-nan", lambda w, m: (["evaluate", "--out", w / "e", "--noise", "nan"], {}, "noise")),
    ("simulate-box-huge", lambda w, m: (["simulate", "gold", "-o", w / "s", "--box", "100000"], {}, "--box")),
    ("demo-size-huge", lambda w, m: (["demo", "--size", "100000"], {}, "--size")),
    ("demo-tilt-max-200", lambda w, m: (["demo", "--tilt-max", "200"], {}, "--tilt-max")),
    ("demo-tilt-max-nan", lambda w, m: (["demo", "--tilt-max", "nan"], {}, "--tilt-max")),
    # ---------------------------------------------------------------- our own metadata, damaged
    ("info-angles-json-object", lambda w, m: (["info", with_irdm_meta(w / S, w / "a.mrc",
                                                                     tilt_angles_deg={"a": 1})], {}, "tilt_angles_deg")),
    ("info-pixel-size-list", lambda w, m: (["info", with_irdm_meta(w / S, w / "p.mrc", pixel_size_A=[1, 2])], {},
                                           "pixel_size_A")),
    ("reconstruct-pixel-size-string", lambda w, m: (["reconstruct", with_irdm_meta(w / S, w / "p.mrc",
                                                                                  pixel_size_A="big"), "-o",
                                                     w / "o.mrc"], {}, "p.mrc")),
    ("info-provenance-number", lambda w, m: (["info", with_irdm_meta(w / S, w / "q.mrc", provenance=5)], {},
                                             "provenance")),
    # ---------------------------------------------------------------- damaged and odd files
    ("info-missing", lambda w, m: (["info", w / "missing.mrc"], {}, "does not exist")),
    ("info-empty", lambda w, m: (["info", _junk(w, "e.mrc", b"")], {}, "empty")),
    ("info-truncated-mrc", lambda w, m: (["info", _junk(w, "t.mrc", (w / S).read_bytes()[:3000])], {}, "truncated")),
    ("info-junk-mrc", lambda w, m: (["info", _junk(w, "j.mrc", b"junk" * 400)], {}, "not an MRC")),
    ("info-folder", lambda w, m: (["info", w], {}, "folder")),
    ("info-palette-tiff", lambda w, m: (["info", _palette_tiff(w)], {}, "palette")),
    ("info-truncated-tiff", lambda w, m: (["info", _truncated_tiff(w)], {}, "TIFF")),
    ("info-nan-data", lambda w, m: (["info", _nan_series(w)], {}, "NaN")),
    ("info-unknown-suffix", lambda w, m: (["info", _junk(w, "x.h5", b"\x89HDF\r\n" + b"\0" * 2000)], {},
                                          "unsupported file type")),
    ("info-tilt-range-beyond-90", lambda w, m: (["info", w / S, "--tilt-range", "-95", "95", "--tilt-step", "23.75"],
                                                {}, "outside")),
    ("reconstruct-angles-beyond-90", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--angles",
                                                    _mk_angles(w / "big.rawtlt", lo=-100, hi=100)], {}, "outside")),
    ("reconstruct-range-without-step", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--tilt-range", "-6",
                                                      "6"], {}, "tilt-step")),
    # ---------------------------------------------------------------- options
    ("reconstruct-relaxation-nan", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "sirt",
                                                  "--relaxation", "nan"], {}, "--relaxation")),
    ("reconstruct-tv-weight-nan", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "tv",
                                                 "--tv-weight", "nan"], {}, "--tv-weight")),
    ("reconstruct-rotation-nan", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--rotation", "nan"], {},
                                               "rotation")),
    ("reconstruct-pixel-size-nan", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--pixel-size", "nan"], {},
                                                 "pixel size")),
    ("reconstruct-device-meta", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--device", "meta"], {},
                                              "not supported")),
    ("reconstruct-device-xpu", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--device", "xpu"], {},
                                             "not supported")),
    ("reconstruct-device-banana", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--device", "banana"], {},
                                                "unknown device")),
    ("env-device-gpu", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc"], {"NAPARI_IRDM_DEVICE": "gpu"},
                                     "NAPARI_IRDM_DEVICE")),
    ("env-memory-limit-abc", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc"],
                                           {"NAPARI_IRDM_MEMORY_LIMIT_MB": "abc"}, "NAPARI_IRDM_MEMORY_LIMIT_MB")),
    ("reconstruct-name-too-long", lambda w, m: (["reconstruct", w / S, "-o", w / ("v" * 300 + ".mrc")], {},
                                                "shorter name")),
    ("reconstruct-no-output-folder", lambda w, m: (["reconstruct", w / S, "-o", w / "nodir" / "o.mrc"], {},
                                                   "does not exist")),
    ("simulate-jitter-nan", lambda w, m: (["simulate", "gold", "-o", w / "s", "--jitter", "nan"], {}, "--jitter")),
    ("simulate-shift-nan", lambda w, m: (["simulate", "gold", "-o", w / "s", "--shift", "nan"], {}, "--shift")),
    ("simulate-a-huge", lambda w, m: (["simulate", "gold", "-o", w / "s", "--a", "1e9"], {}, "lattice constant")),
    ("simulate-vacancies-1.5", lambda w, m: (["simulate", "gold", "-o", w / "s", "--vacancies", "1.5"], {},
                                             "--vacancies")),
    ("simulate-tilt-range-beyond-90", lambda w, m: (["simulate", "gold", "-o", w / "s", "--tilt-range", "-95", "95"],
                                                    {}, "outside")),
    ("spectrum-tilt-range-beyond-90", lambda w, m: (["spectrum", w / "vol.mrc", "--lattice", "Au", "--tilt-range",
                                                     "95", "-95"], {}, "±90")),
    ("spectrum-snr-nan", lambda w, m: (["spectrum", w / "vol.mrc", "--lattice", "Au", "--snr", "nan"], {}, "--snr")),
    ("spectrum-a-nan", lambda w, m: (["spectrum", w / "vol.mrc", "--lattice", "fcc", "--a", "nan"], {}, "--a")),
    ("spectrum-no-lattice", lambda w, m: (["spectrum", w / "vol.mrc"], {}, "lattice")),
    ("spectrum-truth-missing", lambda w, m: (["spectrum", w / "vol.mrc", "--truth", w / "nosim"], {}, "")),
    # ---------------------------------------------------------------- models and checkpoints
    ("model-garbage-pt", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "irdm", "--model",
                                        m["garbage"]], {}, "not a readable model")),
    ("model-not-state-dict", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "irdm", "--model",
                                            m["not_state_dict"]], {}, "state dict")),
    ("model-card-huge-width", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "irdm", "--model",
                                             m["huge_width"]], {}, "parameters")),
    ("model-wrong-architecture", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "irdm",
                                                "--model", m["wrong_arch"]], {}, "do not fit")),
    ("model-missing", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "irdm", "--model",
                                     "no_such_model"], {}, "no shipped model")),
    ("train-resume-corrupt-checkpoint", lambda w, m: (["train", "--out", _checkpoint_dir(w, b"corrupt" * 99),
                                                       "--resume"], {}, "damaged")),
    ("train-resume-incomplete-checkpoint", lambda w, m: (["train", "--out", _bad_checkpoint_obj(w), "--resume"], {},
                                                          "incomplete")),
    ("train-resume-pickle-attack", lambda w, m: (["train", "--out", _os_module_checkpoint(w), "--resume"], {},
                                                  "damaged")),
    ("train-resume-no-checkpoint", lambda w, m: (["train", "--out", w / "empty_run", "--resume"], {}, "no checkpoint")),
    ("evaluate-model-garbage", lambda w, m: (["evaluate", "--out", w / "e", "--n", "1", "--size", "32", "--model",
                                              m["garbage"], "--sources", "phantom", "--wedges", "60"], {},
                                             "not a readable model")),
    # ---------------------------------------------------------------- issue 11b (second outside sweep)
    ("train-out-holds-a-run", lambda w, m: (["train", "--out", _run_dir(w), "--steps", "1"], {},
                                            "already holds a training run")),
    ("simulate-out-holds-a-simulation", lambda w, m: (["simulate", "gold", "-o", _sim_out(w), "--box", "16"], {},
                                                      "--overwrite")),
    ("info-rotation-nan", lambda w, m: (["info", w / S, "--rotation", "nan"], {}, "--rotation")),
    ("info-memory-limit-env-abc", lambda w, m: (["info", w / S], {"NAPARI_IRDM_MEMORY_LIMIT_MB": "abc"},
                                                "NAPARI_IRDM_MEMORY_LIMIT_MB")),
    ("reconstruct-rotation-1e30", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--rotation", "1e30"], {},
                                                "±360")),
    ("reconstruct-sirt-iterations-0", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--method", "sirt",
                                                     "--iterations", "0"], {}, "between 1 and")),
    ("reconstruct-all-angles-equal", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--angles",
                                                    _mk_angles(w / "zeros.txt", 0, 0, 9)], {}, "distinct angles")),
    ("reconstruct-images-too-narrow", lambda w, m: (["reconstruct", _narrow_series(w), "-o", w / "o.mrc"], {},
                                                    "pixels wide")),
    ("reconstruct-pixel-size-1e300", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--pixel-size",
                                                    "1e300"], {}, "implausible")),
    ("info-tilt-step-negative", lambda w, m: (["info", w / S, "--tilt-range", "-60", "60", "--tilt-step", "-15"], {},
                                              "--tilt-step")),
    ("info-pixel-size-1e-9", lambda w, m: (["info", w / S, "--pixel-size", "1e-9"], {}, "implausible")),
    ("reconstruct-two-angle-sources", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--tilt-range", "-60",
                                                     "60", "--tilt-step", "15", "--angles", w / "ts.rawtlt"], {},
                                                    "either --angles or --tilt-range")),
    ("spectrum-of-a-tilt-series", lambda w, m: (["spectrum", w / S, "--lattice", "fcc", "--a", "4.078"], {},
                                                "is a tilt series")),
    ("evaluate-model-none-with-irdm", lambda w, m: (["evaluate", "--out", w / "e", "--n", "1", "--model", "none",
                                                     "--methods", "irdm"], {}, "--model none")),
    ("evaluate-model-unknown", lambda w, m: (["evaluate", "--out", w / "e", "--n", "1", "--model", "nosuch"], {},
                                             "no shipped model")),
    ("reconstruct-angle-nan-names-image", lambda w, m: (["reconstruct", w / S, "-o", w / "o.mrc", "--angles",
                                                         _nan_angles(w)], {}, "the angle of image 4")),
    # ---------------------------------------------------------------- scale-out: OME-Zarr, --scheduler, batch
    ("reconstruct-zarr-over-foreign-folder", lambda w, m: (["reconstruct", w / S, "-o", _foreign_zarr(w)], {},
                                                           "not an OME-Zarr")),
    ("reconstruct-bad-scheduler", lambda w, m: (["reconstruct", w / S, "-o", w / "o.zarr", "--scheduler", "lokal:2"],
                                                {}, "unknown scheduler")),
    ("reconstruct-scheduler-no-cluster", lambda w, m: (["reconstruct", w / S, "-o", w / "o.zarr", "--scheduler",
                                                        "tcp://127.0.0.1:1"], {}, "cannot reach the Dask scheduler")),
    ("reconstruct-zarr-tif-with-scheduler", lambda w, m: (["reconstruct", w / S, "-o", w / "o.tif", "--scheduler",
                                                           "threads"], {}, "unknown suffix")),
    ("reconstruct-zarr-irdm-slab-too-big", lambda w, m: (["reconstruct", w / S, "-o", w / "o.zarr", "--method", "irdm",
                                                          "--slab", "100", "--model", m["good"]], {}, "slab must")),
    ("reconstruct-zarr-with-rotation", lambda w, m: (["reconstruct", w / S, "-o", w / "o.zarr", "--rotation", "3"],
                                                     {}, "--rotation")),
    ("batch-no-match", lambda w, m: (["batch", str(w / "nothing*.mrc"), "--out", w / "out"], {}, "no file matches")),
    ("batch-out-is-file", lambda w, m: (["batch", w / S, "--out", w / "vol.mrc"], {}, "existing file")),
    ("batch-bad-scheduler", lambda w, m: (["batch", w / S, "--out", w / "out", "--scheduler", "tcp://x"], {},
                                          "tcp://HOST:PORT")),
    ("batch-iterations-zero", lambda w, m: (["batch", w / S, "--out", w / "out", "--method", "sirt", "--iterations",
                                             "0"], {}, "--iterations")),
    ("batch-tv-weight-text", lambda w, m: (["batch", w / S, "--out", w / "out", "--method", "tv", "--tv-weight",
                                            "lots"], {}, "--tv-weight")),
    ("batch-same-names", lambda w, m: (["batch", w / S, _copy_to(w, S, "sub"), "--out", w / "out"], {},
                                       "would both write")),
]


def _foreign_zarr(w: Path) -> Path:
    """A folder named like an OME-Zarr output that holds someone's files."""
    d = w / "mine.zarr"
    d.mkdir()
    (d / "notes.txt").write_text("not a zarr store\n")
    return d


def _copy_to(w: Path, name: str, sub: str) -> Path:
    d = w / sub
    d.mkdir()
    (d / name).write_bytes((w / name).read_bytes())
    return d / name


def _mk_angles(path: Path, lo: float = -60, hi: float = 60, n: int = 9) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.linspace(lo, hi, n))
    return path


def _nan_angles(w: Path) -> Path:
    p = w / "nan.rawtlt"
    a = np.linspace(-60, 60, 9)
    a[4] = np.nan
    np.savetxt(p, a)
    return p


def _sparse_mrc(w: Path, nx: int, ny: int, nz: int) -> Path:
    """An MRC whose header (and sparse size) claims nx*ny*nz float32: nothing is really stored."""
    p = w / "huge.mrc"
    with open(p, "wb") as fh:
        fh.write(_mrc_header(nx, ny, nz))
        fh.truncate(1024 + 4 * nx * ny * nz)
    return p


@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_cli_case(case, work, tiny_models, capsys, monkeypatch):
    argv, env, contains = case(work, tiny_models)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = snapshot(work)
    models_before = snapshot(tiny_models["good"].parent)
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, contains=contains or None)
    assert snapshot(work) == before, "a failing run changed or added files"
    assert snapshot(tiny_models["good"].parent) == models_before
    assert not (work / "pwned").exists()


def test_sweep_covers_every_subcommand():
    from napari_irdm.cli import SUBCOMMANDS

    ids = [c[0] for c in CASES]
    for name in SUBCOMMANDS:
        assert any(i.startswith(name) for i in ids), name
    assert len(CASES) >= 80
