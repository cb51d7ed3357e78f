""".xf semantics and round trips, AreTomo .aln import, preprocessing, and the align CLI."""

from __future__ import annotations

import numpy as np
import pytest

from napari_irdm.align import Transforms, apply_transforms, read_aln, read_xf, write_xf
from napari_irdm.align.preprocess import bin_images, normalise_intensity, remove_hot_pixels
from napari_irdm.cli import main


def _dot(ny=33, nx=40, y=10.0, x=12.0):
    yy, xx = np.mgrid[:ny, :nx]
    return np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 4.5).astype(np.float32)[None]


def _com(img):
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    return (img * xx).sum() / img.sum() - (img.shape[1] - 1) / 2, (img * yy).sum() / img.sum() - (img.shape[0] - 1) / 2


def test_xf_convention_shift_and_rotation():
    img = _dot()
    x0, y0 = _com(img[0])
    moved = apply_transforms(img, Transforms.from_parameters([[2.0, -1.0]], 0.0, [0.0]))[0]
    assert np.allclose(_com(moved), (x0 + 2, y0 - 1), atol=1e-3)  # x' = x + d
    phi = 30.0
    rot = apply_transforms(img, Transforms.from_parameters([[0.0, 0.0]], phi, [0.0]))[0]
    c, s = np.cos(np.deg2rad(phi)), np.sin(np.deg2rad(phi))
    assert np.allclose(_com(rot), (c * x0 + s * y0, -s * x0 + c * y0), atol=0.02)  # x' = R(-phi) x


def test_xf_round_trip_and_compose(tmp_path):
    rng = np.random.default_rng(0)
    t = Transforms.from_parameters(rng.normal(0, 5, (7, 2)), 1.7, np.linspace(-60, 60, 7))
    p = write_xf(tmp_path / "a.xf", t)
    (tmp_path / "a.tlt").write_text("\n".join(map(str, t.tilt_angles_deg)))
    back = read_xf(p)
    assert np.allclose(back.matrices, t.matrices, atol=1e-3) and np.allclose(back.tilt_angles_deg, t.tilt_angles_deg)
    assert abs(back.rotation_deg - 1.7) < 1e-4
    inv = Transforms(np.concatenate([np.linalg.inv(t.matrices[:, :, :2]),
                                     -np.linalg.inv(t.matrices[:, :, :2]) @ t.matrices[:, :, 2:]], 2), t.tilt_angles_deg)
    ident = t.compose(inv)
    assert np.allclose(ident.matrices[:, :, :2], np.eye(2), atol=1e-12) and np.abs(ident.shifts_xy).max() < 1e-9


def test_scaled_transforms_apply_to_a_binned_copy():
    img = np.repeat(_dot(64, 64, 20.0, 30.0), 1, 0)
    t = Transforms.from_parameters([[4.0, -6.0]], 0.0, [0.0], pixel_size_A=1.0)
    full = bin_images(apply_transforms(img, t), 2)
    binned = apply_transforms(bin_images(img, 2), t.scaled(2.0))
    assert np.allclose(_com(full[0]), _com(binned[0]), atol=0.02)


@pytest.mark.parametrize("text", ["1 0 0 1 2\n", "1 0 0 x 2 3\n", "0 0 0 0 1 1\n", ""])
def test_bad_xf_is_a_value_error(tmp_path, text):
    (tmp_path / "b.xf").write_text(text)
    with pytest.raises(ValueError):
        read_xf(tmp_path / "b.xf", tilt_angles_deg=[0.0])


