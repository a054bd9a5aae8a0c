"""Export a model (or a training checkpoint) to one self-describing ONNX file.

:func:`export_model` traces the model with PyTorch's TorchScript-based ONNX exporter
(``torch.onnx.export(..., dynamo=False)``: present in torch 2.13 and needing no ``onnxscript``), with
dynamic batch, height and width, embeds the :class:`~..core.metadata.ModelMetadata` JSON under
:data:`~..core.metadata.METADATA_KEY`, checks the file with ``onnx.checker`` and compares ONNX Runtime
with torch on two input sizes before the file appears, atomically, at its path.

:func:`export_checkpoint` does the same for a checkpoint written by the trainer
(``training/checkpoint.py``), carrying its training summary and validation metrics into the metadata.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import warnings
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ..core.bands import BAND_CLASSES, describe_catalogue
from ..core.config import to_dict
from ..core.errors import ModelError
from ..core.fileio import atomic_path, check_outputs_are_not_inputs, writable_output_path
from ..core.metadata import METADATA_KEY, BandStats, ModelMetadata, TilingHint, parse_metadata

MIN_OPSET = 17
DEFAULT_OPSET = 17
#: Parity tolerance of the export-time check, in units of the target band's standard deviation.
VERIFY_TOL = 1e-3
#: How an export describes its tree prior, after the network's own description.
_BLEND_MARK = "; blended "
_BLEND_NOTE = _BLEND_MARK + "{a:g} / {b:g} with per-pixel gradient-boosted trees ({n} trees for {t} targets) in the graph"


def _jsonable(obj: Any) -> Any:
    """Plain JSON data from checkpoint dicts (tensors, numpy scalars, tuples, paths)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy / torch scalars and arrays
        return _jsonable(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _require_exportable(model) -> None:
    from ..core.models.contract import contract_problems

    if not getattr(model, "model_name", None):
        raise ModelError("export needs a model built with create_model(name, ...) (it records the name and config)")
    problems = contract_problems(model)
    if problems:
        raise ModelError(f"{type(model).__name__} cannot be exported: it does not satisfy the model contract "
                         f"({'; '.join(problems)})")


def build_metadata(model, *, model_version: str = "0", training: Optional[Mapping[str, Any]] = None,
                   metrics: Optional[Mapping[str, Any]] = None, description: str = "",
                   created: Optional[str] = None) -> ModelMetadata:
    """The metadata document describing ``model`` (no file is written)."""
    _require_exportable(model)
    fitted = model.normalization.fitted_stats()
    if not fitted:
        raise ModelError(
            f"{model.model_name}: its normalization statistics were never set from data "
            "(model.set_normalization(...)); an exported model must carry the statistics it was trained with")
    sources, targets = model.usable_sources(), model.usable_targets()
    if (not sources and model.kind != "label_map") or not targets:  # a label-map model reads labels, no bands
        raise ModelError(f"{model.model_name}: no {'source' if not sources else 'target'} band class both allowed "
                         f"by the config and with statistics from data (fitted: "
                         f"{', '.join(BAND_CLASSES[i].key for i in fitted)})")
    inputs, outputs = model.io_specs()
    tiling = model.tiling()
    config = to_dict(model.config)
    if not description:
        names = ", ".join(BAND_CLASSES[i].key for i in targets)
        description = {
            "conditional": f"{model.model_name}: synthesizes one of {len(targets)} band classes ({names}) from any "
                           f"subset of {len(sources)} input band classes; inputs and output in physical units",
            "fixed_bands": f"{model.model_name}{_direction(config)}: synthesizes {names} from "
                           f"{', '.join(BAND_CLASSES[i].key for i in sources)}; inputs and outputs in physical units",
            "label_map": f"{model.model_name}: synthesizes {names} from a categorical label map; outputs in "
                         "physical units",
        }[model.kind]
    return ModelMetadata(
        family=str(model.model_family),
        architecture=str(model.model_name),
        model_version=str(model_version),
        conditional=model.kind == "conditional",
        kind=model.kind,
        inputs=inputs,
        outputs=outputs,
        source_bands=tuple(sources),
        target_bands=tuple(targets),
        label_classes=tuple(getattr(model, "label_classes", ())),  # label_map: the classes in channel order
        tiling=TilingHint(**{k: int(tiling[k]) for k in ("tile_size", "overlap", "stride", "receptive_field")}),
        units="physical",
        normalization={i: BandStats(mean=m, std=s) for i, (m, s) in sorted(fitted.items())},
        catalogue=tuple(describe_catalogue()),
        description=description,
        created=created or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        config=_jsonable(config),
        training=_jsonable(dict(training or {})),
        metrics=_jsonable(dict(metrics or {})),
    )


def _direction(config: Mapping[str, Any]) -> str:
    """`` (direction A->B)`` for a model whose config names the direction it translates (a CycleGAN
    generator), else empty."""
    return f" (direction {config['direction']})" if config.get("direction") else ""


def _torch_export(model, inputs, path: str, opset: int) -> None:
    import torch

    with warnings.catch_warnings():
        # Known, harmless messages of the TorchScript exporter: the deprecation notice, instance norm
        # "train=True" (instance norm always uses the input's statistics, which is what we want), and
        # a note that strided slices are not constant-folded.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=r".*operator 'instance_norm' is set to train=True.*")
        warnings.filterwarnings("ignore", message=r".*Constant folding - Only steps=1.*")
        # instance norm's channel-count and spatial-size checks are Python conditions on shapes; they do
        # not change the graph (and the export check runs the file at other sizes than the trace's)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning,
                                message=r"Converting a tensor to a Python boolean")
        try:
            torch.onnx.export(model, tuple(inputs), path, dynamo=False, opset_version=opset,
                              input_names=list(model.input_names), output_names=list(model.output_names),
                              dynamic_axes=model.dynamic_axes(), do_constant_folding=True)
        except TypeError as exc:  # pragma: no cover - a torch without the TorchScript exporter
            raise ModelError(f"this torch ({torch.__version__}) cannot export with the TorchScript-based "
                             f"ONNX exporter ({exc})") from None


