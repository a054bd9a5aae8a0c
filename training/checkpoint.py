"""Checkpoint files: one ``torch.save`` dict, written atomically, validated on load.

The layout is documented in ``docs/architecture.md`` (keys ``format``, ``format_version``, ``model_name``,
``model_config``, ``model_state``, ``config``, ``step``, ... ).  A checkpoint carries its own config, so
``export`` and ``--resume`` need nothing else.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping

from ..core.errors import ModelError
from ..core.fileio import atomic_path

FORMAT = "hls_translate.checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_name", "model_config", "model_state")


def save_checkpoint(path: str, state: Mapping[str, Any]) -> str:
    """Write ``state`` to ``path`` via a temporary file in the same folder and an atomic rename, so an
    interrupted write never leaves a truncated checkpoint where a good one was."""
    import torch

    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ModelError(f"checkpoint for {path} lacks {', '.join(missing)}")
    payload: Dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
    return path


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load and validate a checkpoint; errors name the file and what is wrong with it."""
    import torch

    if not os.path.isfile(path):
        raise ModelError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise ModelError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelError(f"{path} is not an hls_translate checkpoint (no format marker {FORMAT!r})")
    if int(state.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(f"{path}: checkpoint format version {state['format_version']} is newer than this "
                         f"hls_translate understands ({FORMAT_VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ModelError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def model_from_checkpoint(state: Mapping[str, Any]):
    """Rebuild the bare model (eval mode) from a loaded checkpoint dict."""
    from ..core.models import create_model

    model = create_model(state["model_name"], **dict(state["model_config"]))
    model.load_state_dict(state["model_state"])
    model.eval()
    return model