def test_aretomo_aln_import(tmp_path):
    # the column layout AreTomo writes (header comments, then SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT)
    rows = [(0, 85.0, 1.0, 3.0, -2.0, 1.0, 1.0, 1.0, 0.0, -30.0), (1, 85.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0),
            (2, 85.0, 1.0, -1.5, 4.0, 1.0, 1.0, 1.0, 0.0, 30.0)]
    head = "# AreTomo Alignment / Priims bprmMn \n# RawSize = 64 64 3\n# NumPatches = 0\n" \
           "# AlphaOffset =     0.00\n# BetaOffset =     0.00\n# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT\n"
    body = "".join(" ".join(f"{v:9.3f}" if k else f"{int(v):5d}" for k, v in enumerate(r)) + "\n" for r in rows)
    (tmp_path / "a.aln").write_text(head + body)
    t, sec = read_aln(tmp_path / "a.aln")
    bad = tmp_path / "bad.aln"
    bad.write_text("# not an aln\n1 2 3\n")
    with pytest.raises(ValueError, match="AreTomo"):
        read_aln(bad)
    assert list(sec) == [0, 1, 2] and np.allclose(t.tilt_angles_deg, [-30, 0, 30])
    assert abs(t.rotation_deg - 85.0) < 1e-6
    # AreTomo shifts the raw image by -T before rotating: d = -A (TX, TY)
    a = t.matrices[0, :, :2]
    assert np.allclose(t.matrices[0, :, 2], -a @ np.array([3.0, -2.0]))


def test_preprocessing_helpers():
    d = np.ones((3, 8, 8), np.float32)
    d[1] *= 2
    assert np.allclose(normalise_intensity(d).sum(axis=(1, 2)), d.sum(axis=(1, 2)).mean())
    d[0, 3, 4] = 100
    assert remove_hot_pixels(d)[0, 3, 4] == 1.0
    assert bin_images(np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6), 2).shape == (2, 2, 3)


@pytest.fixture()
def raw_file(tmp_path):
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    from ._spoil import spoiled_series

    angles = np.arange(-60.0, 60.1, 6.0)
    _, _, raw, truth = spoiled_series(angles, n=48, phi=0.0, centre=0.0, drift=2.0)
    path = tmp_path / "raw.mrc"
    write_tilt_series(path, TiltSeries(raw, angles, pixel_size_A=2.0))
    return path, truth


def test_cli_align_writes_series_xf_tlt_and_reapplies(raw_file, tmp_path, capsys):
    path, truth = raw_file
    out = tmp_path / "ali.mrc"
    rc = main(["align", str(path), "-o", str(out), "--method", "com", "--levels", "1", "--quiet",
               "--report", str(tmp_path / "r.png")])
    assert rc == 0 and out.exists() and out.with_suffix(".xf").exists() and out.with_suffix(".tlt").exists()
    assert (tmp_path / "r.png").stat().st_size > 1000
    from napari_irdm.io import read_tilt_series

    ali = read_tilt_series(out)
    assert ali.pixel_size_A == pytest.approx(2.0) and any("aligned" in p for p in ali.provenance)
    # re-apply the written .xf to the raw file: same images
    out2 = tmp_path / "again.mrc"
    assert main(["align", str(path), "-o", str(out2), "--apply", str(out.with_suffix(".xf")), "--quiet"]) == 0
    assert np.allclose(read_tilt_series(out2).data, ali.data, atol=1e-3 * np.abs(ali.data).max())


def test_cli_align_preprocessing_flags_are_recorded(raw_file, tmp_path):
    path, _ = raw_file
    out = tmp_path / "p.mrc"
    rc = main(["align", str(path), "-o", str(out), "--method", "com", "--levels", "1", "--quiet", "--crop", "4:44,2:46",
               "--remove-hot-pixels", "--subtract-background", "--normalise-intensity", "--exclude", "0,1"])
    assert rc == 0
    from napari_irdm.io import read_tilt_series

    ts = read_tilt_series(out)
    assert ts.data.shape == (19, 40, 44)
    text = " | ".join(ts.provenance)
    for word in ("cropped", "hot pixels", "5th percentile", "total intensity", "excluded images 0,1"):
        assert word in text, word


@pytest.mark.parametrize("extra", [["--crop", "0:10"], ["--crop", "0:100,0:20"], ["--exclude", "99"], ["--exclude", "a-b"], ["--bin", "0"], ["--levels", "x"],
                                   ["--method", "nope"], ["--apply", "missing.xf"]])
