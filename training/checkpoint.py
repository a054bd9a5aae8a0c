"""Checkpoint files: one ``torch.save`` dict of plain data and tensors, written atomically, loaded safely.

Format v2 (``docs/architecture.md`` lists the keys): the model's registry name and config, the
objective's name and parameters, every trained module and optimizer by name (``modules``,
``optimizers``, ``schedulers``: ``"model"`` is always the model), the sampler and RNG states, the
resolved training config, progress, metrics and the training summary.  A checkpoint carries its own
config, so ``export`` and ``--resume`` need nothing else.

Loading never runs code from the file: it uses ``torch.load(weights_only=True)``, which only rebuilds
tensors and plain containers.  Format-v1 checkpoints (before objectives existed) stored NumPy's RNG
state as an array, so for them exactly NumPy's array-rebuilding functions are allowed besides; they are
upgraded in memory to the v2 layout.  Anything else a pickle asks for is refused with a message.
"""

from __future__ import annotations

import os
import pickle
import random
from typing import Any, Dict, Mapping

import numpy as np

from ..core.errors import ModelError
from ..core.fileio import atomic_path

FORMAT = "hls_translate.checkpoint"
FORMAT_VERSION = 2
REQUIRED_KEYS = ("model_name", "model_config", "modules", "objective_name")
#: v1 state-dict keys of the AdaIN model's statistics, renamed when its normalization became a module
_V1_MODEL_KEYS = {"norm_mean": "normalization.mean", "norm_std": "normalization.std",
                  "norm_fitted": "normalization.fitted"}


