"""Shipped IRDM weights: list, save (export) and load generators, sha256-verified.

A model is two files side by side:

- ``<name>.pt``: the generator's ``state_dict`` with floating tensors stored as float16
  (``torch.save`` format, loaded with ``weights_only=True``);
- ``<name>.json``: the model card data: architecture config, the sha256 of the ``.pt``,
  the normalisation the model expects and free training-summary fields.

Shipped models live in ``napari_irdm/dl/weights/`` and are loaded offline by name
(``load_model("general")``); any other model is loaded by path. See
``docs/models/README.md``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from napari_irdm._json import jsonable
from napari_irdm.device import resolve_device
from napari_irdm.dl.unetpp import UNetPlusPlus
from napari_irdm.io import atomic_write_bytes

__all__ = [
    "WEIGHTS_DIR",
    "ModelNotFoundError",
    "list_models",
    "load_model",
    "model_info",
    "pick_model",
    "resolve_model_path",
    "save_model",
]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FORMAT_VERSION = 1
MAX_SHIPPED_BYTES = 25 * 1024**2
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ModelNotFoundError(FileNotFoundError, ValueError):
    """No model under that name or path (both a ``FileNotFoundError`` and a ``ValueError``)."""


def _is_name(name_or_path: str | os.PathLike) -> bool:
    s = str(name_or_path)
    return isinstance(name_or_path, str) and bool(_NAME_RE.match(s)) and not s.endswith((".pt", ".json"))


def list_models() -> list[str]:
    """Names of the models shipped with the package (``.pt`` and ``.json`` both present)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".pt").is_file())


def pick_model(tilt_angles_deg, *, default: str = "general") -> str:
    """Choose a shipped model for a tilt range (the paper's Fig. 6: train for the wedge you have).

    Among shipped models whose card gives a ``wedge_range_deg`` containing this series'
    missing wedge (``180° − (θmax − θmin)``), a model conditioned on the acquisition
    (config ``condition``, e.g. ``"film"``: it is told the tilt range) wins over
    unconditioned ones, and then the one with the narrowest range; when none covers it,
    ``default`` (if shipped), else the first shipped model. A family of models trained for
    different wedges is thus picked from by the angles.

    Raises
    ------
    ModelNotFoundError
        When no model is shipped at all.
    """
    from napari_irdm.geometry import check_angles, missing_wedge_deg

    wedge = missing_wedge_deg(check_angles(tilt_angles_deg, what="model choice"))
    names = list_models()
    if not names:
        resolve_model_path(default)  # raises the "no shipped model" error
    best, best_key = None, (True, float("inf"))
    for name in names:
        try:
            info = model_info(name)
            lo, hi = (float(v) for v in info.get("card", {}).get("wedge_range_deg", ())[:2])
        except (TypeError, ValueError):
            continue
        config = info.get("config")
        conditioned = isinstance(config, dict) and config.get("condition") is not None
        key = (not conditioned, hi - lo)
        if lo - 1e-6 <= wedge <= hi + 1e-6 and key < best_key:
            best, best_key = name, key
    if best is not None:
        return best
    return default if default in names else names[0]


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """The ``.pt`` file for a shipped model name, a ``.pt`` path, or a folder holding ``model.pt``.

    Raises
    ------
    ModelNotFoundError
        When there is no such model, with what is available and how to make one.
    """
    from napari_irdm.io._errors import as_path

    p = as_path(name_or_path, "model (a shipped name or a .pt path)")
    if _is_name(name_or_path) and not p.exists():
        pt = WEIGHTS_DIR / f"{name_or_path}.pt"
        if not pt.is_file():
            avail = ", ".join(list_models()) or "none yet"
            raise ModelNotFoundError(
                f"no shipped model {str(name_or_path)!r} (shipped: {avail}); train one with "
                f"napari_irdm.train (or the train command) and export it, "
                f"or pass the path of a .pt file"
            )
        return pt
    if p.is_dir():
        p = p / "model.pt"
    elif p.suffix == ".json":
        p = p.with_suffix(".pt")
    if not p.is_file():
        raise ModelNotFoundError(
            f"model file {str(p)!r} not found: give a shipped name ({list_models()}) or a .pt path"
        )
    return p


