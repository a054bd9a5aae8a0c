"""Tiny ONNX models with exactly known outputs, built with ``onnx.helper`` (no torch), for the engine's,
the CLI's and the QGIS algorithms' tests.

* :func:`copy_model` (conditional, the ``adain`` tensor contract): for target class ``t`` it returns the
  input channel of class ``mapping[t]``, multiplied by that class's ``present`` flag (so an engine that
  forgets the presence vector gets zeros).  The output passes through SpaceToDepth/DepthToSpace with the
  model's stride as block size: ONNX Runtime refuses inputs whose height or width is not a multiple of
  the stride, so a run proves the engine padded its tiles.
* :func:`fixed_model` (fixed-band contract): ``output = weights @ bands`` per pixel (a 1x1 convolution).
* :func:`tile_mean_model` (fixed-band): every output pixel is the mean of the input tile; shows what the
  engine fed the model in place of invalid pixels.
* :func:`fixed_linear_onnx` (fixed-band, family ``pix2pix``): ``output = w . bands + b`` over three named
  band classes, no stride; :func:`fixed_linear_expected` computes its output with numpy.
* :func:`label_map_model` (label map): ``output[o] = table[o, class]`` per pixel from a one-hot (a 1x1
  convolution) or class-index (a Gather) ``labels`` input, so every output value names the class the
  engine fed; with ``noise`` it adds the style vector's first entry (one value per run and seed).

Each embeds a real :class:`~hls_translate.core.metadata.ModelMetadata` document.  ``onnx`` is imported
when a model is built, so that importing this module needs only numpy and the library.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence

import numpy as np

from hls_translate.core.bands import NUM_CLASSES, band_class, describe_catalogue
from hls_translate.core.metadata import (METADATA_KEY, BandStats, LabelClass, ModelMetadata, TensorSpec,
                                        TilingHint)

OPSET = 17


def _save(graph, md: ModelMetadata, path) -> str:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, md.to_json()
    onnx.checker.check_model(model)
    path = os.fspath(path)
    onnx.save(model, path)
    return path


def _stride_gate(x: str, out: str, stride: int, nodes: list) -> None:
    """out = DepthToSpace(SpaceToDepth(x)): identity that fails unless H, W are multiples of stride."""
    from onnx import helper

    if stride <= 1:
        nodes.append(helper.make_node("Identity", [x], [out]))
        return
    nodes.append(helper.make_node("SpaceToDepth", [x], [x + "_s2d"], blocksize=stride))
    nodes.append(helper.make_node("DepthToSpace", [x + "_s2d"], [out], blocksize=stride, mode="DCR"))


def _metadata(conditional: bool, inputs, outputs, sources, targets, tile, overlap, stride, means, family,
              label_classes=()):
    norm = {int(c): BandStats(float(m), 0.1) for c, m in (means or {}).items()}
    return ModelMetadata(
        family=family, architecture=f"{family}_test", model_version="test", conditional=conditional,
        inputs=tuple(inputs), outputs=tuple(outputs), source_bands=tuple(sources), target_bands=tuple(targets),
        tiling=TilingHint(tile_size=tile, overlap=overlap, stride=stride, receptive_field=1),
        normalization=norm, catalogue=tuple(describe_catalogue()), description="engine test model",
        label_classes=tuple(label_classes))


def copy_model(path, mapping: Mapping[int, int], *, tile: int = 64, overlap: int = 16, stride: int = 8,
               sources: Optional[Sequence[int]] = None, means: Optional[Mapping[int, float]] = None) -> str:
    """Conditional model: target ``t`` -> input channel ``mapping[t]`` times ``present[mapping[t]]``."""
    from onnx import TensorProto, helper, numpy_helper

    m = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.float32)
    for t, s in mapping.items():
        m[t, s] = 1.0
    nodes = [
        helper.make_node("Gather", ["M", "target"], ["row"], axis=0),  # [N, 15]
        helper.make_node("Mul", ["row", "present"], ["row_p"]),
        helper.make_node("Unsqueeze", ["row_p", "axes23"], ["row4"]),  # [N, 15, 1, 1]
        helper.make_node("Mul", ["bands", "row4"], ["picked"]),
        helper.make_node("ReduceSum", ["picked", "axes1"], ["summed"], keepdims=1),  # [N, 1, H, W]
    ]
    _stride_gate("summed", "output", stride, nodes)
    graph = helper.make_graph(
        nodes, "copy_model",
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, ["N", NUM_CLASSES, "H", "W"]),
         helper.make_tensor_value_info("present", TensorProto.FLOAT, ["N", NUM_CLASSES]),
         helper.make_tensor_value_info("target", TensorProto.INT64, ["N"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=[numpy_helper.from_array(m, "M"),
                     numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes23"),
                     numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1")])
    all_ids = tuple(range(NUM_CLASSES))
    md = _metadata(
        True,
        [TensorSpec("bands", "bands", "float32", ("N", NUM_CLASSES, "H", "W"), all_ids),
         TensorSpec("present", "presence", "float32", ("N", NUM_CLASSES), all_ids),
         TensorSpec("target", "target", "int64", ("N",))],
        [TensorSpec("output", "output", "float32", ("N", 1, "H", "W"))],
        sorted(sources if sources is not None else set(mapping.values())), sorted(mapping), tile, overlap,
        stride, means, "copy")
    return _save(graph, md, path)


def _conv1x1_graph(name: str, weights: np.ndarray, bias: Optional[Sequence[float]], stride: int):
    """``output = weights @ bands (+ bias)`` per pixel, ``weights`` ``[out, in]``, behind the stride gate."""
    from onnx import TensorProto, helper, numpy_helper

    n_out, n_in = np.shape(weights)
    init = [numpy_helper.from_array(np.asarray(weights, dtype=np.float32).reshape(n_out, n_in, 1, 1), "W")]
    if bias is not None:
        init.append(numpy_helper.from_array(np.asarray(bias, dtype=np.float32), "B"))
    nodes = [helper.make_node("Conv", ["bands"] + [i.name for i in init], ["conv"], kernel_shape=[1, 1])]
    _stride_gate("conv", "output", stride, nodes)
    return helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, ["N", n_in, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n_out, "H", "W"])],
        initializer=init)


def fixed_model(path, in_bands: Sequence[int], out_bands: Sequence[int], weights: np.ndarray, *,
                tile: int = 64, overlap: int = 16, stride: int = 4,
                means: Optional[Mapping[int, float]] = None) -> str:
    """Fixed-band model: ``output[o] = sum_i weights[o, i] * bands[i]`` per pixel."""
    graph = _conv1x1_graph("fixed_model", np.reshape(weights, (len(out_bands), len(in_bands))), None, stride)
    md = _metadata(
        False,
        [TensorSpec("bands", "bands", "float32", ("N", len(in_bands), "H", "W"), tuple(in_bands))],
        [TensorSpec("output", "output", "float32", ("N", len(out_bands), "H", "W"), tuple(out_bands))],
        in_bands, out_bands, tile, overlap, stride, means, "fixed")
    return _save(graph, md, path)


def tile_mean_model(path, band: int, out_band: int, *, tile: int = 64, overlap: int = 0, stride: int = 1,
                    means: Optional[Mapping[int, float]] = None) -> str:
    """Fixed-band model whose every output pixel is the mean of its (single-band) input tile."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("GlobalAveragePool", ["bands"], ["gap"]),
             helper.make_node("Mul", ["bands", "zero"], ["zeros"]),
             helper.make_node("Add", ["zeros", "gap"], ["output"])]
    graph = helper.make_graph(
        nodes, "tile_mean_model",
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=[numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero")])
    md = _metadata(
        False,
        [TensorSpec("bands", "bands", "float32", ("N", 1, "H", "W"), (band,))],
        [TensorSpec("output", "output", "float32", ("N", 1, "H", "W"), (out_band,))],
        [band], [out_band], tile, overlap, stride, means, "tilemean")
    return _save(graph, md, path)


#: :func:`fixed_linear_onnx`'s input band classes (in channel order), weights, bias and output class
LINEAR_INPUTS = ("red", "nir_narrow", "swir_1")
LINEAR_WEIGHTS = (0.5, 0.25, 0.25)
LINEAR_BIAS = 0.01
LINEAR_OUTPUT = "water_vapour"


def fixed_linear_onnx(path: str, inputs: Sequence[str] = LINEAR_INPUTS, weights: Sequence[float] = LINEAR_WEIGHTS,
                      bias: float = LINEAR_BIAS, output: str = LINEAR_OUTPUT, family: str = "pix2pix") -> str:
    """Fixed-band model ``output = sum_i w_i * bands[:, i] + b`` (a 1x1 convolution) over named band classes:
    every output pixel depends only on the input pixel below it, so tiled, blended inference must reproduce
    :func:`fixed_linear_expected` exactly (up to float rounding)."""
    c = len(inputs)
    graph = _conv1x1_graph("fixed_linear", np.reshape(weights, (1, c)), [bias], 1)
    in_ids = tuple(band_class(k).id for k in inputs)
    out_id = band_class(output).id
    md = ModelMetadata(
        family=family, architecture="conv1x1_linear", model_version="test", conditional=False,
        inputs=(TensorSpec("bands", "bands", "float32", ("N", c, "H", "W"), bands=in_ids),),
        outputs=(TensorSpec("output", "output", "float32", ("N", 1, "H", "W"), bands=(out_id,)),),
        source_bands=in_ids, target_bands=(out_id,), tiling=TilingHint(64, 8, 1, 1),
        description="test model: a fixed linear combination of three bands")
    return _save(graph, md, path)


def fixed_linear_expected(values: np.ndarray, weights: Sequence[float] = LINEAR_WEIGHTS,
                          bias: float = LINEAR_BIAS) -> np.ndarray:
    """:func:`fixed_linear_onnx`'s output for physical ``values`` ``[C, H, W]`` (float64)."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), values.astype(np.float64), axes=1) + bias

def label_map_model(path, classes: Sequence[LabelClass], out_bands: Sequence[int], table: np.ndarray, *,
                    one_hot: bool = True, noise: int = 0, tile: int = 64, overlap: int = 16, stride: int = 4) -> str:
    """Label-map model: ``output[o] = table[o, class index]`` (+ ``noise[0]`` when ``noise`` > 0)."""
    from onnx import TensorProto, helper, numpy_helper

    k, n_out = len(classes), len(out_bands)
    table = np.asarray(table, dtype=np.float32).reshape(n_out, k)
    inits = []
    if one_hot:
        nodes = [helper.make_node("Conv", ["labels", "T"], ["mapped"], kernel_shape=[1, 1])]
        inits.append(numpy_helper.from_array(table.reshape(n_out, k, 1, 1), "T"))
        label_in = helper.make_tensor_value_info("labels", TensorProto.FLOAT, ["N", k, "H", "W"])
        label_spec = TensorSpec("labels", "labels", "float32", ("N", k, "H", "W"), labels=tuple(c.name for c in classes))
    else:  # [N, 1, H, W] int64 -> table rows -> [N, 1, H, W, n_out] -> [N, n_out, H, W]
        nodes = [helper.make_node("Squeeze", ["labels", "axes1"], ["idx"]),
                 helper.make_node("Gather", ["T", "idx"], ["picked"], axis=0),
                 helper.make_node("Transpose", ["picked"], ["mapped"], perm=[0, 3, 1, 2])]
        inits += [numpy_helper.from_array(np.ascontiguousarray(table.T), "T"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1")]
        label_in = helper.make_tensor_value_info("labels", TensorProto.INT64, ["N", 1, "H", "W"])
        label_spec = TensorSpec("labels", "labels", "int64", ("N", 1, "H", "W"))
    inputs, specs = [label_in], [label_spec]
    if noise:
        nodes += [helper.make_node("Slice", ["noise", "zero1", "one1", "one1"], ["z0"]),  # [N, 1]
                  helper.make_node("Unsqueeze", ["z0", "axes23"], ["z4"]),
                  helper.make_node("Add", ["mapped", "z4"], ["styled"])]
        inits += [numpy_helper.from_array(np.array([0], dtype=np.int64), "zero1"),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "one1"),
                  numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes23")]
        inputs.append(helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["N", noise]))
        specs.append(TensorSpec("noise", "noise", "float32", ("N", noise)))
    _stride_gate("styled" if noise else "mapped", "output", stride, nodes)
    graph = helper.make_graph(nodes, "label_map_model", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n_out, "H", "W"])],
                              initializer=inits)
    md = _metadata(False, specs, [TensorSpec("output", "output", "float32", ("N", n_out, "H", "W"), tuple(out_bands))],
                   (), out_bands, tile, overlap, stride, None, "labelmap", label_classes=classes)
    return _save(graph, md, path)
