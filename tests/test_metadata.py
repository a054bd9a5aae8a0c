"""Model metadata: parsing into one typed object, refusal of missing/newer metadata, the ONNX reader."""

import json

import pytest

from hls_translate.core import metadata as md
from hls_translate.core.errors import ModelMetadataError


def _doc(**over):
    d = {
        "schema": md.SCHEMA_NAME, "schema_version": md.SCHEMA_VERSION, "family": "adain",
        "architecture": "adain_unet", "model_version": "1.2.0", "conditional": True,
        "inputs": [
            {"name": "bands", "role": "bands", "dtype": "float32", "shape": ["N", 15, "H", "W"], "bands": list(range(15))},
            {"name": "present", "role": "presence", "dtype": "float32", "shape": ["N", 15], "bands": list(range(15))},
            {"name": "target", "role": "target", "dtype": "int64", "shape": ["N"]},
        ],
        "outputs": [{"name": "output", "role": "output", "dtype": "float32", "shape": ["N", 1, "H", "W"]}],
        "source_bands": list(range(13)), "target_bands": [4, 10],
        "tiling": {"tile_size": 256, "overlap": 32, "stride": 16, "receptive_field": 100},
        "normalization": {"3": {"mean": 0.1, "std": 0.05}},
        "training": {"scenes": ["T19UDP"]}, "metrics": {"cirrus": {"rmse": 0.01}},
    }
    d.update(over)
    return d


def test_parse_and_round_trip():
    m = md.parse_metadata(json.dumps(_doc()))
    assert m.conditional and m.tiling.stride == 16 and m.target_bands == (4, 10)
    assert m.input("target").dtype == "int64" and m.output.shape == ("N", 1, "H", "W")
    assert m.normalization[3] == md.BandStats(0.1, 0.05)
    again = md.parse_metadata(m.to_json())
    assert again == md.parse_metadata(m.to_dict()) and again.inputs == m.inputs and again.metrics == m.metrics
    assert len(again.catalogue) == 15 and again.catalogue[10]["key"] == "cirrus"
    assert "target bands:  red_edge_1, cirrus" in m.summary()


@pytest.mark.parametrize("change, message", [
    ({"schema_version": md.SCHEMA_VERSION + 1}, "newer than this hls_translate understands"),
    ({"schema": "something.else"}, "expected 'hls_translate.model'"),
    ({"tiling": {"tile_size": 256}}, "tiling lacks required key 'overlap'"),
    ({"target_bands": [99]}, "band class 99"),
    ({"inputs": [{"name": "x", "role": "bands", "dtype": "float32", "shape": [1]}]}, "no input of role 'presence'"),
    ({"outputs": [{"name": "y", "role": "weird", "dtype": "float32", "shape": [1]}]}, "unknown role 'weird'"),
    ({"catalogue": [{"id": 10, "key": "swir_9"}]}, "band class 10 is 'swir_9' in the model but 'cirrus' here"),
])
def test_bad_metadata_is_refused_clearly(change, message):
    with pytest.raises(ModelMetadataError, match=message):
        md.parse_metadata(_doc(**change))


def test_missing_required_key_is_named():
    d = _doc()
    del d["family"]
    with pytest.raises(ModelMetadataError, match="lacks required key 'family'"):
        md.parse_metadata(d)
    with pytest.raises(ModelMetadataError, match="not valid JSON"):
        md.parse_metadata("{nope")


def _onnx_file(path, props):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def test_reader_matches_onnx_and_refuses_files_without_metadata(tmp_path):
    p = _onnx_file(tmp_path / "m.onnx", {"author": "x", md.METADATA_KEY: json.dumps(_doc()), "ü": "ÿ"})
    assert md.onnx_metadata_props(p) == {"author": "x", md.METADATA_KEY: json.dumps(_doc()), "ü": "ÿ"}
    assert md.read_metadata(p).architecture == "adain_unet"
    plain = _onnx_file(tmp_path / "plain.onnx", {"author": "x"})
    with pytest.raises(ModelMetadataError, match="has no hls_translate metadata"):
        md.read_metadata(plain)
    newer = _onnx_file(tmp_path / "newer.onnx", {md.METADATA_KEY: json.dumps(_doc(schema_version=99))})
    with pytest.raises(ModelMetadataError, match="schema version 99 is newer"):
        md.read_metadata(newer)


def test_reader_refuses_non_onnx_files(tmp_path, spain_tif):
    with pytest.raises(ModelMetadataError, match="not an ONNX model"):
        md.read_metadata(spain_tif)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelMetadataError, match="not an ONNX model"):
        md.read_metadata(tmp_path / "empty.onnx")
    with pytest.raises(ModelMetadataError, match="model file not found"):
        md.read_metadata(tmp_path / "missing.onnx")


