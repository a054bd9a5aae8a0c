"""Self-describing model metadata: one JSON document inside every exported ONNX file.

(About 570 lines in one module: the document's schema, its strict parser and the small protobuf reader
that finds it in an ONNX file without onnx are one contract and change together.)

The document lives in the ONNX model's ``metadata_props`` under the key :data:`METADATA_KEY`.
:func:`parse_metadata` turns it into one typed, frozen :class:`ModelMetadata`; :func:`read_metadata`
reads it straight from an ``.onnx`` file without onnx or onnxruntime (the plugin and ``info`` command
use it), refusing files without it or with a newer schema.

Tensor contract (``io`` of the document)
---------------------------------------
Every model takes and returns *physical values* (reflectance, degC): normalization lives inside the
model.  Spatial sizes must be multiples of ``tiling.stride``.

* Conditional models (``conditional: true``, the ``adain`` family) take three inputs:

  - role ``bands``: float32 ``[N, C, H, W]``, channel ``i`` holds band class ``tensor.bands[i]``
    (normally all catalogue classes); absent bands hold any value (0 is customary);
  - role ``presence``: float32 ``[N, C]``, 1 where the band is supplied, 0 where not;
  - role ``target``: int64 ``[N]``, the band class id to synthesize for each item;

  and return role ``output``: float32 ``[N, 1, H, W]``, the target band.

* Fixed models (``kind: fixed_bands``: pix2pix, CycleGAN, ...) take role ``bands`` ``[N, C_in, H, W]``
  (classes in ``tensor.bands``) and return role ``output`` ``[N, C_out, H, W]`` (classes in the output's
  ``bands``).
* Label-map models (``kind: label_map``, SPADE) take role ``labels`` instead of bands: float32
  ``[N, K, H, W]`` one-hot over the ``label_classes`` (K of them, in order), or int64 ``[N, 1, H, W]``
  holding the class index; optionally role ``noise``, float32 ``[N, Z]``, a style vector drawn from a
  standard normal.  ``label_classes`` lists the ``(value, name)`` of every class the model was trained
  with: ``value`` is the raw value in the label raster, the class index is its position in the list.

``kind`` (``conditional``, ``fixed_bands``, ``label_map``) says which of these contracts a model follows.
Documents written before it existed lack it and are read from ``conditional`` (and a ``labels`` input);
an explicit ``kind`` that contradicts ``conditional`` or the tensor roles is refused.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from .bands import BAND_CLASSES, NUM_CLASSES, band_class, describe_catalogue
from .errors import ModelMetadataError

METADATA_KEY = "hls_translate"
SCHEMA_NAME = "hls_translate.model"
SCHEMA_VERSION = 1

TENSOR_ROLES = ("bands", "presence", "target", "labels", "noise", "output")
#: The model contracts (see the module documentation).
MODEL_KINDS = ("conditional", "fixed_bands", "label_map")
#: Input roles each kind takes: (required, optional).
KIND_INPUT_ROLES: Mapping[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "conditional": (("bands", "presence", "target"), ()),
    "fixed_bands": (("bands",), ()),
    "label_map": (("labels",), ("noise",)),
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of the model."""

    name: str
    role: str
    dtype: str
    shape: Tuple[Union[int, str], ...]  # symbolic dimensions are strings ("N", "H", "W")
    bands: Tuple[int, ...] = ()  # band class ids along the channel axis (bands/presence/output roles)
    labels: Tuple[str, ...] = ()  # class names along the channel axis (labels role)


@dataclass(frozen=True)
class LabelClass:
    """One class of a label-map model: its raw value in label rasters and its name."""

    value: int
    name: str


@dataclass(frozen=True)
class TilingHint:
    """How to tile a raster for this model."""

    tile_size: int  # recommended tile edge in pixels (a multiple of stride)
    overlap: int  # recommended overlap between neighbouring tiles, from the receptive field
    stride: int  # input height and width must be multiples of this
    receptive_field: int  # pixels


@dataclass(frozen=True)
class BandStats:
    """Normalization statistics of one band class in physical units (as baked into the model)."""

    mean: float
    std: float