def test_cli_align_bad_input_exit_2(raw_file, tmp_path, capsys, extra):
    path, _ = raw_file
    rc = None
    try:
        rc = main(["align", str(path), "-o", str(tmp_path / "o.mrc"), "--quiet", *extra])
    except SystemExit as e:  # argparse choices
        rc = e.code
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err


def test_cli_reconstruct_with_align(raw_file, tmp_path):
    path, _ = raw_file
    out = tmp_path / "vol.mrc"
    assert main(["reconstruct", str(path), "-o", str(out), "--align", "com", "--quiet"]) == 0
    from napari_irdm.io import read_volume

    vol = read_volume(out)
    assert vol.shape == (48, 48, 48) and any("aligned" in p for p in vol.provenance)


def test_xf_of_a_tilt_axis_x_file_is_in_the_files_own_frame(raw_file, tmp_path):
    """The .xf of a --tilt-axis x file re-applies to the untransposed file and to another channel."""
    from napari_irdm.align import apply_transforms, read_xf
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import read_tilt_series, write_tilt_series

    path, _ = raw_file
    house = read_tilt_series(path)
    fx = tmp_path / "axis_x.mrc"  # the same series stored with its tilt axis along x
    write_tilt_series(fx, house.replace(data=np.ascontiguousarray(house.data.transpose(0, 2, 1))))
    out = tmp_path / "ali_x.mrc"
    assert main(["align", str(fx), "--tilt-axis", "x", "-o", str(out), "--method", "com", "--levels", "1",
                 "--quiet"]) == 0
    ali = read_tilt_series(out).data  # written with the tilt axis along y (transposed)
    t_file = read_xf(out.with_suffix(".xf"), tilt_angles_deg=house.tilt_angles_deg)
    assert np.abs(t_file.shifts_xy[:, 1]).max() > 0.5  # the drift perpendicular to the axis is in DY now
    raw_file_frame = read_tilt_series(fx).data  # the file as stored (no transposition)
    again = apply_transforms(raw_file_frame, t_file).transpose(0, 2, 1)
    scale = np.abs(ali).max()
    assert np.abs(again - ali).max() < 2e-3 * scale
    # another channel recorded with the same drift: --apply with the same --tilt-axis x
    chan = tmp_path / "eds_x.mrc"
    write_tilt_series(chan, TiltSeries(np.sqrt(np.clip(raw_file_frame, 0, None)), house.tilt_angles_deg))
    out2 = tmp_path / "eds_ali.mrc"
    assert main(["align", str(chan), "--tilt-axis", "x", "-o", str(out2), "--apply", str(out.with_suffix(".xf")),
                 "--quiet"]) == 0
    expect = apply_transforms(np.sqrt(np.clip(raw_file_frame, 0, None)), t_file).transpose(0, 2, 1)
    got = read_tilt_series(out2).data
    assert np.abs(got - expect).max() < 2e-3 * np.abs(expect).max()


def test_cli_reconstruct_preprocessing_shares_aligns_flags(raw_file, tmp_path):
    """reconstruct --exclude/--crop/--bin/... : the same helper as align, recorded in the volume."""
    from napari_irdm._cli._common import add_series_options
    from napari_irdm.io import read_tilt_series, read_volume
    from napari_irdm.tomo import wbp

    path, _ = raw_file
    flags = ["--exclude", "0,20", "--crop", "4:44,0:48", "--subtract-background", "--remove-hot-pixels", "--bin", "2"]
    out = tmp_path / "vol.mrc"
    assert main(["reconstruct", str(path), "-o", str(out), "--method", "wbp", "--quiet", *flags]) == 0
    vol = read_volume(out)
    text = " | ".join(vol.provenance)
    for word in ("excluded images 0,20", "cropped rows 4:44", "5th percentile", "hot pixels", "binned 2x2"):
        assert word in text, word
    assert vol.shape == (24, 20, 24) and vol.pixel_size_A == pytest.approx(4.0)
    # the volume is the WBP of exactly that preprocessed series (align's helper, not a copy)
    import argparse

    from napari_irdm._cli.align import add_preprocess_options, preprocess_series

    p = argparse.ArgumentParser()
    add_series_options(p)
    add_preprocess_options(p, bin_help="")
    ts, excluded = preprocess_series(p.parse_args(flags), read_tilt_series(path))
    assert excluded == [0, 20] and ts.n_tilts == 19
    ref = wbp(ts.data, ts.tilt_angles_deg)
    assert np.abs(np.asarray(vol.data) - ref).max() < 1e-3 * np.abs(ref).max()


