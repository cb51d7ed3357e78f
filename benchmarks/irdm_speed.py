"""Time slice-wise IRDM inference on a (256, 256, 256) volume.

Usage::

    .venv/bin/python benchmarks/irdm_speed.py                 # CPU, shipped 'general' or the cpu preset
    .venv/bin/python benchmarks/irdm_speed.py --repeat 2 --preset paper --device cuda

Prints one line per run: model, device, batch size, seconds. The quality bar (issue 5) is
≤ 60 s on the project's 2-core CPU with the default model. When CUDA is available and
``--device`` is not given, a GPU figure is printed too. Random weights are used when no
shipped model exists (timing does not depend on the weights). The CPU time (all threads)
is printed too: on a shared machine, CPU time / threads is what an idle machine would take.

With astra-toolbox importable, ASTRA's CPU FBP (``linear`` projector) of the same number of
slices and tilts is timed in the same process and the ratio printed (target ≤ 8×, issue 15)::

    PYTHONPATH=src:.venv/lib/python3.11/site-packages /tmp/etv/bin/python benchmarks/irdm_speed.py --repeat 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    import napari_irdm  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import torch

from napari_irdm.dl import build_generator, inpaint_iter, list_models, load_model
from napari_irdm.progress import run_to_completion


def _model(args, device):
    if args.preset is None and args.model in list_models():
        return load_model(args.model, device=device), f"shipped '{args.model}'"
    preset = args.preset or "cpu"
    torch.manual_seed(0)
    return build_generator(preset).eval(), f"random '{preset}' preset"


def _time(volume, angles, model, device, batch_size, dc) -> tuple[float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = run_to_completion(
        inpaint_iter(volume, angles, model=model, device=device, batch_size=batch_size, data_consistency=dc)
    )
    if isinstance(out, torch.Tensor) and out.is_cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    assert out.shape == volume.shape
    return dt, time.process_time() - c0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="volume is (size, size, size)")
    p.add_argument("--model", default="general", help="shipped model name (if present)")
    p.add_argument("--preset", choices=["cpu", "paper"], default=None, help="random model of this preset")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cpu, plus cuda if available)")
    p.add_argument("--batch-size", type=int, default=None, help="slices per forward (default: inpaint's own choice on CPU, 32 on GPU)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--data-consistency", action="store_true")
    args = p.parse_args(argv)

    n = args.size
    rng = np.random.default_rng(0)
    volume = rng.random((n, n, n), dtype=np.float32)
    angles = np.arange(-70.0, 70.1, 2.0)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, volume {volume.shape}")
    fbp = _astra_fbp_seconds(n, angles)
    for dev in devices:
        model, what = _model(args, dev)
        bs = args.batch_size or (None if dev == "cpu" else 32)
        if dev != "cpu":  # warm-up (CUDA context, cuDNN autotune)
            _time(volume[:, :bs], angles, model, dev, bs, args.data_consistency)
        for r in range(args.repeat):
            dt, cpu = _time(volume, angles, model, dev, bs, args.data_consistency)
            name = torch.cuda.get_device_name() if dev.startswith("cuda") else "cpu"
            print(
                f"{what} (base_width {model.base_width}) on {dev} [{name}], batch {bs or 'auto'}, "
                f"dc={args.data_consistency}, run {r + 1}: {dt:.1f} s wall ({cpu:.1f} s CPU time) "
                f"for {n} slices of {n}x{n}" + (f"; {dt / fbp:.1f}x ASTRA CPU FBP" if fbp and dev == "cpu" else "")
            )
    return 0


def _astra_fbp_seconds(n: int, angles: np.ndarray) -> float | None:
    """Wall time of ASTRA's CPU FBP of ``n`` slices of ``n²`` from ``angles`` (None without astra)."""
    try:
        import astra  # noqa: F401
    except ImportError:
        print("astra-toolbox not importable: no ASTRA FBP ratio")
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from wbp_vs_peers import astra_slices

    series = np.random.default_rng(1).random((angles.size, n, n), dtype=np.float32)
    t0 = time.perf_counter()
    astra_slices(series, angles, n, "FBP")
    dt = time.perf_counter() - t0
    print(f"ASTRA {astra.__version__} CPU FBP (linear): {dt:.1f} s for {n} slices of {n}x{n}, {angles.size} tilts")
    return dt


if __name__ == "__main__":
    raise SystemExit(main())