@dataclass(frozen=True)
class ModelMetadata:
    family: str
    architecture: str
    model_version: str
    conditional: bool
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    source_bands: Tuple[int, ...]  # band classes the model accepts as input
    target_bands: Tuple[int, ...]  # band classes the model can synthesize
    tiling: TilingHint
    kind: str = ""  # one of MODEL_KINDS; "" (constructor only): derived from conditional and the roles
    label_classes: Tuple[LabelClass, ...] = ()  # label_map: the classes in class-index order
    units: str = "physical"
    nodata: float = -9999.0  # value used for nodata in rasters written with this model
    normalization: Mapping[int, BandStats] = field(default_factory=dict)
    catalogue: Tuple[Mapping[str, Any], ...] = ()
    description: str = ""
    created: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # architecture hyperparameters
    training: Mapping[str, Any] = field(default_factory=dict)  # data summary, steps, held-out scenes
    metrics: Mapping[str, Any] = field(default_factory=dict)  # validation metrics when known
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        kind = self.kind or _derived_kind(self.conditional, self.inputs)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "label_classes", tuple(self.label_classes))
        _check_kind(self)

    # -- convenience ---------------------------------------------------------------------------
    def input(self, role: str) -> TensorSpec:
        for t in self.inputs:
            if t.role == role:
                return t
        raise ModelMetadataError(f"model has no input of role {role!r} (inputs: "
                                 f"{', '.join(f'{t.name}:{t.role}' for t in self.inputs)})")

    def has_input(self, role: str) -> bool:
        return any(t.role == role for t in self.inputs)

    @property
    def output(self) -> TensorSpec:
        return self.outputs[0]

    def band_key(self, class_id: int) -> str:
        return band_class(class_id).key

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d = {"schema": SCHEMA_NAME, **d}
        d["normalization"] = {str(k): asdict(v) for k, v in self.normalization.items()}
        d["inputs"] = [_tensor_dict(t) for t in self.inputs]
        d["outputs"] = [_tensor_dict(t) for t in self.outputs]
        d["catalogue"] = list(self.catalogue) or describe_catalogue()
        if not self.label_classes:
            del d["label_classes"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)

    def summary(self) -> str:
        """A few human lines (what ``hls-translate info`` prints before the JSON)."""
        t = self.tiling
        lines = [
            f"family:        {self.family} ({self.architecture}), model version {self.model_version}",
            f"kind:          {KIND_SUMMARY[self.kind]}",
            f"inputs:        {', '.join(f'{s.name} {s.role} {list(s.shape)}' for s in self.inputs)}",
            f"outputs:       {', '.join(f'{s.name} {s.role} {list(s.shape)}' for s in self.outputs)}",
            f"source bands:  {', '.join(band_class(i).key for i in self.source_bands)}",
            f"target bands:  {', '.join(band_class(i).key for i in self.target_bands)}",
            f"units:         {self.units}; nodata {self.nodata:g}",
            f"tiling:        tile {t.tile_size}, overlap {t.overlap}, stride {t.stride}, "
            f"receptive field {t.receptive_field} px",
        ]
        if self.label_classes:
            lines.append(f"label classes: {', '.join(f'{c.value}={c.name}' for c in self.label_classes)}")
        if self.training:
            lines.append(f"training:      {json.dumps(self.training, sort_keys=True)[:300]}")
        if self.metrics:
            lines.append(f"metrics:       {json.dumps(self.metrics, sort_keys=True)[:300]}")
        return "\n".join(lines)


KIND_SUMMARY = {"conditional": "conditional: target chosen at inference",
                "fixed_bands": "fixed bands: inputs and outputs fixed by the model",
                "label_map": "label map: bands synthesized from a categorical label raster"}


def _derived_kind(conditional: bool, inputs: Sequence[TensorSpec]) -> str:
    """The kind of a document that does not state one (written before ``kind`` existed)."""
    if conditional:
        return "conditional"
    return "label_map" if any(t.role == "labels" for t in inputs) else "fixed_bands"


