"""An ensemble of trained models of one architecture: the mean of their outputs, behind the same contract.

Runs of the same config that differ only in their seed disagree on scenes unlike the training scenes by as
much as a design change moves the result (``docs/evaluation.md``, run 9).  Averaging them is the standard
answer to that variance: :class:`ModelEnsemble` holds the members, checks that they are interchangeable
(same architecture, kind, tensors, geometry and bands: a caller could swap one for another) and is
itself a model of the contract (:mod:`.contract`), so it exports to one ONNX file that ``predict``, QGIS
and ``evaluate`` run like any other.  Its output is the plain mean of the members' outputs, in physical
units; a per-pixel member keeps the ensemble per-pixel (tiled = whole-image).

It is built from trained members (``training.export.export_ensemble``), never trained as one network:
it is not in the model registry.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import torch
from torch import nn

from ..errors import ModelError
from .contract import contract_problems


def _signature(model: Any) -> Dict[str, Any]:
    """What must agree between members for one to stand in for another."""
    inputs, outputs = model.io_specs()
    return {"architecture": model.model_name, "family": model.model_family, "kind": model.kind,
            "inputs": tuple(inputs), "outputs": tuple(outputs), "stride": model.stride,
            "receptive field": model.receptive_field(), "tiling": dict(model.tiling()),
            "accepted sources": tuple(model.accepted_sources()), "accepted targets": tuple(model.accepted_targets()),
            "usable sources": tuple(model.usable_sources()), "usable targets": tuple(model.usable_targets()),
            "label classes": tuple(getattr(model, "label_classes", ()))}


class ModelEnsemble(nn.Module):
    """``forward(*inputs) = mean(member(*inputs) for member in members)``; the contract's identity,
    tensors, geometry and bands are the members' (they agree), normalization is the first member's
    (what the metadata records; each member keeps its own inside the graph)."""

    def __init__(self, members: Sequence[nn.Module], names: Sequence[str] = ()):
        super().__init__()
        members = list(members)
        names = list(names) or [f"member {i}" for i in range(len(members))]
        if len(names) != len(members):
            raise ModelError(f"{len(names)} member names for {len(members)} members")
        if len(members) < 2:
            raise ModelError(f"an ensemble needs at least two members, got {len(members)}")
        for name, m in zip(names, members):
            problems = contract_problems(m)
            if problems:
                raise ModelError(f"ensemble {name}: not a model of the contract ({'; '.join(problems)})")
        first = _signature(members[0])
        for name, m in zip(names[1:], members[1:]):
            sig = _signature(m)
            differ = [k for k in first if sig[k] != first[k]]
            if differ:
                k = differ[0]
                raise ModelError(f"ensemble {name} cannot stand in for {names[0]}: its {k} differs "
                                 f"({sig[k]!r} vs {first[k]!r}){' (and its ' + ', '.join(differ[1:]) + ')' if differ[1:] else ''}")
        self.members = nn.ModuleList(members)
        self.member_names = tuple(names)
        lead = members[0]
        self.model_name = lead.model_name
        self.model_family = lead.model_family
        self.config = lead.config
        self.kind = lead.kind
        self.input_names = tuple(lead.input_names)
        self.input_roles = tuple(lead.input_roles)
        self.output_names = tuple(lead.output_names)
        self.label_classes = tuple(getattr(lead, "label_classes", ()))
        self.min_size = int(getattr(lead, "min_size", lead.stride))

    @property
    def lead(self) -> nn.Module:
        return self.members[0]

    @property
    def normalization(self):
        return self.lead.normalization

    @property
    def stride(self) -> int:
        return self.lead.stride

    def __len__(self) -> int:
        return len(self.members)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        total = self.members[0](*inputs)
        for m in self.members[1:]:
            total = total + m(*inputs)
        return total / float(len(self.members))

    # -- the contract: the members agree on all of it (checked in __init__) ----------------------------
    def receptive_field(self) -> int:
        return self.lead.receptive_field()

    def tiling(self) -> Dict[str, int]:
        return self.lead.tiling()

    def io_specs(self) -> Tuple[Tuple[Any, ...], Tuple[Any, ...]]:
        return self.lead.io_specs()

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return self.lead.dynamic_axes()

    def example_inputs(self, batch: int, height: int, width: int, generator: Any = None) -> Tuple[Any, ...]:
        return self.lead.example_inputs(batch, height, width, generator=generator)

    def accepted_sources(self) -> Tuple[int, ...]:
        return self.lead.accepted_sources()

    def accepted_targets(self) -> Tuple[int, ...]:
        return self.lead.accepted_targets()

    def usable_sources(self) -> Tuple[int, ...]:
        return self.lead.usable_sources()

    def usable_targets(self) -> Tuple[int, ...]:
        return self.lead.usable_targets()

    def output_classes(self, inputs: Sequence[Any]) -> Any:
        return self.lead.output_classes(inputs)

    def normalized_sources(self, inputs: Sequence[Any]) -> Any:
        return self.lead.normalized_sources(inputs)

    def condition(self, inputs: Sequence[Any]) -> Any:
        return self.lead.condition(inputs)

    def set_normalization(self, mean: Any, std: Any = None) -> None:
        raise ModelError("an ensemble is built from trained members; set each member's normalization before")

    def export_copy(self) -> "ModelEnsemble":
        """The members' export copies (eval mode, float32, unfitted sources masked) in one ensemble."""
        return ModelEnsemble([m.export_copy() for m in self.members], self.member_names)


__all__ = ["ModelEnsemble"]
