"""Training checkpoints: written atomically, loaded with ``torch.load(weights_only=True)``.

A checkpoint (``checkpoint.pt`` in the run folder) holds the step, the config, both models,
both optimisers, both schedulers and the state of the run's random generator, so that a
resumed run continues exactly.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_irdm.errors import ParameterError
from napari_irdm.io import atomic_write_bytes

__all__ = ["CHECKPOINT_KEYS", "load_checkpoint", "restore", "save_checkpoint"]

CHECKPOINT_KEYS = ("step", "config", "generator", "discriminator", "opt_g", "opt_d", "sched_g", "sched_d", "rng")
_FIX = "delete it to start again, or train into a new `out_dir` folder"


def _safe_globals() -> list:
    """The few non-tensor types a checkpoint holds (a Counter in the LR schedulers; NumPy's RNG
    state in checkpoints of earlier versions); everything else is refused by
    ``torch.load(weights_only=True)``."""
    import collections

    core = getattr(np, "_core", None) or np.core
    out = [collections.Counter, core.multiarray._reconstruct, np.ndarray, np.dtype]
    for t in (np.uint32, np.float64, np.int64):
        out.append(type(np.dtype(t)))
    return out


def load_checkpoint(run_dir: str | os.PathLike, *, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict of a run folder (``checkpoint.pt``), loaded safely.

    Loaded with ``torch.load(weights_only=True)`` (no arbitrary code from a pickle), allowing
    only the types a checkpoint holds.

    Raises
    ------
    FileNotFoundError
        No checkpoint in the folder.
    ValueError
        A damaged, foreign or incomplete checkpoint (one line: what to do).
    """
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint in {str(run_dir)!r}: train a run into this folder first")
    try:
        with torch.serialization.safe_globals(_safe_globals()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes about pickle protocols
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - damaged files raise many types
        from napari_irdm.dl.registry import torch_load_reason

        raise ParameterError(f"checkpoint {path} is damaged or not a napari-irdm checkpoint "
                             f"({torch_load_reason(err)}): {_FIX}", "out_dir") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in CHECKPOINT_KEYS):
        missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
        raise ParameterError(f"checkpoint {path} is incomplete (no {', '.join(missing[:3])}): {_FIX}", "out_dir")
    return ckpt


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (a dict with at least :data:`CHECKPOINT_KEYS`) to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def restore(ckpt: dict[str, Any], path: Path, *, generator, discriminator, opt_g, opt_d, sched_g, sched_d,
            rng: torch.Generator) -> tuple[int, float]:
    """Load a checkpoint's states into the run's objects; returns ``(step, elapsed_s)``.

    A one-line ``ValueError`` when they do not fit.

    ``rng`` takes the saved state of the run's generator (checkpoints of earlier versions
    saved the process's global torch state under the same key: also a valid state).
    """
    try:
        generator.load_state_dict(ckpt["generator"])
        discriminator.load_state_dict(ckpt["discriminator"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        sched_g.load_state_dict(ckpt["sched_g"])
        sched_d.load_state_dict(ckpt["sched_d"])
        if "torch" in ckpt["rng"]:
            rng.set_state(ckpt["rng"]["torch"])
        return int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0))
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as err:
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ParameterError(f"checkpoint {path} does not fit this run ({first}): {_FIX}", "out_dir") from None