def _check_kind(md: "ModelMetadata") -> None:
    """``kind`` agrees with ``conditional`` and the tensor roles; label classes are well formed."""
    kind = md.kind
    if kind not in MODEL_KINDS:
        raise ModelMetadataError(f"model metadata: kind {kind!r} is not one of {', '.join(MODEL_KINDS)}")
    if md.conditional != (kind == "conditional"):
        raise ModelMetadataError(f"model metadata: kind {kind!r} contradicts conditional: "
                                 f"{str(bool(md.conditional)).lower()}")
    required, optional = KIND_INPUT_ROLES[kind]
    roles = [t.role for t in md.inputs]
    for role in required:
        if role not in roles:
            raise ModelMetadataError(
                f"model metadata: kind {kind!r} needs an input of role {role!r}, but the model has no input of "
                f"role {role!r} (inputs: {', '.join(f'{t.name}:{t.role}' for t in md.inputs)})")
    extra = [r for r in roles if r not in required + optional]
    if extra or len(set(roles)) != len(roles):
        raise ModelMetadataError(f"model metadata: kind {kind!r} takes inputs of roles "
                                 f"{', '.join(required + optional)} (each once); the model's inputs have roles "
                                 f"{', '.join(roles)}")
    if kind != "label_map":
        if md.label_classes:
            raise ModelMetadataError(f"model metadata: label_classes are given, but kind {kind!r} takes no label map")
        return
    classes = md.label_classes
    if not classes:
        raise ModelMetadataError("model metadata: kind 'label_map' needs label_classes (the (value, name) of every "
                                 "class the model was trained with)")
    for what, seen in (("value", [c.value for c in classes]), ("name", [c.name for c in classes])):
        if len(set(seen)) != len(seen):
            raise ModelMetadataError(f"model metadata: label_classes repeat a {what}: {seen}")
    spec = next(t for t in md.inputs if t.role == "labels")
    if spec.dtype not in ("float32", "int64"):
        raise ModelMetadataError(f"model metadata: the labels input {spec.name!r} is {spec.dtype}; it must be float32 "
                                 "(one-hot) or int64 (class index)")
    channels = spec.shape[1] if len(spec.shape) == 4 else None
    want = len(classes) if spec.dtype == "float32" else 1
    if channels != want:
        raise ModelMetadataError(f"model metadata: the labels input {spec.name!r} has shape {list(spec.shape)}; "
                                 f"{'one-hot over' if spec.dtype == 'float32' else 'a class index of'} "
                                 f"{len(classes)} label_classes needs [N, {want}, H, W]")
    if spec.labels and tuple(spec.labels) != tuple(c.name for c in classes):
        raise ModelMetadataError(f"model metadata: the labels input names classes {list(spec.labels)}, "
                                 f"label_classes name {[c.name for c in classes]}")
    noise = next((t for t in md.inputs if t.role == "noise"), None)
    if noise is not None and not (noise.dtype == "float32" and len(noise.shape) == 2
                                  and isinstance(noise.shape[1], int) and noise.shape[1] > 0):
        raise ModelMetadataError(f"model metadata: the noise input {noise.name!r} must be float32 [N, Z] with a fixed "
                                 f"Z > 0, got {noise.dtype} {list(noise.shape)}")


def _label_classes(entries: Any) -> Tuple[LabelClass, ...]:
    if not isinstance(entries, (list, tuple)):
        raise ModelMetadataError("model metadata: label_classes must be a list of {value, name} objects")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise ModelMetadataError(f"model metadata: label_classes[{i}] is not a {{value, name}} object")
        unknown = sorted(set(e) - {"value", "name"})
        if unknown:
            raise ModelMetadataError(f"model metadata: label_classes[{i}] has unknown key(s) {', '.join(unknown)}")
        value, name = _req(e, "value", f"label_classes[{i}]"), _req(e, "name", f"label_classes[{i}]")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ModelMetadataError(f"model metadata: label_classes[{i}].value must be an integer, got {value!r}")
        if not isinstance(name, str) or not name:
            raise ModelMetadataError(f"model metadata: label_classes[{i}].name must be a non-empty string")
        out.append(LabelClass(value, name))
    return tuple(out)


