"""One registry of model constructors: ``create_model(name, **cfg)``.

A model family module registers each named model with the frozen dataclass that holds its
hyperparameters::

    @register_model("adain_unet", family="adain", config=AdaINConfig)
    def adain_unet(cfg: AdaINConfig) -> nn.Module: ...

``create_model`` validates ``cfg`` against that dataclass (an unknown key is an error naming it), builds
the model and records ``model.model_name`` and ``model.config`` on it, so a checkpoint can carry both.
This module imports no torch; the family modules do, and :mod:`hls_translate.core.models` imports them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Type

from ..errors import ModelError, UnknownModelError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    config: Type[Any]  # a frozen dataclass
    build: Callable[[Any], Any]
    description: str = ""


_REGISTRY: Dict[str, ModelEntry] = {}


def register_model(name: str, *, family: str, config: Type[Any], description: str = ""):
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config of model {name!r} must be a dataclass")

    def deco(fn: Callable[[Any], Any]):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, family, config, fn, description or (fn.__doc__ or "").strip())
        return fn

    return deco


def list_models(family: Optional[str] = None) -> List[str]:
    _load_families()
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def model_entry(name: str) -> ModelEntry:
    _load_families()
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; registered models: {', '.join(list_models()) or '(none)'}")
    return _REGISTRY[name]


def make_config(name: str, cfg: Optional[Mapping[str, Any]] = None):
    """The model's config dataclass built from ``cfg``; unknown keys and wrong types name the key."""
    from ..config import from_dict

    return from_dict(model_entry(name).config, dict(cfg or {}), prefix=f"model {name}")


def create_model(name: str, **cfg):
    """Build the registered model ``name`` with hyperparameters ``cfg`` (see its config dataclass)."""
    entry = model_entry(name)
    config = make_config(name, cfg)
    model = entry.build(config)
    model.model_name = name
    model.model_family = entry.family
    model.config = config
    from .contract import contract_problems

    problems = contract_problems(model)
    if problems:
        raise ModelError(f"model {name!r} (family {entry.family}) does not satisfy the model contract "
                         f"(core/models/contract.py): {'; '.join(problems)}")
    return model


def unregister_model(name: str) -> None:
    """Remove a registered model (for families registered at run time, e.g. by a test)."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; registered models: {', '.join(list_models()) or '(none)'}")
    del _REGISTRY[name]


def _load_families() -> None:
    # Importing the package imports every family module, each of which registers its models.
    from .. import models  # noqa: F401