def _declare_shapes(proto, metadata: ModelMetadata) -> None:
    """Write the symbolic/fixed dimensions of the metadata's tensor specs into the graph's inputs and
    outputs (the tracer leaves some output dimensions as generated names)."""
    specs = {t.name: t for t in (*metadata.inputs, *metadata.outputs)}
    for value in (*proto.graph.input, *proto.graph.output):
        spec = specs.get(value.name)
        if spec is None:
            raise ModelError(f"exported graph has tensor {value.name!r} that the metadata does not describe")
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(spec.shape):
            raise ModelError(f"exported tensor {value.name!r} has rank {len(dims)}, metadata says {list(spec.shape)}")
        for d, want in zip(dims, spec.shape):
            if isinstance(want, int):
                d.ClearField("dim_param")
                d.dim_value = want
            else:
                d.ClearField("dim_value")
                d.dim_param = want


def _verify(model, path: str, sizes: Tuple[Tuple[int, int], ...], tol: float, blend=None) -> Dict[str, float]:
    """Run the file in ONNX Runtime (the project's one session wrapper) and the model in torch on the same
    inputs; raise if they differ by more than ``tol`` standard deviations of each output channel's band.
    Returns the largest differences seen (physical and normalized)."""
    import numpy as np
    import torch

    from ..core.runtime import OnnxModel

    session = OnnxModel(path, device="cpu")
    roles = dict(zip(model.input_names, model.input_roles))
    g = torch.Generator().manual_seed(1234)
    worst = {"max_abs_diff": 0.0, "max_norm_diff": 0.0}
    for h, w in sizes:
        inputs = model.example_inputs(3, h, w, generator=g)
        with torch.no_grad():
            ref = model(*inputs).numpy()
            if blend is not None:  # a grafted tree prior: torch's output blended with the trees' reference
                ref = blend(inputs, ref)
            std = model.normalization.scale(model.output_classes(inputs)).numpy()
        out = session.run({roles[name]: t.numpy() for name, t in zip(model.input_names, inputs)})
        if out.shape != ref.shape:
            raise ModelError(f"export check: ONNX Runtime output shape {out.shape} != torch {ref.shape} at {h}x{w}")
        diff = np.abs(out.astype(np.float64) - ref)
        norm = float((diff / std).max())
        worst["max_abs_diff"] = max(worst["max_abs_diff"], float(diff.max()))
        worst["max_norm_diff"] = max(worst["max_norm_diff"], norm)
        if not np.isfinite(out).all() or norm > tol:
            raise ModelError(f"export check failed: ONNX Runtime differs from torch by {norm:.3g} output-band standard "
                             f"deviations at {h}x{w} (tolerance {tol:g})")
    return worst