def _tensor_dict(t: TensorSpec) -> Dict[str, Any]:
    d = {"name": t.name, "role": t.role, "dtype": t.dtype, "shape": list(t.shape)}
    if t.bands:
        d["bands"] = list(t.bands)
    if t.labels:
        d["labels"] = list(t.labels)
    return d


# --- parsing -----------------------------------------------------------------------------------------
def _req(d: Mapping[str, Any], key: str, where: str):
    if key not in d:
        raise ModelMetadataError(f"model metadata: {where} lacks required key {key!r}")
    return d[key]


def _class_ids(values: Sequence[Any], where: str) -> Tuple[int, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < NUM_CLASSES:
            raise ModelMetadataError(f"model metadata: {where} has band class {v!r}, not an id in 0..{NUM_CLASSES - 1}")
        out.append(v)
    return tuple(out)


def _tensor(d: Mapping[str, Any], where: str) -> TensorSpec:
    role = _req(d, "role", where)
    if role not in TENSOR_ROLES:
        raise ModelMetadataError(f"model metadata: {where} has unknown role {role!r} (known: {', '.join(TENSOR_ROLES)})")
    return TensorSpec(name=str(_req(d, "name", where)), role=role, dtype=str(_req(d, "dtype", where)),
                      shape=tuple(_req(d, "shape", where)), bands=_class_ids(d.get("bands", ()), where),
                      labels=tuple(str(x) for x in d.get("labels", ())))


def parse_metadata(doc: Union[str, bytes, Mapping[str, Any]], source: str = "model") -> ModelMetadata:
    """Parse the metadata document (JSON text or already-decoded dict) into :class:`ModelMetadata`."""
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except RecursionError:
            raise ModelMetadataError(f"{source}: metadata JSON is nested too deeply") from None
        except ValueError as exc:
            raise ModelMetadataError(f"{source}: metadata is not valid JSON ({exc})") from None
    if not isinstance(doc, Mapping):
        raise ModelMetadataError(f"{source}: metadata is not a JSON object")
    if doc.get("schema") != SCHEMA_NAME:
        raise ModelMetadataError(f"{source}: metadata schema is {doc.get('schema')!r}, expected {SCHEMA_NAME!r}")
    version = doc.get("schema_version")
    if not isinstance(version, int):
        raise ModelMetadataError(f"{source}: metadata lacks an integer schema_version")
    if version > SCHEMA_VERSION:
        raise ModelMetadataError(
            f"{source}: metadata schema version {version} is newer than this hls_translate understands "
            f"({SCHEMA_VERSION}); upgrade the hls_translate plugin/package to use this model")
    try:
        tiling = _mapping(_req(doc, "tiling", "document"), "tiling")
        md = ModelMetadata(
            family=_text(doc, "family"),
            architecture=_text(doc, "architecture"),
            model_version=_text(doc, "model_version"),
            conditional=_flag(doc, "conditional"),
            inputs=tuple(_tensor(_mapping(t, f"inputs[{i}]"), f"input {i}")
                         for i, t in enumerate(_list(_req(doc, "inputs", "document"), "inputs"))),
            outputs=tuple(_tensor(_mapping(t, f"outputs[{i}]"), f"output {i}")
                          for i, t in enumerate(_list(_req(doc, "outputs", "document"), "outputs"))),
            source_bands=_class_ids(_list(_req(doc, "source_bands", "document"), "source_bands"), "source_bands"),
            target_bands=_class_ids(_list(_req(doc, "target_bands", "document"), "target_bands"), "target_bands"),
            tiling=TilingHint(**{f.name: _count(tiling, f.name, f"tiling.{f.name}", minimum=0 if f.name == "overlap" else 1)
                                 for f in fields(TilingHint)}),
            kind=_kind_field(doc),
            label_classes=_label_classes(doc.get("label_classes", ())),
            units=_text(doc, "units", "physical"),
            nodata=_number(doc, "nodata", -9999.0),
            normalization={_class_key(k): BandStats(_number(_mapping(v, f"normalization.{k}"), "mean", where=f"normalization.{k}"),
                                                    _number(_mapping(v, f"normalization.{k}"), "std", where=f"normalization.{k}"))
                           for k, v in _mapping(doc.get("normalization") or {}, "normalization").items()},
            catalogue=tuple(_mapping(e, f"catalogue[{i}]")
                            for i, e in enumerate(_list(doc.get("catalogue") or [], "catalogue"))),
            description=_text(doc, "description", ""),
            created=_text(doc, "created", ""),
            config=dict(_mapping(doc.get("config") or {}, "config")),
            training=dict(_mapping(doc.get("training") or {}, "training")),
            metrics=dict(_mapping(doc.get("metrics") or {}, "metrics")),
            schema_version=version,
        )
    except ModelMetadataError as exc:
        raise ModelMetadataError(f"{source}: {str(exc).replace('model metadata: ', 'metadata ', 1)}") from None
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError) as exc:
        raise ModelMetadataError(f"{source}: malformed metadata ({type(exc).__name__}: {exc})") from None
    if not md.outputs:
        raise ModelMetadataError(f"{source}: metadata declares no outputs")
    _check_catalogue(md, source)
    return md