def test_mdoc_axis_angle_is_undone_and_kept_in_the_xf(tmp_path, capsys):
    """A SerialEM series whose .mdoc says 'Tilt axis angle = 40': undone on read, no warning, and the .xf
    maps the file's own images (its rotation part is the full 40°)."""
    from napari_irdm.align import read_xf
    from napari_irdm.cli import main
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import write_tilt_series

    from ._spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="beads", seed=4, dose=200.0, phi=40.0, centre=1.0)
    src = tmp_path / "ts.mrc"
    write_tilt_series(src, TiltSeries(data=raw, tilt_angles_deg=angles))
    sections = "".join(f"[ZValue = {i}]\nTiltAngle = {a:.2f}\n\n" for i, a in enumerate(angles))
    (tmp_path / "ts.mrc.mdoc").write_text("PixelSpacing = 1.0\n\n[T = SerialEM: Digitized on a test rig]\n\n"
                                          "[T =     Tilt axis angle = 40.0, binning = 1  spot = 9  camera = 0]\n\n"
                                          + sections)
    assert main(["info", str(src)]) == 0
    assert "the .mdoc says the axis is at 40° in the images" in capsys.readouterr().out
    assert main(["align", str(src), "-o", str(tmp_path / "ali.mrc"), "--levels", "2,1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "tilt axis at 40° in the images (ts.mrc.mdoc): undone on read" in err
    assert "fits much better" not in err
    xf = read_xf(tmp_path / "ali.xf", tilt_angles_deg=angles)
    assert abs(xf.rotation_deg - 40.0) <= 0.3
    # applying the .xf to the file's images gives the aligned series the command wrote
    from napari_irdm.io import read_tilt_series

    ali = read_tilt_series(tmp_path / "ali.mrc").data[:, 12:-12, 12:-12]
    again = apply_transforms(raw, xf)[:, 12:-12, 12:-12]
    assert np.corrcoef(ali.ravel(), again.ravel())[0, 1] > 0.99


def test_xf_of_a_rotated_tilt_axis_x_file_maps_the_files_images(tmp_path):
    """--tilt-axis x with --rotation: the .xf (file frame, read rotation included) applied to the file's
    images gives the written aligned series (transposed back to the file frame)."""
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import read_tilt_series, write_tilt_series

    from ._spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="beads", seed=4, dose=200.0, phi=40.0, centre=1.0)
    filed = np.ascontiguousarray(raw.transpose(0, 2, 1))  # the axis along x, 40° clockwise from +x
    src = tmp_path / "x.mrc"
    write_tilt_series(src, TiltSeries(data=filed, tilt_angles_deg=angles))
    out = tmp_path / "ali.mrc"
    assert main(["align", str(src), "--tilt-axis", "x", "--rotation", "-40", "-o", str(out), "--levels", "2,1",
                 "--quiet"]) == 0
    ali = read_tilt_series(out).data
    xf = read_xf(tmp_path / "ali.xf", tilt_angles_deg=angles)
    again = apply_transforms(filed, xf)
    inner = (slice(None), slice(12, -12), slice(12, -12))
    assert np.corrcoef(again[inner].ravel(), ali.transpose(0, 2, 1)[inner].ravel())[0, 1] > 0.99


def test_xf_of_a_cropped_and_binned_alignment_maps_the_files_full_images(tmp_path):
    """--crop and --bin: the .xf is in the file's own pixels. Applied to the raw full-size images,
    then cropped and binned the same way, it gives the written aligned series."""
    from napari_irdm.align.preprocess import bin_images
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import read_tilt_series, write_tilt_series

    from ._spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="beads", seed=6, dose=200.0, phi=3.0, centre=1.0)
    n, ny, nx = raw.shape
    src = tmp_path / "raw.mrc"
    write_tilt_series(src, TiltSeries(data=raw, tilt_angles_deg=angles))
    y0, y1, x0, x1 = 6, ny - 3, 9, nx - 2  # off-centre, odd sizes: bin trims a remainder
    out = tmp_path / "ali.mrc"
    assert main(["align", str(src), "--crop", f"{y0}:{y1},{x0}:{x1}", "--bin", "2", "-o", str(out),
                 "--levels", "1", "--quiet"]) == 0
    ali = read_tilt_series(out).data
    xf = read_xf(tmp_path / "ali.xf", tilt_angles_deg=angles)
    assert np.abs(xf.matrices[:, :, 2]).max() > 1.0  # real shifts, in full-size pixels
    again = bin_images(apply_transforms(raw, xf)[:, y0:y1, x0:x1], 2)
    assert again.shape == ali.shape
    m = int(np.ceil(np.abs(xf.matrices[:, :, 2]).max() / 2)) + 2  # content shifted in from beyond the crop
    inner = (slice(None), slice(m, -m), slice(m, -m))

    def corr(a):
        return np.corrcoef(a[inner].ravel(), ali[inner].ravel())[0, 1]

    assert corr(again) > 0.99
    # in register: any half-pixel (binned) shift of it agrees less, and so do shifts half as large
    # (binned pixels read as the file's)
    from scipy.ndimage import shift as nd_shift

    for dy, dx in ((0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5)):
        assert corr(nd_shift(again, (0, dy, dx), order=1)) < corr(again)
    half = xf.replace(matrices=xf.matrices * np.array([1.0, 1.0, 0.5])[None, None, :])
    assert corr(bin_images(apply_transforms(raw, half)[:, y0:y1, x0:x1], 2)) < corr(again) - 0.01


