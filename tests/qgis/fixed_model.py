"""A fixed-band ONNX model built with ``onnx.helper`` (no torch), with embedded hls_translate metadata.

``output = sum_i w_i * bands[:, i] + b`` (a 1x1 convolution): every output pixel depends only on the input
pixel below it, so tiled, blended inference must reproduce the formula exactly (up to float rounding),
which lets tests check the whole metadata-driven path of a fixed-band model against numpy.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hls_translate.core.bands import band_class
from hls_translate.core.metadata import METADATA_KEY, ModelMetadata, TensorSpec, TilingHint

#: input band classes (in channel order), weights, bias, output class of the fixture
INPUTS = ("red", "nir_narrow", "swir_1")
WEIGHTS = (0.5, 0.25, 0.25)
BIAS = 0.01
OUTPUT = "water_vapour"


def fixed_linear_onnx(path: str, inputs: Sequence[str] = INPUTS, weights: Sequence[float] = WEIGHTS,
                      bias: float = BIAS, output: str = OUTPUT, family: str = "pix2pix") -> str:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = len(inputs)
    w = numpy_helper.from_array(np.asarray(weights, dtype=np.float32).reshape(1, c, 1, 1), "W")
    b = numpy_helper.from_array(np.asarray([bias], dtype=np.float32), "B")
    node = helper.make_node("Conv", ["bands", "W", "B"], ["output"], kernel_shape=[1, 1])
    graph = helper.make_graph(
        [node], "fixed_linear",
        [helper.make_tensor_value_info("bands", TensorProto.FLOAT, ["N", c, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    in_ids = tuple(band_class(k).id for k in inputs)
    out_id = band_class(output).id
    md = ModelMetadata(
        family=family, architecture="conv1x1_linear", model_version="test", conditional=False,
        inputs=(TensorSpec("bands", "bands", "float32", ("N", c, "H", "W"), bands=in_ids),),
        outputs=(TensorSpec("output", "output", "float32", ("N", 1, "H", "W"), bands=(out_id,)),),
        source_bands=in_ids, target_bands=(out_id,), tiling=TilingHint(64, 8, 1, 1),
        description="test model: a fixed linear combination of three bands")
    helper.set_model_props(model, {METADATA_KEY: md.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def expected(values: np.ndarray, weights: Sequence[float] = WEIGHTS, bias: float = BIAS) -> np.ndarray:
    """The model's output for physical ``values`` ``[C, H, W]`` (float64)."""
    return np.tensordot(np.asarray(weights, dtype=np.float64), values.astype(np.float64), axes=1) + bias
