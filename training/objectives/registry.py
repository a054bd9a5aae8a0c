"""One registry of training objectives beside the model registry: ``create_objective(name, model, params, ctx)``.

An objective owns everything a family needs to learn besides the model itself: its extra modules
(discriminators, a second generator), optimizers and schedulers, one ``train_step``, its checkpoint
state and the predictor evaluation uses (see :mod:`.base`).  A module registers each objective with the
frozen dataclass of its parameters::

    @register_objective("translation", config=TranslationParams)
    class Translation(Objective): ...

The YAML section ``objective: {name, params}`` selects one; ``params`` is checked against the dataclass
(an unknown key is an error naming ``objective.params.<key>``).  This module imports no torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Type

from ...core.errors import ConfigError


@dataclass(frozen=True)
class ObjectiveEntry:
    name: str
    config: Type[Any]  # a frozen dataclass of the objective's parameters
    build: Callable[..., Any]  # (model, params, ctx) -> Objective
    kinds: tuple  # model kinds the objective can train
    description: str = ""


_REGISTRY: Dict[str, ObjectiveEntry] = {}


def register_objective(name: str, *, config: Type[Any], kinds: tuple, description: str = ""):
    """Class decorator registering an objective under ``name`` for models of ``kinds``."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"params of objective {name!r} must be a dataclass")

    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"objective {name!r} is registered twice")
        _REGISTRY[name] = ObjectiveEntry(name, config, cls, tuple(kinds),
                                         description or (cls.__doc__ or "").strip().splitlines()[0])
        cls.objective_name = name
        return cls

    return deco


def unregister_objective(name: str) -> None:
    """Remove a registered objective (for objectives registered at run time, e.g. by a test)."""
    objective_entry(name)
    del _REGISTRY[name]


def list_objectives() -> List[str]:
    _load()
    return sorted(_REGISTRY)


def objective_entry(name: str) -> ObjectiveEntry:
    _load()
    if name not in _REGISTRY:
        raise ConfigError(f"objective.name: unknown objective {name!r}; registered objectives: "
                          f"{', '.join(sorted(_REGISTRY)) or '(none)'}")
    return _REGISTRY[name]


def make_objective_params(name: str, params: Optional[Mapping[str, Any]] = None):
    """The objective's parameter dataclass built from ``params``; errors name ``objective.params.<key>``."""
    from ...core.config import from_dict

    return from_dict(objective_entry(name).config, dict(params or {}), prefix="objective.params")


def create_objective(name: str, model: Any, params: Optional[Mapping[str, Any]], ctx: Any):
    """Build objective ``name`` around ``model`` (checked: the objective must train the model's kind)."""
    entry = objective_entry(name)
    if model.kind not in entry.kinds:
        raise ConfigError(f"objective.name: objective {name!r} trains models of kind {', '.join(entry.kinds)}; "
                          f"model {model.model_name!r} is of kind {model.kind!r}")
    return entry.build(model, make_objective_params(name, params), ctx)


def _load() -> None:
    from . import translation  # noqa: F401  (registers the built-in objectives)


__all__ = ["ObjectiveEntry", "register_objective", "unregister_objective", "list_objectives", "objective_entry",
           "make_objective_params", "create_objective"]
