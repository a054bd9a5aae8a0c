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
    needs_domain_b: bool = False  # learns from data.train (domain A) and data.domain_b, unpaired
    optim_defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # its paper's optimizer settings
    model_methods: tuple = ()  # methods beyond the model contract the objective calls (e.g. reversed_config)

    def cannot_train(self, model: Any) -> str:
        """Why this objective cannot train ``model`` (its kind, or a method it lacks); empty if it can."""
        if model.kind not in self.kinds:
            return (f"objective {self.name!r} trains models of kind {', '.join(self.kinds)}; model "
                    f"{model.model_name!r} is of kind {model.kind!r}")
        lacking = [m for m in self.model_methods if not callable(getattr(model, m, None))]
        if lacking:
            return (f"objective {self.name!r} needs models with {', '.join(f'{m}()' for m in lacking)}; model "
                    f"{model.model_name!r} has none")
        return ""


_REGISTRY: Dict[str, ObjectiveEntry] = {}


def register_objective(name: str, *, config: Type[Any], kinds: tuple, description: str = "",
                       needs_domain_b: bool = False, optim_defaults: Optional[Mapping[str, Any]] = None,
                       model_methods: tuple = ()):
    """Class decorator registering an objective under ``name`` for models of ``kinds``.

    ``needs_domain_b``: the objective learns from two unpaired domains (the trainer samples both and calls
    ``collate(chips_a, chips_b)``).  ``optim_defaults``: ``optim`` keys the objective's paper sets (e.g.
    Adam 2e-4, betas 0.5 / 0.999); they replace the project's defaults of the keys a config leaves out.
    ``model_methods``: methods beyond the model contract that the objective calls on the model."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"params of objective {name!r} must be a dataclass")

    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"objective {name!r} is registered twice")
        _REGISTRY[name] = ObjectiveEntry(name, config, cls, tuple(kinds),
                                         description or (cls.__doc__ or "").strip().splitlines()[0],
                                         bool(needs_domain_b), dict(optim_defaults or {}), tuple(model_methods))
        cls.objective_name = name
        cls.needs_domain_b = bool(needs_domain_b)
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
    """Build objective ``name`` around ``model`` (checked: the objective must train the model's kind), every
    module in the run's memory format (``ctx.place``; a no-op for those the objective wrapped already)."""
    entry = objective_entry(name)
    why = entry.cannot_train(model)
    if why:
        raise ConfigError(f"objective.name: {why}")
    objective = entry.build(model, make_objective_params(name, params), ctx)
    for module in objective.modules.values():
        ctx.place(module)
    return objective


def _load() -> None:
    from . import cyclegan, pix2pix, spade, translation  # noqa: F401  (register the built-in objectives)


__all__ = ["ObjectiveEntry", "register_objective", "unregister_objective", "list_objectives", "objective_entry",
           "make_objective_params", "create_objective"]
