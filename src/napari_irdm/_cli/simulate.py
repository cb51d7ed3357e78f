"""``napari-irdm simulate gold -o DIR``: a nanocrystal tilt series with its ground truth."""

from __future__ import annotations

import argparse

from napari_irdm._cli._common import check_numbers, check_output_dir, drive

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from napari_irdm.simulate.crystal import SHAPES

    parser = subparsers.add_parser(
        "simulate",
        help="simulate an atomic-resolution nanocrystal tilt series and its ground truth",
        description="Analytic HAADF-like tilt series of a nanocrystal (atoms as 3-D Gaussians, exact 2-D "
        "Gaussian projections). Writes tilt_series.mrc + .rawtlt, truth_volume.mrc (reconstruction grid), "
        "atoms.csv and crystal.json (lattice, orientation) into DIR.",
    )
    parser.add_argument("sample", metavar="SAMPLE",
                        help="element (gold/Au, Pt, Pd, Ag, Cu, Fe, W, Co (hcp), Ru, Si, ...), compound (CeO2, TiO2, "
                        "ZnO, CdSe, SrTiO3, MgO, ...) or a CIF file")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument("--shape", default="truncated_octahedron", choices=SHAPES, help="particle shape")
    parser.add_argument("--size-nm", type=float, default=3.0, metavar="NM", help="particle size in nm (default 3)")
    parser.add_argument("--tilt-range", nargs=2, type=float, default=(-70.0, 70.0), metavar=("START", "STOP"),
                        help="tilt range in degrees, inclusive (default -70 70; asymmetric allowed)")
    parser.add_argument("--tilt-step", type=float, default=2.0, metavar="DEG", help="tilt step in degrees (default 2)")
    parser.add_argument("--angles", metavar="FILE", default=None, help="explicit tilt angles file (overrides the range)")
    parser.add_argument("--pixel-size", type=float, default=0.25, metavar="A",
                        help="pixel size in Å (default 0.25: Nyquist 2 1/Å, beyond Au 440)")
    parser.add_argument("--box", type=int, default=None, metavar="N",
                        help="image / volume edge in pixels (default: fits the particle at every tilt)")
    parser.add_argument("--sigma", type=float, default=0.35, metavar="A", help="atom Gaussian width σ in Å (default 0.35)")
    parser.add_argument("--dose", type=float, default=None, metavar="E_PER_A2",
                        help="electron dose per image (e-/Å²) for Poisson noise (default: noise-free)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (noise, jitter, random orientation; default 0)")
    parser.add_argument("--orientation", default="zone:[100]",
                        help="'zone:[hkl]' (axis along the tilt axis y), 'random', or Euler angles 'phi,theta,psi' "
                        "(ZYZ, deg); default zone:[100]")
    parser.add_argument("--a", dest="a_A", type=float, default=None, metavar="A",
                        help="override the lattice constant a (Å; the cell scales with it, c/a kept)")
    parser.add_argument("--c", dest="c_A", type=float, default=None, metavar="A",
                        help="override the lattice constant c (Å) of a hexagonal or tetragonal cell")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="DEG", help="tilt-angle error std (deg)")
    parser.add_argument("--shift", type=float, default=0.0, metavar="PX", help="in-plane shift std (pixels)")
    parser.add_argument("--vacancies", type=float, default=0.0, metavar="F", help="fraction of atoms removed")
    parser.add_argument("--twin", action="store_true", help="add a (111) twin plane through the centre")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an earlier simulation in DIR (default: refuse)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from napari_irdm.simulate.crystal import make_nanocrystal
    from napari_irdm.simulate.store import FILES, save_simulation
    from napari_irdm.simulate.tiltseries import simulate_iter

    check_numbers(args, positive=("size_nm", "tilt_step", "pixel_size", "sigma", "dose", "a_A", "c_A"),
                  nonnegative=("jitter", "shift", "vacancies"), finite=("tilt_range",))
    if not 0.01 <= args.sigma <= 3.0:
        raise ValueError(f"--sigma {args.sigma:g} Å is not an atom's Gaussian width: give 0.01 to 3 Å "
                         "(default 0.35; blur the result instead for a coarser look)")
    check_output_dir(args.output, inputs=[args.angles], option="-o/--output", contents=FILES.values())
    if not args.overwrite:
        from pathlib import Path

        held = [n for n in FILES.values() if (Path(args.output) / n).exists()]
        if held:
            raise ValueError(f"{args.output} already holds {', '.join(held)}: pass --overwrite to replace them "
                             "or choose another -o/--output")
    if args.box is not None and not 8 <= args.box <= 2048:
        raise ValueError(f"--box must be between 8 and 2048 pixels, got {args.box}")
    if not 0 <= args.vacancies < 1:
        raise ValueError(f"--vacancies is a fraction of atoms in [0, 1), got {args.vacancies:g}")
    if args.angles:
        from napari_irdm.geometry import check_angles
        from napari_irdm.io import read_angles

        angles = check_angles(read_angles(args.angles), what="the simulation", source=f"--angles {args.angles}")
    else:
        from napari_irdm.geometry import angles_from_range, check_angles

        if not args.tilt_step > 0:
            raise ValueError(f"--tilt-step must be a positive number of degrees, got {args.tilt_step:g}")
        angles = angles_from_range(args.tilt_range[0], args.tilt_range[1], args.tilt_step)
        angles = check_angles(angles, what="the simulation",
                              source=f"--tilt-range {args.tilt_range[0]:g} {args.tilt_range[1]:g}")
    from napari_irdm.crystallography import get_lattice

    crystal = make_nanocrystal(args.sample, shape=args.shape, size_nm=args.size_nm,
                               lattice=get_lattice(args.sample, args.a_A, args.c_A),
                               orientation=args.orientation, seed=args.seed, vacancy_fraction=args.vacancies,
                               twin=args.twin)
    ts, truth = drive(
        simulate_iter(crystal, angles, pixel_size_A=args.pixel_size, size_px=args.box, sigma_A=args.sigma,
                      dose_e_per_A2=args.dose, seed=args.seed, angle_jitter_deg=args.jitter, shift_px=args.shift),
        "simulate",
    )
    paths = save_simulation(args.output, ts, truth)
    assert ts.tilt_angles_deg is not None  # a simulated series always carries its angles
    lat = crystal.lattice
    cell = f"a = {lat.a_A:g} Å" if lat.is_cubic else "a, b, c = {:g}, {:g}, {:g} Å".format(*lat.cell[:3])
    print(f"{crystal.n_atoms} {lat.label} atoms ({lat.structure}, {cell}), "
          f"{crystal.shape} {crystal.size_nm:g} nm; {ts.n_tilts} tilts {ts.tilt_angles_deg.min():g}°.."
          f"{ts.tilt_angles_deg.max():g}°, images {ts.shape[1]}x{ts.shape[2]} at {ts.pixel_size_A:g} Å")
    for role, path in paths.items():
        print(f"  {role:12s} {path}")
    return 0
