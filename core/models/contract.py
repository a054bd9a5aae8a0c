"""The model contract: what every registered model offers the trainer, export, evaluation and the engine.

A model family is free in its architecture; what the rest of the project may rely on is this surface
(:class:`TranslationModel`), checked for every registered model by :func:`contract_problems` (the
registry tests run it over :func:`~.registry.list_models`):

* identity: ``model_name``, ``model_family`` and ``config`` (set by :func:`~.registry.create_model`);
* ``kind``: one of :data:`MODEL_KINDS` (the metadata and the engine's feed strategy follow it):

  - ``conditional``: ``forward(bands [N,15,H,W], presence [N,15], target [N]) -> [N,1,H,W]``;
  - ``fixed_bands``: ``forward(bands [N,C_in,H,W]) -> [N,C_out,H,W]`` for fixed band lists;
  - ``label_map``: ``forward(labels [N,K,H,W], ...) -> [N,C_out,H,W]``;

* tensors: ``input_names`` / ``input_roles`` (the forward arguments, in order), ``output_names``,
  :meth:`io_specs` (metadata tensor specs), :meth:`dynamic_axes`, :meth:`example_inputs`;
* geometry: ``stride``, :meth:`receptive_field`, :meth:`tiling`;
* bands: ``normalization`` (a :class:`~.normalization.BandNormalization`), :meth:`accepted_sources` /
  :meth:`accepted_targets` (what the config allows, known before any data), :meth:`usable_sources` /
  :meth:`usable_targets` (those of them whose statistics were set from data), :meth:`output_classes` (the class of every output channel, so a loss can be
  expressed in each band's standard deviations), :meth:`normalized_sources` and :meth:`condition`
  (what a discriminator sees besides the candidate output);
* :meth:`export_copy`: an eval-mode float32 copy ready for the ONNX exporter.

Optional, for objectives that ask for it (``register_objective(..., model_methods=...)``):
``reversed_config()``, the config of the same model translating the other way (the fixed-band families
have it, see :class:`~.fixed_bands.FixedBandModel`; CycleGAN builds its second generator from it).

Everything is in physical units at the boundary (reflectance, degC); normalization is inside the model.
This module imports no torch at module level, so the metadata side can name the kinds.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple, runtime_checkable

from ..metadata import MODEL_KINDS  # the kinds: the ONNX metadata's ``kind``, the engine's feed strategies

#: Attributes and methods every model must have (checked by :func:`contract_problems`).
CONTRACT_ATTRIBUTES = ("model_name", "model_family", "config", "kind", "normalization", "input_names",
                       "input_roles", "output_names", "stride")
CONTRACT_METHODS = ("receptive_field", "tiling", "io_specs", "dynamic_axes", "example_inputs", "accepted_sources",
                    "accepted_targets", "usable_sources", "usable_targets", "output_classes", "normalized_sources", "condition", "export_copy",
                    "set_normalization")


@runtime_checkable
class TranslationModel(Protocol):
    """The surface of every registered model (see the module docstring)."""

    model_name: str
    model_family: str
    config: Any
    kind: str
    normalization: Any  # BandNormalization
    input_names: Tuple[str, ...]
    input_roles: Tuple[str, ...]
    output_names: Tuple[str, ...]

    @property
    def stride(self) -> int: ...

    def receptive_field(self) -> int: ...

    def tiling(self) -> Dict[str, int]: ...

    def io_specs(self) -> Tuple[Tuple[Any, ...], Tuple[Any, ...]]: ...

    def dynamic_axes(self) -> Dict[str, Dict[int, str]]: ...

    def example_inputs(self, batch: int, height: int, width: int, generator: Any = None) -> Tuple[Any, ...]: ...

    def accepted_sources(self) -> Tuple[int, ...]: ...

    def accepted_targets(self) -> Tuple[int, ...]: ...

    def usable_sources(self) -> Tuple[int, ...]: ...

    def usable_targets(self) -> Tuple[int, ...]: ...

    def output_classes(self, inputs: Sequence[Any]) -> Any: ...

    def normalized_sources(self, inputs: Sequence[Any]) -> Any: ...

    def condition(self, inputs: Sequence[Any]) -> Optional[Any]: ...

    def export_copy(self) -> Any: ...

    def set_normalization(self, mean: Any, std: Any = None) -> None: ...


def contract_problems(model: Any) -> List[str]:
    """What ``model`` lacks or gets wrong of the contract (empty list: it satisfies it)."""
    problems = [f"no attribute {a}" for a in CONTRACT_ATTRIBUTES if not hasattr(model, a)]
    problems += [f"no method {m}()" for m in CONTRACT_METHODS if not callable(getattr(model, m, None))]
    if problems:
        return problems
    if model.kind not in MODEL_KINDS:
        problems.append(f"kind {model.kind!r} is not one of {', '.join(MODEL_KINDS)}")
    if len(model.input_names) != len(model.input_roles):
        problems.append(f"{len(model.input_names)} input names but {len(model.input_roles)} input roles")
    inputs, outputs = model.io_specs()
    if [t.name for t in inputs] != list(model.input_names):
        problems.append(f"io_specs inputs {[t.name for t in inputs]} != input_names {list(model.input_names)}")
    if [t.role for t in inputs] != list(model.input_roles):
        problems.append(f"io_specs roles {[t.role for t in inputs]} != input_roles {list(model.input_roles)}")
    if [t.name for t in outputs] != list(model.output_names):
        problems.append(f"io_specs outputs {[t.name for t in outputs]} != output_names {list(model.output_names)}")
    axes = model.dynamic_axes()
    unknown = sorted(set(axes) - set(model.input_names) - set(model.output_names))
    if unknown:
        problems.append(f"dynamic_axes names unknown tensors {unknown}")
    stride = model.stride
    if not isinstance(stride, int) or stride < 1:
        problems.append(f"stride {stride!r} is not a positive integer")
    tiling = model.tiling()
    missing = [k for k in ("tile_size", "overlap", "stride", "receptive_field") if k not in tiling]
    if missing:
        problems.append(f"tiling() lacks {', '.join(missing)}")
    elif tiling["stride"] != stride or tiling["tile_size"] % stride:
        problems.append(f"tiling() {tiling} does not agree with stride {stride}")
    return problems


def model_inputs(model: Any, batch: Any) -> Tuple[Any, ...]:
    """The forward arguments of ``model`` taken from a batch keyed by tensor role."""
    missing = [r for r in model.input_roles if r not in batch]
    if missing:
        from ..errors import ModelError

        raise ModelError(f"{model.model_name}: the batch lacks input role(s) {', '.join(missing)} "
                         f"(it has {', '.join(sorted(batch))})")
    return tuple(batch[r] for r in model.input_roles)


__all__ = ["MODEL_KINDS", "TranslationModel", "contract_problems", "model_inputs", "CONTRACT_ATTRIBUTES",
           "CONTRACT_METHODS"]