def model_info(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The JSON card data stored beside a model (architecture, sha256, training summary)."""
    pt = resolve_model_path(name_or_path)
    js = pt.with_suffix(".json")
    if not js.is_file():
        raise ValueError(f"model {str(pt)!r} has no {js.name} beside it: re-export it with save_model")
    try:
        info = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"model card {str(js)!r} is not valid JSON ({err}): re-export the model") from None
    if not isinstance(info, dict):
        raise ValueError(f"model card {str(js)!r} is not a JSON object: re-export the model with save_model")
    for key in ("config", "sha256"):
        if key not in info:
            raise ValueError(f"model card {str(js)!r} lacks {key!r}: re-export the model with save_model")
    return info


def load_model(name_or_path: str | os.PathLike, *, device=None) -> UNetPlusPlus:
    """Load a generator by shipped name or path, verify its sha256, return it in eval mode.

    Parameters
    ----------
    name_or_path : str or path
        A shipped model name (see :func:`list_models`, e.g. ``"general"``), a ``.pt`` file
        with its ``.json`` beside it, or a folder holding ``model.pt``/``model.json``.
    device : str or torch.device, optional
        Where to put the model (:func:`napari_irdm.device.resolve_device`).

    Returns
    -------
    UNetPlusPlus
        Float32 weights, ``eval()`` mode, on ``device``.

    Raises
    ------
    ModelNotFoundError
        No such model.
    ValueError
        The file's sha256 differs from its card (corrupt or changed), or the card and the
        weights do not fit together.
    """
    pt = resolve_model_path(name_or_path)
    info = model_info(pt)
    blob = pt.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != info["sha256"]:
        raise ValueError(
            f"sha256 mismatch for model {str(pt)!r}: file has {digest[:12]}…, card says {str(info['sha256'])[:12]}…; "
            "the file is corrupt or was changed: reinstall the package or re-export the model"
        )
    arch = info.get("architecture", "UNetPlusPlus")
    if arch != "UNetPlusPlus":
        raise ValueError(f"model {str(pt)!r} has architecture {arch!r}; this version loads only 'UNetPlusPlus'")
    card = str(pt.with_suffix(".json"))
    config = info["config"]
    if not isinstance(config, dict):
        raise ValueError(f"model card {card!r} has a bad config (not an object): re-export the model")
    try:
        with torch.device("meta"):  # no memory: only to count what the card claims
            n_params = sum(p.numel() for p in UNetPlusPlus(**config).parameters())
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"model card {card!r} has a bad config ({_first_line(err)}): re-export the model") from None
    if n_params * 2 > 4 * len(blob) + 2**20:  # stored as float16 or float32: the file must hold them
        raise ValueError(
            f"model card {card!r} claims {n_params:,} parameters but {str(pt)!r} is only {len(blob):,} bytes: "
            "the card does not belong to these weights; re-export the model"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes about pickle protocols: not the user's business
            state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged or foreign file raises many types
        raise ValueError(f"{str(pt)!r} is not a readable model file ({torch_load_reason(err)}): "
                         "reinstall the package or re-export the model") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(pt)!r} does not hold a state dict of weights (found {type(state).__name__}): "
                         "export models with napari_irdm.dl.registry.save_model or napari_irdm.train.export")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model = UNetPlusPlus(**config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ValueError(f"weights in {str(pt)!r} do not fit the architecture in its card "
                         f"({_describe_mismatch(model, state)}): re-export the model") from None
    return model.to(resolve_device(device)).eval()


def torch_load_reason(err: BaseException) -> str:
    """A short reason from a ``torch.load`` failure (its weights-only text is many lines)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    for ln in lines:
        if "WeightsUnpickler error:" in ln:
            return ln.split("WeightsUnpickler error:", 1)[1].strip()[:100] or "refused by the safe loader"
    for ln in lines:
        if "Weights only load failed" in ln or ln.startswith("(1)") or ln.startswith("(2)"):
            continue
        return ln[:100]
    return type(err).__name__


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _describe_mismatch(model, state: dict) -> str:
    """``"3 missing, 2 unexpected, 1 of another shape, e.g. x_0_0.0.weight"``: one short line."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected")
    if shape:
        k = shape[0]
        parts.append(f"{len(shape)} of another shape, e.g. {k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}")
    example = (missing or unexpected or [""])[0]
    text = ", ".join(parts) or "different weights"
    return text + (f", e.g. {example}" if example and not shape else "")




def save_model(
    generator: nn.Module,
    name_or_dir: str | os.PathLike,
    *,
    config: Mapping[str, Any] | None = None,
    card_fields: Mapping[str, Any] | None = None,
) -> Path:
    """Export a generator as fp16 ``.pt`` + ``.json`` card, each written atomically.

    Parameters
    ----------
    generator : UNetPlusPlus
        The trained generator (any device; it is not modified).
    name_or_dir : str or path
        A bare name (``"general"``) writes the shipped files ``dl/weights/<name>.pt/.json``;
        a path ending in ``.pt`` writes that file and the ``.json`` beside it; any other path
        is a folder that receives ``model.pt`` and ``model.json``.
    config : mapping, optional
        Architecture config (``UNetPlusPlus`` arguments); default ``generator.config``.
    card_fields : mapping, optional
        Training summary for the card (dataset spec, wedge range, preset, steps, hardware,
        wall time, validation table, command...). Stored under ``"card"``.

    Returns
    -------
    Path
        The ``.pt`` file written.

    Raises
    ------
    ValueError
        If weights overflow float16, or a shipped model would exceed 25 MB.
    """
    if config is None:
        if not hasattr(generator, "config"):
            raise ValueError("save_model needs config= for a generator without a .config attribute")
        config = cast(Mapping[str, Any], generator.config)  # nn.Module's __getattr__ types it Tensor | Module
    config = dict(config)
    UNetPlusPlus(**config)  # fail early on a config load_model could not rebuild
    if _is_name(name_or_dir) and not Path(name_or_dir).exists():
        pt = WEIGHTS_DIR / f"{name_or_dir}.pt"
        shipped = True
    else:
        p = Path(name_or_dir)
        pt = p if p.suffix == ".pt" else p / "model.pt"
        shipped = False
    state = {}
    for k, v in generator.state_dict().items():
        v = v.detach().cpu()
        if v.is_floating_point():
            h = v.to(torch.float16)
            if not torch.isfinite(h).all():
                raise ValueError(f"weight {k!r} is not finite in float16: the model diverged or needs fp32 storage")
            v = h
        state[k] = v.contiguous()
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    if shipped and len(blob) > MAX_SHIPPED_BYTES:
        raise ValueError(
            f"model {pt.stem!r} is {len(blob) / 1024**2:.1f} MB, over the 25 MB limit for shipped weights: "
            "use a smaller base_width"
        )
    info = {
        "name": pt.stem if shipped else pt.parent.name if pt.name == "model.pt" else pt.stem,
        "format_version": FORMAT_VERSION,
        "architecture": "UNetPlusPlus",
        "config": jsonable(config),
        "sha256": hashlib.sha256(blob).hexdigest(),
        "dtype": "float16",
        "size_bytes": len(blob),
        "n_parameters": int(sum(p.numel() for p in generator.parameters())),
        "normalisation": {"method": "robust", "percentiles": [0.5, 99.5], "pairs": "normalise_pair (input's range)"},
        "saved_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch_version": torch.__version__,
        "card": jsonable(dict(card_fields or {})),
    }
    if config.get("condition") is not None:  # what a conditioned model must be given (inference passes it)
        info["conditioning"] = {
            "kind": config["condition"],
            "input": "acquisition (lo, hi, step) in degrees: smallest and largest tilt angle, median tilt step",
            "inference": "inpaint(..., tilt_angles_deg=...) computes it; required",
        }
    atomic_write_bytes(pt, blob)
    atomic_write_bytes(pt.with_suffix(".json"), (json.dumps(info, indent=2, sort_keys=False) + "\n").encode())
    return pt