def test_apply_of_a_file_xf_with_crop_bin_and_rotation_repeats_the_alignment(tmp_path):
    """The .xf of an alignment with --rotation, --crop and --bin re-applied to the same file with the
    same options (--apply, e.g. to another channel) gives the same aligned series, and writes the same .xf."""
    from napari_irdm.data import TiltSeries
    from napari_irdm.io import read_tilt_series, write_tilt_series

    from ._spoil import spoiled_series

    angles = np.arange(-70.0, 70.1, 3.0)
    _vol, _ideal, raw, _truth = spoiled_series(angles, kind="beads", seed=7, dose=200.0, phi=20.0, centre=1.0)
    n, ny, nx = raw.shape
    src = tmp_path / "raw.mrc"
    write_tilt_series(src, TiltSeries(data=raw, tilt_angles_deg=angles))
    opts = ["--rotation", "20", "--crop", f"5:{ny - 4},8:{nx - 3}", "--bin", "2", "--quiet"]
    assert main(["align", str(src), "-o", str(tmp_path / "a.mrc"), "--levels", "1", *opts]) == 0
    assert main(["align", str(src), "-o", str(tmp_path / "b.mrc"), "--apply", str(tmp_path / "a.xf"), *opts]) == 0
    a, b = read_tilt_series(tmp_path / "a.mrc").data, read_tilt_series(tmp_path / "b.mrc").data
    assert a.shape == b.shape
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999
    xa = read_xf(tmp_path / "a.xf", tilt_angles_deg=angles).matrices
    xb = read_xf(tmp_path / "b.xf", tilt_angles_deg=angles).matrices
    np.testing.assert_allclose(xb, xa, atol=1e-4)