def _bad(where: str, what: str, value: Any) -> ModelMetadataError:
    text = repr(value)
    return ModelMetadataError(f"model metadata: {where} must be {what}, got {text[:60]}{'...' if len(text) > 60 else ''}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(where, "an object", value)
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise _bad(where, "a list", value)
    return list(value)


def _text(doc: Mapping[str, Any], key: str, default: Any = None) -> str:
    value = _req(doc, key, "document") if default is None else doc.get(key, default)
    if not isinstance(value, str):
        raise _bad(key, "a string", value)
    return value


def _flag(doc: Mapping[str, Any], key: str) -> bool:
    value = _req(doc, key, "document")
    if not isinstance(value, bool):  # "false" is a string, 0 a number: neither is a boolean
        raise _bad(key, "true or false", value)
    return value


def _number(doc: Mapping[str, Any], key: str, default: Any = None, where: str = "") -> float:
    value = _req(doc, key, where or "document") if default is None else doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)) \
            or abs(float(value)) > 3.4e38:
        raise _bad(f"{where}.{key}" if where else key, "a finite number (float32 range)", value)
    return float(value)


#: The largest tile, overlap, stride or receptive field a model may declare (pixels).
MAX_PIXELS = 1 << 16


def _count(doc: Mapping[str, Any], key: str, where: str, minimum: int) -> int:
    value = _req(doc, key, where.rsplit(".", 1)[0])
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_PIXELS:
        raise _bad(where, f"an integer from {minimum} to {MAX_PIXELS}", value)
    return value


def _class_key(key: Any) -> int:
    text = str(key)
    if not text.isdigit() or not 0 <= int(text) < NUM_CLASSES:
        raise _bad("normalization", f"keyed by band class ids 0..{NUM_CLASSES - 1}", key)
    return int(text)


def _kind_field(doc: Mapping[str, Any]) -> str:
    """The document's explicit ``kind`` ("" when it has none: derived from the roles)."""
    if "kind" not in doc:
        return ""
    kind = doc["kind"]
    if kind not in MODEL_KINDS:
        raise ModelMetadataError(f"model metadata: kind {kind!r} is not one of {', '.join(MODEL_KINDS)}")
    return kind


def _check_catalogue(md: ModelMetadata, source: str) -> None:
    """A model trained on an older catalogue must agree with ours on every class id it uses."""
    ours = {b.id: b.key for b in BAND_CLASSES}
    for entry in md.catalogue:
        cid, key = entry.get("id"), entry.get("key")
        if isinstance(cid, bool) or not isinstance(cid, int) or not isinstance(key, str):
            raise ModelMetadataError(f"{source}: metadata catalogue entries need an integer id and a string key, "
                                     f"got {str(dict(entry))[:60]}")
        if cid in ours and ours[cid] != key:
            raise ModelMetadataError(
                f"{source}: band class {cid} is {key!r} in the model but {ours[cid]!r} here; "
                "the model was made with an incompatible band catalogue")


