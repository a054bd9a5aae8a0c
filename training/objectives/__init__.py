"""Training objectives (PyTorch): a registry beside the model registry, and the built-in objectives.

Use :func:`create_objective` (the trainer does) and :func:`list_objectives`; ``base.Objective`` says
what an objective owns.  Importing this package imports torch.
"""

from .base import Objective, TrainContext, lr_factor
from .registry import (ObjectiveEntry, create_objective, list_objectives, make_objective_params, objective_entry,
                       register_objective, unregister_objective)

__all__ = ["Objective", "TrainContext", "lr_factor", "ObjectiveEntry", "create_objective", "list_objectives",
           "make_objective_params", "objective_entry", "register_objective", "unregister_objective"]