def max_opset() -> int:
    """The newest opset both the installed TorchScript exporter and onnx support."""
    import onnx
    import torch.onnx._constants as constants  # the exporter's own bound; no public name for it

    top = getattr(constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", getattr(constants, "ONNX_MAX_OPSET", MIN_OPSET))
    return int(min(top, onnx.defs.onnx_opset_version()))


def check_opset(opset: Any) -> int:
    """``opset`` if it is an integer this exporter can write, else a :class:`ModelError` saying the range."""
    top = max_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= top:
        raise ModelError(f"opset must be an integer from {MIN_OPSET} to {top} (the newest this torch and onnx "
                         f"export), got {opset!r}")
    return opset


def _finite_weights(model) -> None:
    import torch

    bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ModelError(f"{model.model_name}: its weights are not finite (NaN or infinite in "
                         f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}); a diverged run cannot be exported")


def check_output_path(path: str) -> str:
    """The absolute output path, after checking that it can be written (folder exists and is writable)."""
    return writable_output_path(path, ModelError)


def export_model(model, path: str, *, opset: int = DEFAULT_OPSET, model_version: str = "0",
                 training: Optional[Mapping[str, Any]] = None, metrics: Optional[Mapping[str, Any]] = None,
                 description: str = "", verify: bool = True, trees: Any = None,
                 tree_weight: float = 0.5) -> ModelMetadata:
    """Export ``model`` (built by ``create_model``, statistics set) to ``path``; returns its metadata.

    ``trees``: a :class:`~.trees.TreePrior` (or the path of one) grafted into the graph, which then outputs
    ``(1 - tree_weight) * model + tree_weight * trees`` for every target the trees cover (a conditional
    model only); the metadata's ``training.tree_prior`` records it, and the export check compares ONNX
    Runtime with that blend of torch and the trees' numpy reference.

    The file is written to a temporary name in the destination folder, checked (``onnx.checker``, and
    with ``verify`` ONNX Runtime against torch at two sizes) and renamed into place, so ``path`` either
    holds the previous file or the finished new one.
    """
    check_opset(opset)
    path = check_output_path(path)
    _finite_weights(model)
    prior = _tree_prior(model, trees, tree_weight)
    if prior is not None:
        training = {**dict(training or {}), "tree_prior": {**prior.describe(), "weight": float(tree_weight)}}
        description = (description or build_metadata(model).description) + _BLEND_NOTE.format(
            a=1 - tree_weight, b=tree_weight, n=prior.n_trees, t=len(prior.targets))
    metadata = build_metadata(model, model_version=model_version, training=training, metrics=metrics,
                              description=description)
    parse_metadata(metadata.to_json(), source="export")  # what readers will see must parse
    m = model.export_copy()
    try:
        _write_onnx(m, metadata, path, opset, verify, prior, tree_weight)
    except OSError as exc:  # a full disk, a folder that went away: the previous file is kept
        raise ModelError(f"cannot write {path}: {exc.strerror or exc}; the previous file, if any, is unchanged") from None
    return metadata