def plain(obj: Any) -> Any:
    """``obj`` with NumPy values made plain (Python numbers, tensors): what a safe load can rebuild."""
    import torch

    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        out = [plain(v) for v in obj]
        return out if isinstance(obj, list) else tuple(out)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def rng_state() -> Dict[str, Any]:
    """The Python, NumPy, torch (and CUDA) RNG states, as plain data."""
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    st = {"python": random.getstate(),
          "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                    "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
          "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: Mapping[str, Any]) -> None:
    import torch

    random.setstate(_tuples(st["python"]))
    n = st["numpy"]
    if isinstance(n, Mapping):
        np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    else:  # format v1: NumPy's own tuple
        np.random.set_state(n)
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(st["cuda"])
        except (RuntimeError, IndexError):  # a different GPU count: keep the fresh states
            pass


def _tuples(x: Any) -> Any:
    """``random.setstate`` wants tuples where a round trip may have left lists."""
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: str, state: Mapping[str, Any]) -> str:
    """Write ``state`` to ``path`` via a temporary file in the same folder and an atomic rename, so an
    interrupted write never leaves a truncated checkpoint where a good one was."""
    import torch

    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ModelError(f"checkpoint for {path} lacks {', '.join(missing)}")
    if "model" not in state["modules"]:
        raise ModelError(f"checkpoint for {path}: modules must hold 'model'")
    payload: Dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, **plain(dict(state))}
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                torch.save(payload, f)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as RuntimeError
        raise ModelError(f"cannot write checkpoint {path} ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                         "the previous checkpoint there, if any, is unchanged (disk full?)") from None
    return path


def _v1_numpy_globals():
    """The globals a v1 checkpoint's NumPy RNG state needs: NumPy's array and dtype rebuilding only."""
    reconstruct = np.zeros(1).__reduce__()[0]
    return [reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _safe_load(path: str, map_location: Any) -> Any:
    import torch

    try:
        with torch.serialization.safe_globals(_v1_numpy_globals()):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        what = next((line.strip() for line in first if "GLOBAL" in line or "Unsupported" in line), first[0] if first else "")
        raise ModelError(f"{path} is not a safe checkpoint: it asks to rebuild Python objects that hls_translate "
                         f"never stores ({what}); it was refused without running anything. Use checkpoints "
                         "written by `hls-translate train`") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(f"{path} is not a readable checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load (safely) and validate a checkpoint, upgrading v1 to the v2 layout; errors name the file."""
    if not os.path.isfile(path):
        raise ModelError(f"checkpoint not found: {path}")
    state = _safe_load(path, map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelError(f"{path} is not an hls_translate checkpoint (no format marker {FORMAT!r})")
    version = state.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{path}: checkpoint format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ModelError(f"{path}: checkpoint format version {version} is newer than this hls_translate "
                         f"understands ({FORMAT_VERSION}); update hls_translate")
    if version == 1:
        state = upgrade_v1(state, path)
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ModelError(f"{path}: checkpoint lacks {', '.join(missing)}")
    for key, kind, what in (("model_name", str, "a string"), ("objective_name", str, "a string"),
                            ("model_config", Mapping, "a mapping"), ("modules", Mapping, "a mapping")):
        if not isinstance(state[key], kind):
            raise ModelError(f"{path}: checkpoint {key} must be {what}, got {type(state[key]).__name__}")
    if "model" not in state["modules"] or not isinstance(state["modules"]["model"], Mapping):
        raise ModelError(f"{path}: checkpoint modules hold no 'model' state")
    if "step" in state and (isinstance(state["step"], bool) or not isinstance(state["step"], int)):
        raise ModelError(f"{path}: checkpoint step must be an integer, got {state['step']!r}")
    return state


def upgrade_v1(state: Mapping[str, Any], path: str) -> Dict[str, Any]:
    """A format-v1 checkpoint (model + optional discriminator, ``loss`` section) in the v2 layout."""
    if "model_state" not in state:
        raise ModelError(f"{path}: format-1 checkpoint lacks model_state")
    up = {k: v for k, v in state.items() if k not in ("model_state", "optimizer", "scheduler", "discriminator",
                                                      "discriminator_optimizer", "loss")}
    up["format_version"] = FORMAT_VERSION
    up["modules"] = {"model": {_V1_MODEL_KEYS.get(k, k): v for k, v in state["model_state"].items()}}
    up["optimizers"], up["schedulers"] = {}, {}
    if "optimizer" in state:
        up["optimizers"]["model"] = state["optimizer"]
    if "scheduler" in state:
        up["schedulers"]["model"] = state["scheduler"]
    if state.get("discriminator") is not None:
        up["modules"]["discriminator"] = state["discriminator"]
        # v1 stepped the discriminator's learning rate by hand; its schedule starts afresh
        up["optimizers"]["discriminator"] = state.get("discriminator_optimizer")
    config = dict(state.get("config") or {})
    loss = config.pop("loss", None)
    config["objective"] = {"name": "translation", "params": dict(loss or {})}
    up["config"] = config
    up["objective_name"] = "translation"
    up["objective_config"] = dict(loss or {})
    up["upgraded_from"] = 1
    return up


def exportable_modules(state: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    """The modules of a checkpoint that are registered models: name -> ``{"model_name", "model_config"}``
    (``"model"`` always; others, such as CycleGAN's ``generator_ba``, as the objective recorded them)."""
    out = {"model": {"model_name": state["model_name"], "model_config": state["model_config"]}}
    for name, entry in dict(state.get("module_models") or {}).items():
        if name != "model" and isinstance(entry, Mapping) and {"model_name", "model_config"} <= set(entry):
            out[name] = entry
    return out


def model_from_checkpoint(state: Mapping[str, Any], module: str = "model"):
    """Rebuild the bare model (eval mode) from a loaded checkpoint dict: ``"model"``, or another of its
    registered-model modules (:func:`exportable_modules`)."""
    from ..core.models import create_model

    models = exportable_modules(state)
    if module not in models:
        others = ", ".join(sorted(models))
        raise ModelError(f"it has no module {module!r} that is a model (its models: {others}; other modules such as "
                         f"discriminators: {', '.join(sorted(set(state['modules']) - set(models))) or 'none'})")
    entry = models[module]
    if module not in state["modules"]:
        raise ModelError(f"it records model {module!r} but holds no state for it")
    model = create_model(entry["model_name"], **dict(entry["model_config"]))
    try:
        model.load_state_dict(state["modules"][module])
    except RuntimeError as exc:  # missing/unexpected keys, shape mismatch
        raise ModelError(f"its {module} state does not fit model {entry['model_name']!r} with its model_config "
                         f"({str(exc).splitlines()[0]})") from None
    model.eval()
    return model


__all__ = ["save_checkpoint", "load_checkpoint", "model_from_checkpoint", "exportable_modules", "upgrade_v1", "rng_state",
           "set_rng_state", "plain", "FORMAT", "FORMAT_VERSION"]
