"""ONNX Runtime session wrapper: execution providers, session options, metadata-driven feeds.

:class:`OnnxModel` loads an exported model, reads its embedded :class:`~.metadata.ModelMetadata` (before
the session is built, so a file that is not one of ours is refused cheaply), checks that the graph's
inputs and outputs are the ones the metadata describes, and runs batches given by tensor *role*
(``bands``, ``presence``, ``target``, ``labels``, ``noise``) or by tensor name.  It is the one ONNX Runtime
session of the package: the engine, evaluation and export's verification all run models through it.

Execution providers (``device``):

* ``"cpu"``: ONNX Runtime's CPU provider;
* ``"cuda"``: the CUDA provider, or :class:`ProviderError` if it is not installed or does not load
  (ONNX Runtime itself would silently fall back to the CPU; we check ``session.get_providers()``);
* ``"auto"``: CUDA when it is available and loads, else the CPU.

The provider actually used is :attr:`OnnxModel.provider`.  ``onnxruntime`` is imported only when a model
is loaded, so this module imports without it (a QGIS without ONNX Runtime gets a clear error on use).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Mapping, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import ModelError
from .metadata import ModelMetadata, TensorSpec, parse_metadata, read_metadata, METADATA_KEY

DEVICES = ("auto", "cpu", "cuda")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")

_RANKS = {"bands": 4, "presence": 2, "target": 1, "labels": 4, "noise": 2, "output": 4}
_ORT_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)", "float16": "tensor(float16)"}


class ProviderError(ModelError):
    """An execution provider that was asked for (e.g. CUDA) is not installed or does not load."""


def import_onnxruntime():
    """``onnxruntime``, or :class:`ModelError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            "ONNX Runtime is not installed in this Python; install it with `pip install onnxruntime` "
            f"(or `onnxruntime-gpu` for CUDA) ({exc})") from None
    return onnxruntime


def available_providers() -> List[str]:
    """Execution providers this ONNX Runtime build offers (empty if ONNX Runtime is missing)."""
    try:
        return list(import_onnxruntime().get_available_providers())
    except ModelError:
        return []


def _providers_for(device: str, available: Sequence[str]) -> List[str]:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ProviderError(
            "device 'cuda' was requested but this ONNX Runtime has no CUDA execution provider "
            f"(available: {', '.join(available) or 'none'}); install onnxruntime-gpu matching your CUDA, "
            "or use device 'cpu' or 'auto'")
    return [CPU]


class OnnxModel:
    """An exported model loaded into an ONNX Runtime session.

    ``threads`` sets ONNX Runtime's intra-op threads (0: its default, one per physical core);
    ``optimization`` its graph optimization level; ``spin`` lets idle intra-op threads busy-wait (off:
    they sleep, leaving the cores to the engine's reader thread and to other work).  Loading raises :class:`ModelMetadataError` for a file
    without our metadata (or not ONNX at all), :class:`ModelError` when ONNX Runtime cannot load the
    graph or the graph does not match its metadata, and :class:`ProviderError` when ``device='cuda'``
    cannot be honoured.
    """

    def __init__(self, path: str, *, device: str = "auto", threads: int = 0, optimization: str = "all",
                 spin: bool = False, log: Optional[Callable[[str], None]] = None):
        if optimization not in OPTIMIZATION_LEVELS:
            raise ValueError(f"unknown optimization level {optimization!r}; use one of {', '.join(OPTIMIZATION_LEVELS)}")
        if int(threads) < 0:
            raise ValueError(f"threads must be >= 0 (0: ONNX Runtime's default), got {threads}")
        self.path = os.path.abspath(os.fspath(path))
        self.metadata: ModelMetadata = read_metadata(self.path)  # refuses non-ONNX / foreign files early
        self.device = device
        self.threads = int(threads)
        ort = import_onnxruntime()
        available = list(ort.get_available_providers())
        providers = _providers_for(device, available)
        so = ort.SessionOptions()
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3  # errors only: a failed CUDA load is reported by us, below
        # idle ORT threads sleep instead of spinning: the engine's reader thread, GDAL and (in QGIS) the
        # GUI share the cores; spinning made tiled runs ~1.5x slower on a busy 2-core machine
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        try:
            self.session = ort.InferenceSession(self.path, sess_options=so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelError(f"ONNX Runtime cannot load {self.path}: {str(exc).strip()}") from None
        used = list(self.session.get_providers())
        if device == "cuda" and (not used or used[0] != CUDA):
            raise ProviderError(
                f"device 'cuda' was requested but the CUDA execution provider did not load for {self.path} "
                f"(session providers: {', '.join(used)}); check the CUDA/cuDNN libraries onnxruntime-gpu "
                "needs, or use device 'cpu' or 'auto'")
        self.provider: str = used[0] if used else CPU
        if log is not None and device == "auto" and CUDA in providers and self.provider != CUDA:
            log(f"CUDA execution provider did not load; running on {self.provider}")
        self._check_graph()
        self._names: Dict[str, str] = {t.role: t.name for t in self.metadata.inputs}
        self._tensor_names = frozenset(t.name for t in self.metadata.inputs)
        self._output = self.metadata.output.name
        self.run_seconds = 0.0  # time spent inside session.run, for benchmarks
        self.run_calls = 0

    # -- checks ----------------------------------------------------------------------------------
    def _check_graph(self) -> None:
        md = self.metadata
        graph_in = {i.name: i for i in self.session.get_inputs()}
        graph_out = {o.name: o for o in self.session.get_outputs()}
        name = os.path.basename(self.path)
        for spec in md.inputs:
            node = graph_in.get(spec.name)
            if node is None:
                raise ModelError(f"{name}: metadata names input {spec.name!r} ({spec.role}) but the graph's inputs "
                                 f"are {', '.join(graph_in)}")
            self._check_node(name, spec, node)
        missing = [n for n in graph_in if n not in {s.name for s in md.inputs}]
        if missing:
            raise ModelError(f"{name}: graph input(s) {', '.join(missing)} are not described by the metadata")
        out = md.output
        node = graph_out.get(out.name)
        if node is None:
            raise ModelError(f"{name}: metadata names output {out.name!r} but the graph's outputs are "
                             f"{', '.join(graph_out)}")
        self._check_node(name, out, node)
        if md.kind != "label_map" and not md.input("bands").bands:
            raise ModelError(f"{name}: the metadata of the 'bands' input lists no band classes")
        if md.kind != "conditional" and not md.output.bands:
            raise ModelError(f"{name}: a {md.kind} model's metadata must list the output band classes")

    @staticmethod
    def _check_node(name: str, spec: TensorSpec, node) -> None:
        rank = _RANKS.get(spec.role)
        shape = list(node.shape) if node.shape is not None else None
        if rank is not None and shape is not None and len(shape) != rank:
            raise ModelError(f"{name}: tensor {spec.name!r} ({spec.role}) has rank {len(shape)} in the graph, "
                             f"expected {rank}")
        want = _ORT_TYPES.get(spec.dtype)
        if want is not None and node.type != want:
            raise ModelError(f"{name}: tensor {spec.name!r} is {node.type} in the graph but {spec.dtype} in the metadata")
        if spec.role in ("bands", "presence") and spec.bands and shape is not None:
            ch = shape[1]
            if isinstance(ch, int) and ch != len(spec.bands):
                raise ModelError(f"{name}: input {spec.name!r} has {ch} channels but the metadata lists "
                                 f"{len(spec.bands)} band classes")
        if spec.role in ("labels", "noise") and shape is not None and len(shape) == len(spec.shape):
            fixed = [(g, m) for g, m in zip(shape, spec.shape) if isinstance(g, int) and isinstance(m, int)]
            if any(g != m for g, m in fixed):
                raise ModelError(f"{name}: input {spec.name!r} has shape {shape} in the graph but {list(spec.shape)} "
                                 "in the metadata")

    # -- use -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def conditional(self) -> bool:
        return self.metadata.conditional

    @property
    def kind(self) -> str:
        return self.metadata.kind

    def input_name(self, role: str) -> str:
        if role not in self._names:
            raise ModelError(f"{self.name} has no input of role {role!r}")
        return self._names[role]

    def _tensor_name(self, key: str) -> str:
        """The graph input a feed key names: a role, or a tensor name itself."""
        if key in self._names:
            return self._names[key]
        if key in self._tensor_names:
            return key
        raise ModelError(f"{self.name} has no input of role or name {key!r} (inputs: "
                         f"{', '.join(f'{t.name}:{t.role}' for t in self.metadata.inputs)})")

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Run one batch and return the output; ``feeds`` maps tensor roles (``bands``, ``presence``,
        ``target``, ``labels``, ``noise``) or tensor names to arrays."""
        named = {self._tensor_name(key): a for key, a in feeds.items()}
        t0 = time.perf_counter()
        try:
            out = self.session.run([self._output], named)[0]
        except Exception as exc:  # noqa: BLE001
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feeds.items())
            raise ModelError(f"{self.name}: inference failed on inputs {shapes}: {str(exc).strip()}") from None
        finally:
            self.run_seconds += time.perf_counter() - t0
            self.run_calls += 1
        return out

    def describe(self) -> str:
        md = self.metadata
        return (f"{self.name}: {md.family} ({md.architecture}) v{md.model_version}, "
                f"{md.kind.replace('_', ' ')}, provider {self.provider}")

    def __repr__(self) -> str:
        return f"OnnxModel({self.path!r}, provider={self.provider!r})"


def session_metadata(session) -> Optional[ModelMetadata]:
    """The metadata stored in a live session's custom metadata map, or None if it has none."""
    props = session.get_modelmeta().custom_metadata_map
    return parse_metadata(props[METADATA_KEY], source="session") if METADATA_KEY in props else None


@runtime_checkable
class RunnableModel(Protocol):
    """What the engine runs: an :class:`OnnxModel`, or any object with the same face (evaluation wraps a
    PyTorch model in one).  ``run`` takes feeds keyed by tensor role and returns the output tensor."""

    metadata: ModelMetadata
    provider: str
    run_seconds: float

    @property
    def name(self) -> str: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def describe(self) -> str: ...


def load_model(model, *, device: str = "auto", threads: int = 0,
               log: Optional[Callable[[str], None]] = None) -> RunnableModel:
    """An :class:`OnnxModel` from a path (a model already loaded, or another :class:`RunnableModel`, is
    returned unchanged)."""
    if isinstance(model, (str, os.PathLike)):
        return OnnxModel(os.fspath(model), device=device, threads=threads, log=log)
    if isinstance(model, RunnableModel):
        return model
    raise TypeError(f"model must be a path to an .onnx file or an OnnxModel, got {type(model).__name__}")