def export_sizes(model) -> Tuple[int, Tuple[Tuple[int, int], ...]]:
    """The square input size the export traces at, and the (height, width) sizes it verifies at: four
    strides (1.5 and 2.5 times that), for large strides about 64 px, never below the model's smallest
    input; so a 256-stride U-Net is traced at 256 px, not at 1024."""
    s = int(model.stride)

    def up(n: float) -> int:
        return int(math.ceil(n / s) * s)

    trace = max(s * max(1, 64 // max(s, 16)), up(getattr(model, "min_size", s)))
    return trace, ((trace, trace), (up(1.5 * trace), up(2.5 * trace)))


def _tree_prior(model, trees: Any, weight: float):
    """The :class:`~.trees.TreePrior` to graft (loaded from a path), after checking it fits ``model``."""
    if trees is None:
        return None
    from .trees import TreePrior

    prior = trees if isinstance(trees, TreePrior) else TreePrior.load(trees)
    _check_prior_fits(prior, weight, model.kind, model.usable_targets(), model.model_name, "this model")
    return prior


def _check_prior_fits(prior, weight: Any, kind: str, targets: Sequence[int], name: str, which: str) -> None:
    """Refuse a blend weight outside (0, 1], a model (``name``, ``which`` in the last message) that is not
    conditional, or a prior with no trees for any of its ``targets``."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 < float(weight) <= 1.0:
        raise ModelError(f"--tree-weight must be a number in (0, 1], got {weight!r}")
    if kind != "conditional":
        raise ModelError(f"{name} is a {kind.replace('_', ' ')} model; the tree prior is grafted "
                         "into a conditional model (any sources -> the target asked for)")
    if not set(int(t) for t in prior.targets) & set(int(t) for t in targets):
        raise ModelError(f"the tree prior has no trees for any target {which} synthesizes")


def _tree_blend(prior, weight: float):
    """``blend(inputs, reference)``: the torch output blended with the trees' numpy reference, per item."""
    import numpy as np

    def blend(inputs, ref):
        bands, present, target = (t.numpy() for t in inputs)
        out = ref.astype(np.float64).copy()
        for i in range(len(bands)):
            out[i, 0] = _blend_item(prior, weight, bands[i], present[i], int(target[i]), ref[i, 0])
        return out

    return blend


def _blend_item(prior, weight: float, bands, present, target: int, network):
    """What a grafted graph outputs for one item (``bands`` [C,H,W], ``present`` [C]) given the network's
    output ``network`` [H,W]: ``(1 - w) network + w trees`` (the trees' numpy reference, absent bands NaN)
    where the prior covers ``target``, else the network's own; float64."""
    import numpy as np

    network = np.asarray(network, dtype=np.float64)
    if not prior.has_target(target):
        return network
    c, h, w = bands.shape
    x = np.transpose(bands, (1, 2, 0)).reshape(h * w, c).copy()
    x[:, present < 0.5] = np.nan
    return (1.0 - weight) * network + weight * prior.predict_full(x, target).reshape(h, w)


def _seal(proto, metadata: ModelMetadata, tmp: str) -> None:
    """Embed ``metadata`` in ``proto`` (the only metadata entry), check the graph with ``onnx.checker`` and
    write it to ``tmp``, synced to disk."""
    import onnx

    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    proto.doc_string = metadata.description
    proto.producer_name = "hls_translate"
    onnx.checker.check_model(proto, full_check=True)
    with open(tmp, "wb") as f:
        f.write(proto.SerializeToString())
        f.flush()
        os.fsync(f.fileno())


def _write_onnx(m, metadata: ModelMetadata, path: str, opset: int, verify: bool, prior=None,
                tree_weight: float = 0.5) -> None:
    import onnx

    trace, verify_sizes = export_sizes(m)
    with atomic_path(path, fsync=False) as tmp:
        _torch_export(m, m.example_inputs(2, trace, trace), tmp, opset)
        proto = onnx.load(tmp)
        _declare_shapes(proto, metadata)
        if prior is not None:
            from .trees import graft_tree_prior

            names = dict(zip(m.input_roles, m.input_names))
            graft_tree_prior(proto, prior, tree_weight, bands=names["bands"], presence=names["presence"],
                             target=names["target"], output=m.output_names[0])
        _seal(proto, metadata, tmp)
        if verify:
            _verify(m, tmp, verify_sizes, VERIFY_TOL, None if prior is None else _tree_blend(prior, tree_weight))


def default_model_version(state: Mapping[str, Any]) -> str:
    step = state.get("step")
    return f"step{int(step)}" if isinstance(step, int) else "0"


def held_out_metrics(evaluation: Mapping[str, Any]) -> Dict[str, Any]:
    """The held-out scores to carry in a model's metadata from an ``evaluation.json`` document
    (``hls-translate evaluate``): per scene and target, the model's RMSE, bias and SSIM beside both
    baselines', for the headline (all other bands as input) and the use case (the L30 bands)."""
    if evaluation.get("schema") != "hls_translate.evaluation":
        raise ModelError("--evaluation: not an evaluation.json written by hls-translate evaluate")
    cells: Dict[str, Any] = {}
    for r in evaluation.get("rows") or []:
        if r.get("source_set") not in ("all", "landsat", "fixed", "pair"):
            continue
        d = {"rmse": r["model"]["rmse"], "bias": r["model"]["bias"], "ssim": r["model"]["ssim"]}
        if r.get("baseline"):
            d["linear_rmse"] = r["baseline"]["rmse"]
        if r.get("gbt"):
            d["gbt_rmse"] = r["gbt"]["rmse"]
        cells.setdefault(r["source_set"], {})[f"{r['scene']}:{r['target']}"] = d
    summary = {k: v for k, v in (evaluation.get("summary") or {}).items() if k != "per_target"}
    return {"held_out_evaluation": {"scenes": [s.get("name") for s in evaluation.get("scenes") or []],
                                    "inference": evaluation.get("inference", ""), "summary": summary,
                                    "cells": cells}}


def _checkpoint_model(checkpoint: str, module: str):
    """``(model, training summary, validation metrics, state)`` of one checkpoint's ``module``."""
    from .checkpoint import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(checkpoint)
    try:
        model = model_from_checkpoint(state, module)
    except ModelError as exc:
        raise ModelError(f"{checkpoint}: {exc}") from None
    training = dict(state.get("training_summary") or {})
    for key in ("step", "epoch"):
        if key in state and key not in training:
            training[key] = state[key]
    training.setdefault("checkpoint", os.path.basename(os.fspath(checkpoint)))
    if module != "model":  # another model of the checkpoint (e.g. CycleGAN's B->A generator)
        training["exported_module"] = module
    metrics = dict(state.get("metrics") or {}) if module == "model" else {}
    return model, training, metrics, state


def export_checkpoint(checkpoint: str, path: str, *, opset: int = DEFAULT_OPSET, model_version: Optional[str] = None,
                      description: str = "", verify: bool = True, module: str = "model",
                      evaluation: Optional[Mapping[str, Any]] = None, trees: Any = None,
                      tree_weight: float = 0.5) -> ModelMetadata:
    """Export a trainer checkpoint; its ``training_summary`` (plus step/epoch) and ``metrics`` go into the
    metadata.  ``model_version`` defaults to ``step<N>``.  ``module`` names which of the checkpoint's
    models to export: ``"model"`` (the one trained), or another module the objective recorded as a
    registered model (e.g. CycleGAN's ``generator_ba``); ``training.exported_module`` records it, and the
    validation metrics (which score ``"model"``) are carried only with ``"model"``."""
    check_output_path(path)
    check_opset(opset)
    check_outputs_are_not_inputs([path], {os.fspath(checkpoint): "the checkpoint being exported"}, ModelError)
    model, training, metrics, state = _checkpoint_model(checkpoint, module)
    if evaluation is not None:
        metrics.update(held_out_metrics(evaluation))
    return export_model(model, path, opset=opset, model_version=model_version or default_model_version(state),
                        training=training, metrics=metrics, description=description, verify=verify, trees=trees,
                        tree_weight=tree_weight)


def export_ensemble(checkpoints: Sequence[str], path: str, *, opset: int = DEFAULT_OPSET,
                    model_version: Optional[str] = None, description: str = "", verify: bool = True,
                    module: str = "model", evaluation: Optional[Mapping[str, Any]] = None, trees: Any = None,
                    tree_weight: float = 0.5) -> ModelMetadata:
    """Export the mean of several checkpoints' ``module`` (e.g. runs of one config with different seeds) as
    one model (:class:`~..core.models.ensemble.ModelEnsemble`).  The members must be interchangeable
    (same architecture, tensors, geometry and bands; the error names the member and what differs).  The
    metadata's ``training`` is what the members' summaries agree on, with ``ensemble``: one entry per member
    (its checkpoint, seed, steps, samples seen, wall time); each member's own validation metrics are not
    carried (they score that member, not the mean); ``evaluation`` is, as for one checkpoint."""
    from ..core.models.ensemble import ModelEnsemble

    checkpoints = [os.fspath(c) for c in checkpoints]
    if len(checkpoints) < 2:
        raise ModelError(f"an ensemble needs at least two checkpoints, got {len(checkpoints)}")
    dup = sorted({c for c in checkpoints if checkpoints.count(c) > 1})
    if dup:
        raise ModelError(f"checkpoint given more than once: {', '.join(dup)} (an ensemble of copies is one model)")
    check_output_path(path)
    check_opset(opset)
    check_outputs_are_not_inputs([path], {c: "a checkpoint being exported" for c in checkpoints}, ModelError)
    loaded = [_checkpoint_model(c, module) for c in checkpoints]  # every file checked before any work
    members = []
    for c, (_, training, _, _) in zip(checkpoints, loaded):
        members.append({"checkpoint": c, **{k: training.get(k) for k in ("seed", "steps", "samples_seen",
                                                                           "wall_seconds_this_run", "device")}})
    model = ModelEnsemble([m for m, _, _, _ in loaded], checkpoints)
    configs = [to_dict(m.config) for m, _, _, _ in loaded]
    same_config = all(c == configs[0] for c in configs[1:])
    if not same_config:  # the metadata's config is the first member's; record every member's
        for entry, c in zip(members, configs):
            entry["model_config"] = c
    # what every member's training summary agrees on (the data, schedule, ...), then each member's own
    summaries = [t for _, t, _, _ in loaded]
    training = {k: v for k, v in summaries[0].items()
                if k != "checkpoint" and all(k in t and t[k] == v for t in summaries[1:])}
    training["ensemble"] = members
    metrics: Dict[str, Any] = {}
    if evaluation is not None:
        metrics.update(held_out_metrics(evaluation))
    if not description:
        seeds = ", ".join(str(m["seed"]) for m in members)
        what = f"models of one config (seeds {seeds})" if same_config else "models of different configs"
        description = (f"{model.model_name}: the mean of {len(members)} {what}; "
                       f"{build_metadata(model.lead).description.split(': ', 1)[-1]}")
    version = model_version or "ensemble-" + "-".join(default_model_version(s) for _, _, _, s in loaded[:1])
    return export_model(model, path, opset=opset, model_version=version, training=training, metrics=metrics,
                        description=description, verify=verify, trees=trees, tree_weight=tree_weight)


def _verify_retree(network: str, model: str, metadata: ModelMetadata, prior, weight: float) -> Dict[str, float]:
    """ONNX Runtime on the network alone and on the re-treed file, at two sizes, with random inputs in each
    band's training range and a different source set per item: the file must output ``(1 - w) network +
    w trees`` (the trees' numpy reference) to :data:`VERIFY_TOL` target-band standard deviations."""
    import numpy as np

    from ..core.runtime import OnnxModel

    rng = np.random.default_rng(1234)
    nets, outs = OnnxModel(network, device="cpu"), OnnxModel(model, device="cpu")
    sources = list(metadata.source_bands)
    covered = [t for t in metadata.target_bands if prior.has_target(t)]
    other = [t for t in metadata.target_bands if not prior.has_target(t)]
    worst = {"max_abs_diff": 0.0, "max_norm_diff": 0.0}
    n_bands = metadata.input("bands").shape[1]
    for h, w in ((37, 45), (64, 64)):
        targets = np.array([covered[0], covered[-1], (other or covered)[0]], np.int64)
        bands = np.zeros((3, n_bands, h, w), np.float32)
        present = np.zeros((3, n_bands), np.float32)
        for i, t in enumerate(targets):
            keep = [c for c in sources if c != t and rng.random() < 0.7] or [c for c in sources if c != t][:1]
            for c in keep:
                st = metadata.normalization[c]
                bands[i, c] = rng.normal(st.mean, st.std, size=(h, w))
                present[i, c] = 1.0
        feeds = {"bands": bands, "presence": present, "target": targets}
        net, out = nets.run(feeds).astype(np.float64), outs.run(feeds).astype(np.float64)
        for i, t in enumerate(targets):
            diff = np.abs(out[i, 0] - _blend_item(prior, weight, bands[i], present[i], int(t), net[i, 0]))
            norm = float(diff.max() / metadata.normalization[int(t)].std)
            worst = {"max_abs_diff": max(worst["max_abs_diff"], float(diff.max())),
                     "max_norm_diff": max(worst["max_norm_diff"], norm)}
            if not np.isfinite(out[i, 0]).all() or norm > VERIFY_TOL:
                raise ModelError(f"export check failed: the re-treed model differs from the network blended with "
                                 f"the trees by {norm:.3g} standard deviations of {BAND_CLASSES[int(t)].key} at "
                                 f"{h}x{w} (tolerance {VERIFY_TOL:g})")
    return worst


def export_with_trees(model_path: str, path: str, *, trees: Any, tree_weight: float = 0.5,
                      model_version: Optional[str] = None, description: str = "",
                      evaluation: Optional[Mapping[str, Any]] = None, verify: bool = True) -> ModelMetadata:
    """Give an exported conditional model (``model_path``) a new tree prior, without its checkpoints: the
    prior it has, if any, is removed (the network's graph is kept node for node) and ``trees`` is grafted at
    ``tree_weight``.  The metadata keeps everything about the network, records the new prior in
    ``training.tree_prior`` (the one replaced in ``training.replaced_tree_prior``) and drops held-out scores,
    which scored the old file, unless ``evaluation`` (of the new file) is given.  Written and checked as
    :func:`export_model` writes (with ``verify``: ONNX Runtime against the network alone blended with the
    trees' numpy reference)."""
    import onnx

    from .trees import TreePrior, graft_tree_prior, strip_tree_prior

    model_path = os.fspath(model_path)
    path = check_output_path(path)
    check_outputs_are_not_inputs([path], {model_path: "the model whose trees are replaced"}, ModelError)
    try:
        proto = onnx.load(model_path)
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ModelError(f"{model_path}: cannot read it as an ONNX model ({exc})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in props:
        raise ModelError(f"{model_path} has no hls_translate metadata; only a model written by `hls-translate export` "
                         "can be given new trees")
    old = parse_metadata(props[METADATA_KEY], source=os.path.basename(model_path))
    prior = trees if isinstance(trees, TreePrior) else TreePrior.load(trees)
    _check_prior_fits(prior, tree_weight, old.kind, old.target_bands, model_path, model_path)
    names = {t.role: t.name for t in old.inputs}
    output = old.output.name
    training = dict(old.training)
    replaced = training.pop("tree_prior", None)
    if strip_tree_prior(proto, output) != (replaced is not None):
        raise ModelError(f"{model_path}: its graph and its metadata disagree on whether it has a tree prior")
    if replaced is not None:
        training["replaced_tree_prior"] = replaced
    training["tree_prior"] = {**prior.describe(), "weight": float(tree_weight)}
    metrics = {k: v for k, v in old.metrics.items() if k != "held_out_evaluation"}
    if evaluation is not None:
        metrics.update(held_out_metrics(evaluation))
    base = description or old.description.split(_BLEND_MARK)[0]
    description = base + _BLEND_NOTE.format(a=1 - tree_weight, b=tree_weight, n=prior.n_trees, t=len(prior.targets))
    metadata = dataclasses.replace(old, description=description, training=_jsonable(training),
                                   metrics=_jsonable(metrics), model_version=model_version or old.model_version,
                                   created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    parse_metadata(metadata.to_json(), source="export")
    network = proto.SerializeToString() if verify else b""
    graft_tree_prior(proto, prior, tree_weight, bands=names["bands"], presence=names["presence"],
                     target=names["target"], output=output)
    try:
        with atomic_path(path, fsync=False) as tmp:
            _seal(proto, metadata, tmp)
            if verify:
                import tempfile

                with tempfile.TemporaryDirectory() as scratch:
                    net_path = os.path.join(scratch, "network.onnx")
                    with open(net_path, "wb") as f:
                        f.write(network)
                    _verify_retree(net_path, tmp, metadata, prior, float(tree_weight))
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc.strerror or exc}; the previous file, if any, is unchanged") from None
    return metadata


__all__ = ["export_model", "export_checkpoint", "export_ensemble", "export_with_trees", "held_out_metrics", "build_metadata", "check_output_path", "check_opset", "max_opset",
           "default_model_version",
           "MIN_OPSET", "DEFAULT_OPSET"]
