"""``hls_translate:translate_raster``: run any exported model (conditional AdaIN, pix2pix, CycleGAN, ...)
on one raster layer, driven by the model's embedded metadata.

* Conditional models synthesize the TARGET band(s) from whichever of the layer's bands they accept.
* Fixed-band models take exactly the bands their metadata lists, in that order: the layer's bands are
  matched by band class (descriptions, file name, or the band mapping); when the layer does not say which
  bands it holds and has exactly as many bands as the model takes, they are taken in order (logged).
  Every output band of the model is written unless TARGET picks some.
* Label-map models (SPADE) synthesize their output bands from the LABELS layer (a categorical raster, read
  onto the input layer's grid by nearest neighbour); the input layer gives the grid, its bands are not
  read.  SEED seeds the style vector of a model with a style input.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterFile,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core import bands
from ..core.backends import raster_info
from ..core.errors import ConfigError
from ..core.metadata import ModelMetadata
from ..core.output_naming import scene_label, translated_name
from ..core.scene import open_scene
from ..core.sources import band_sources_of
from .algorithm import HLSAlgorithm
from .common import (MODEL_FILTER, keys_of, log_scene, parse_band_mapping, plan_prediction, raster_file, read_model,
                     run_prediction, tr)
from .parameters import LabelParameters, PredictParameters
from .results import load_on_completion, synthesis_info

PREDICT_PARAMETERS = PredictParameters()
LABEL_PARAMETERS = LabelParameters()


def positional_mapping(path: str, md: ModelMetadata) -> Dict[int, str]:
    """For a fixed-band model: ``{band number: class key}`` taking the layer's bands in the model's order,
    when the layer does not identify all the bands the model needs but has exactly that many; else {}."""
    needed = list(md.input("bands").bands)
    info = raster_info(path)
    have = {s.band.id for s in band_sources_of(path, info=info)}
    if set(needed) <= have or info.count != len(needed):
        return {}
    return {i + 1: bands.band_class(c).key for i, c in enumerate(needed)}


class TranslateRaster(HLSAlgorithm):
    NAME = "translate_raster"
    TAGS = ("onnx", "pix2pix", "cyclegan", "spade", "label map", "image translation", "deep learning")
    NEEDS_ONNXRUNTIME = True

    INPUT = "INPUT"
    MODEL = "MODEL"
    TARGET = "TARGET"
    BAND_MAPPING = "BAND_MAPPING"
    OUTPUT = "OUTPUT"

    def displayName(self):  # noqa: N802
        return tr("Translate raster with a model")

    def shortDescription(self):  # noqa: N802
        return tr("Runs any exported hls_translate model (conditional, pix2pix, CycleGAN, ...) on one raster layer.")

    def summary(self):
        return tr("Runs any exported hls_translate model on one raster layer, driven by the model's metadata: a "
                  "conditional model (one model for every band, like the bundled one) synthesizes the TARGET band "
                  "from the layer's bands; a fixed-band model (pix2pix, CycleGAN, ...) reads the bands its metadata "
                  "lists and writes its output bands; a label-map model (SPADE) writes its output bands from the "
                  "LABELS layer on the input layer's grid. Tiled with overlap and blending; the output keeps the layer's "
                  "CRS and geotransform and is stored like the layer's bands unless another data type is chosen.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer(self.INPUT, tr("Input raster")),
                 tr("A raster layer (file) holding the model's input bands."))
        self.add(QgsProcessingParameterFile(self.MODEL, tr("Model (.onnx; empty: the bundled model)"),
                                            fileFilter=MODEL_FILTER, optional=True),
                 tr("An exported hls_translate model of any family. Empty: the bundled model."))
        self.add(QgsProcessingParameterString(self.TARGET, tr("Target band(s)"), optional=True),
                 tr("Conditional models: the band(s) to synthesize, separated by ',' (a class such as cirrus or "
                    "red_edge_1, or a band code of the layer's sensor such as B10). Fixed-band models: optionally, "
                    "which of the model's output bands to write (default: all)."))
        self.add(QgsProcessingParameterString(self.BAND_MAPPING, tr("Band mapping (override detected bands)"),
                                              optional=True),
                 tr("Which band of the layer is which: 'NUMBER=BAND' entries separated by ';' (e.g. '1=B04; "
                    "2=B03; 3=B02'). Empty: from the band descriptions or file name; for a fixed-band model a "
                    "layer with unnamed bands is read in the model's band order."))
        LABEL_PARAMETERS.add(self)
        PREDICT_PARAMETERS.add_tiling(self)
        PREDICT_PARAMETERS.add_output(self)
        PREDICT_PARAMETERS.add_execution(self)
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Translated raster")),
                 tr("Output GeoTIFF, one band per output band of the model / target."))
        self.addOutput(QgsProcessingOutputString("TARGETS", tr("Band classes written, separated by ','")))
        self.addOutput(QgsProcessingOutputString("INPUT_BANDS", tr("Input bands as detected (file band -> class)")))
        self.addOutput(QgsProcessingOutputString("EXECUTION_PROVIDER", tr("ONNX Runtime execution provider used")))
        self.addOutput(QgsProcessingOutputNumber("TILES_RUN", tr("Tiles the model ran on")))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", tr("Run time in seconds")))

    def process(self, parameters, context, run):
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        md = model.metadata
        run.log(model.describe())
        labels = LABEL_PARAMETERS.labels(self, parameters, context)
        LABEL_PARAMETERS.check(md, model.name, labels is not None, LABEL_PARAMETERS.LABELS)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_file(layer, self.INPUT)
        band_map = parse_band_mapping(self.parameterAsString(parameters, self.BAND_MAPPING, context), [path],
                                      [layer.name()])
        if not band_map and md.kind == "fixed_bands":
            band_map = positional_mapping(path, md)
            if band_map:
                run.warn(f"{layer.name()} does not name its bands; taking them in the model's input order: "
                         + ", ".join(f"band {i} -> {k}" for i, k in band_map.items()))
        target_text = self.parameterAsString(parameters, self.TARGET, context).strip()
        targets: List[str] = [t.strip() for t in target_text.replace(";", ",").split(",") if t.strip()]
        if not targets:
            if md.conditional:
                raise ConfigError(
                    f"{self.TARGET}: {model.name} is a conditional model; name the band to synthesize "
                    f"(it can synthesize: {keys_of(md.target_bands)})")
            targets = [bands.band_class(c).key for c in md.output.bands]
        options = dataclasses.replace(PREDICT_PARAMETERS.options(self, parameters, context),
                                      seed=LABEL_PARAMETERS.seed(self, parameters, context))
        storage = PREDICT_PARAMETERS.storage(self, parameters, context)
        run.step("reading the input layer")
        with open_scene([path], band_map=band_map or None) as whole:
            bands_text = log_scene(run, whole)
            scene = PREDICT_PARAMETERS.clip(self, parameters, context, whole, run)
            planned = plan_prediction(model, scene, targets, options, where=f"layer {layer.name()}", labels=labels)
            out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
            result = run_prediction(run, model, scene, planned, out, options, storage, labels=labels)
        if context.willLoadLayerOnCompletion(out):
            label = scene_label(scene.name, [path])
            name = translated_name(layer.name(), md.family, planned.targets, scene.sensor, label)
            sources = [bands.band_label(s, scene.sensor) for s in planned.sources]
            load_on_completion(context, out, name, self.OUTPUT,
                               synthesis_info(name, ", ".join(bands.band_label(t, scene.sensor) for t in planned.targets),
                                              model.name, sources, scene.name, "", storage.encoding))
        return {
            self.OUTPUT: out,
            "TARGETS": ",".join(t.key for t in planned.targets),
            "INPUT_BANDS": bands_text,
            "EXECUTION_PROVIDER": str(result.provider),
            "TILES_RUN": int(result.tiles_run),
            "SECONDS": float(result.seconds),
        }