# --- reading from an ONNX file without onnx/onnxruntime ------------------------------------------------
def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """Yield (field_number, wire_type, value) of a protobuf message (values of length-delimited fields
    are memoryviews)."""
    i, n = 0, len(buf)
    mv = memoryview(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 1:
            val, i = None, i + 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            if i + ln > n:
                raise ValueError("truncated field")
            val, i = mv[i:i + ln], i + ln
        elif wt == 5:
            val, i = None, i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if num == 0:
            raise ValueError("field number 0")
        yield num, wt, val


#: protobuf's limit on one message, hence on one ONNX file (weights beyond it go to external data)
MAX_MODEL_BYTES = 2 ** 31


def onnx_metadata_props(path: str) -> Dict[str, str]:
    """The ``metadata_props`` of an ONNX file (ModelProto field 14), read with a tiny protobuf reader."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelMetadataError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ModelMetadataError(f"{path} is a folder, not an ONNX model file")
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ModelMetadataError(f"{path} is not a regular file (a device, pipe or socket); give an .onnx model file")
    if st.st_size > MAX_MODEL_BYTES:
        raise ModelMetadataError(f"{path} is {st.st_size / 2**30:.1f} GiB; an ONNX model file holds at most 2 GiB "
                                 "(larger weights live in external data files)")
    with open(path, "rb") as f:
        buf = f.read(MAX_MODEL_BYTES + 1)
    props: Dict[str, str] = {}
    seen_graph = False
    try:
        for num, wt, val in _fields(buf):
            if num == 7 and wt == 2:
                seen_graph = True
            elif num == 14 and wt == 2:
                k = v = ""
                for n2, w2, v2 in _fields(bytes(val)):
                    if n2 == 1 and w2 == 2:
                        k = bytes(v2).decode("utf-8")
                    elif n2 == 2 and w2 == 2:
                        v = bytes(v2).decode("utf-8")
                props[k] = v
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelMetadataError(f"{path} is not an ONNX model (cannot parse it: {exc})") from None
    if not seen_graph:
        raise ModelMetadataError(f"{path} is not an ONNX model (no graph found)")
    return props


def external_data_locations(path: str) -> List[str]:
    """The ``location`` of every external-data entry of the graph's initializers (TensorProto field 13),
    read with the same tiny protobuf reader (nothing is loaded)."""
    with open(path, "rb") as f:
        buf = f.read(MAX_MODEL_BYTES + 1)
    out: List[str] = []
    try:
        for num, wt, val in _fields(buf):
            if num != 7 or wt != 2:  # ModelProto.graph
                continue
            for gnum, gwt, gval in _fields(bytes(val)):
                if gnum != 5 or gwt != 2:  # GraphProto.initializer
                    continue
                for tnum, twt, tval in _fields(bytes(gval)):
                    if tnum == 13 and twt == 2:  # TensorProto.external_data: StringStringEntryProto
                        entry = {n: bytes(v).decode("utf-8") for n, w, v in _fields(bytes(tval)) if w == 2}
                        if entry.get(1) == "location":
                            out.append(entry.get(2, ""))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelMetadataError(f"{path} is not an ONNX model (cannot parse it: {exc})") from None
    return out


def check_external_data(path: str) -> None:
    """Refuse a model whose weights name files outside its own folder (``../../secret.bin``, an absolute
    path, or a link pointing out): ONNX Runtime would read them into the weights, and so into rasters."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for loc in external_data_locations(path):
        target = os.path.realpath(os.path.join(folder, loc))
        if os.path.isabs(loc) or os.path.commonpath([folder, target]) != folder:
            raise ModelMetadataError(f"{path}: its weights name an external data file outside the model's folder "
                                     f"({loc!r} -> {target}); refused")


def read_metadata(path: str) -> ModelMetadata:
    """Read and parse the metadata of an exported model file; refuse a file without it."""
    props = onnx_metadata_props(path)
    if METADATA_KEY not in props:
        raise ModelMetadataError(
            f"{path} has no hls_translate metadata (metadata key {METADATA_KEY!r}); only models exported "
            "with `hls-translate export` describe their bands, units and tiling, so others are refused")
    return parse_metadata(props[METADATA_KEY], source=os.path.basename(path))