# --- the model kind ----------------------------------------------------------------------------------------
def _fixed_doc(**over):
    d = _doc(conditional=False, inputs=[{"name": "x", "role": "bands", "dtype": "float32",
                                         "shape": ["N", 3, "H", "W"], "bands": [1, 2, 3]}],
             outputs=[{"name": "y", "role": "output", "dtype": "float32", "shape": ["N", 1, "H", "W"],
                       "bands": [4]}])
    d.update(over)
    return d


def _label_doc(**over):
    d = _doc(conditional=False, kind="label_map",
             inputs=[{"name": "seg", "role": "labels", "dtype": "float32", "shape": ["N", 3, "H", "W"]},
                     {"name": "z", "role": "noise", "dtype": "float32", "shape": ["N", 8]}],
             outputs=[{"name": "y", "role": "output", "dtype": "float32", "shape": ["N", 2, "H", "W"],
                       "bands": [3, 4]}],
             label_classes=[{"value": 4, "name": "vegetation"}, {"value": 6, "name": "water"},
                            {"value": 11, "name": "snow_ice"}])
    d.update(over)
    return d


def test_documents_without_kind_are_read_from_conditional():
    old = _doc()
    assert "kind" not in old
    m = md.parse_metadata(old)
    assert m.kind == "conditional" and m.to_dict()["kind"] == "conditional" and "label_classes" not in m.to_dict()
    assert md.parse_metadata(_fixed_doc()).kind == "fixed_bands"
    assert md.parse_metadata(m.to_json()).kind == "conditional"
    assert "kind:          conditional" in m.summary()


def test_label_map_metadata_round_trips_with_its_classes():
    m = md.parse_metadata(_label_doc())
    assert m.kind == "label_map" and not m.conditional
    assert m.label_classes == (md.LabelClass(4, "vegetation"), md.LabelClass(6, "water"), md.LabelClass(11, "snow_ice"))
    again = md.parse_metadata(m.to_json())
    assert again.label_classes == m.label_classes and again.inputs == m.inputs and again.kind == "label_map"
    assert "label classes: 4=vegetation, 6=water, 11=snow_ice" in m.summary()


@pytest.mark.parametrize("doc, message", [
    (lambda: _doc(kind="fixed_bands"), "kind 'fixed_bands' contradicts conditional: true"),
    (lambda: _fixed_doc(kind="conditional"), "kind 'conditional' contradicts conditional: false"),
    (lambda: _fixed_doc(kind="label_map"), "kind 'label_map' needs an input of role 'labels'"),
    (lambda: _fixed_doc(kind="gan"), "kind 'gan' is not one of conditional, fixed_bands, label_map"),
    (lambda: _fixed_doc(inputs=_doc()["inputs"]), "kind 'fixed_bands' takes inputs of roles bands"),
    (lambda: _doc(label_classes=[{"value": 1, "name": "a"}]), "label_classes are given, but kind 'conditional'"),
    (lambda: _label_doc(label_classes=[]), "kind 'label_map' needs label_classes"),
    (lambda: _label_doc(label_classes=[{"value": 4, "name": "a", "colour": "red"}]), "unknown key.*colour"),
    (lambda: _label_doc(label_classes=[{"value": 4, "name": "a"}, {"value": 4, "name": "b"}, {"value": 5, "name": "c"}]),
     "repeat a value"),
    (lambda: _label_doc(label_classes=[{"value": "4", "name": "a"}]), r"label_classes\[0\].value must be an integer"),
    (lambda: _label_doc(label_classes=[{"value": 4, "name": "a"}, {"value": 5, "name": "b"}]),
     r"one-hot over 2 label_classes needs \[N, 2, H, W\]"),
    (lambda: _label_doc(inputs=[{"name": "seg", "role": "labels", "dtype": "float32", "shape": ["N", 3, "H", "W"]},
                                {"name": "z", "role": "noise", "dtype": "float32", "shape": ["N", "Z"]}]),
     "noise input 'z' must be float32 \\[N, Z\\] with a fixed Z"),
])
def test_kind_contradictions_are_refused_naming_the_field(doc, message):
    with pytest.raises(ModelMetadataError, match=message):
        md.parse_metadata(doc())


def test_constructed_metadata_derives_and_checks_its_kind():
    m = md.parse_metadata(_fixed_doc())
    fields = {f: getattr(m, f) for f in m.__dataclass_fields__}
    assert md.ModelMetadata(**{**fields, "kind": ""}).kind == "fixed_bands"
    with pytest.raises(ModelMetadataError, match="kind 'conditional' contradicts"):
        md.ModelMetadata(**{**fields, "kind": "conditional"})
