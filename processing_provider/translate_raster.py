"""``hls_translate:translate_raster``: run any exported model (conditional AdaIN, pix2pix, CycleGAN, ...)
on one raster layer, driven by the model's embedded metadata.

* Conditional models synthesize the TARGET band(s) from whichever of the layer's bands they accept.
* Fixed-band models take exactly the bands their metadata lists, in that order: the layer's bands are
  matched by band class (descriptions, file name, or the band mapping); when the layer does not say which
  bands it holds and has exactly as many bands as the model takes, they are taken in order (logged).
  Every output band of the model is written unless TARGET picks some.
"""

from __future__ import annotations

import os
from typing import Dict, List

from qgis.core import (QgsProcessingException, QgsProcessingOutputNumber, QgsProcessingOutputString,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)

from ..core import bands as _bands
from ..core.metadata import ModelMetadata, read_metadata
from ..core.backends import raster_info
from ..core.scene import open_scene
from ..core.sources import band_sources_of
from .common import (MODEL_FILTER, HLSAlgorithm, Reporter, default_model_path, keys_of, load_on_completion,
                     model_path, parse_band_mapping, raster_file, synthesized_layer_name)
from .synthesize_band import BLENDS, DEVICES, layer_bands_text


def positional_mapping(path: str, md: ModelMetadata) -> Dict[int, str]:
    """For a fixed-band model: ``{band number: class key}`` taking the layer's bands in the model's order,
    when the layer does not identify all the bands the model needs but has exactly that many; else {}."""
    needed = list(md.input("bands").bands)
    info = raster_info(path)
    have = {s.band.id for s in band_sources_of(path, info=info)}
    if set(needed) <= have or info.count != len(needed):
        return {}
    return {i + 1: _bands.band_class(c).key for i, c in enumerate(needed)}


class TranslateRaster(HLSAlgorithm):
    NAME = "translate_raster"
    DISPLAY_NAME = "Translate raster with a model"
    SUMMARY = ("Runs any exported hls_translate model on one raster layer, driven by the model's metadata: a "
               "conditional model (one model for every band, like the bundled one) synthesizes the TARGET band "
               "from the layer's bands; a fixed-band model (pix2pix, CycleGAN, ...) reads the bands its metadata "
               "lists and writes its output bands. Tiled with overlap and blending; the output keeps the layer's "
               "CRS, geotransform and nodata.")
    TAGS = ("onnx", "pix2pix", "cyclegan", "image translation", "deep learning")
    NEEDS_ONNXRUNTIME = True

    INPUT = "INPUT"
    MODEL = "MODEL"
    TARGET = "TARGET"
    BAND_MAPPING = "BAND_MAPPING"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BLEND = "BLEND"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    THREADS = "THREADS"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer(self.INPUT, "Input raster"),
                 "A raster layer (file) holding the model's input bands.")
        self.add(QgsProcessingParameterFile(self.MODEL, "Model (.onnx)", fileFilter=MODEL_FILTER,
                                            defaultValue=default_model_path() or None, optional=True),
                 "An exported hls_translate model of any family. Empty: the bundled model.")
        self.add(QgsProcessingParameterString(self.TARGET, "Target band(s)", optional=True),
                 "Conditional models: the band(s) to synthesize, separated by ',' (a class such as cirrus or "
                 "red_edge_1, or a band code of the layer's sensor such as B10). Fixed-band models: optionally, "
                 "which of the model's output bands to write (default: all).")
        self.add(QgsProcessingParameterString(self.BAND_MAPPING, "Band mapping (override detected bands)",
                                              optional=True),
                 "Which band of the layer is which: 'NUMBER=BAND' entries separated by ';' (e.g. '1=B04; 2=B03; "
                 "3=B02'). Empty: from the band descriptions or file name; for a fixed-band model a layer with "
                 "unnamed bands is read in the model's band order.")
        self.add(QgsProcessingParameterNumber(self.TILE_SIZE, "Tile size (pixels; 0 = the model's recommendation)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                 "Edge of the square tiles the model sees; a multiple of the model's stride.")
        self.add(QgsProcessingParameterNumber(self.OVERLAP, "Tile overlap (pixels; -1 = the model's recommendation)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=-1, minValue=-1),
                 "Pixels shared by neighbouring tiles and blended.")
        self.add(QgsProcessingParameterEnum(self.BLEND, "Blending of overlapping tiles", options=list(BLENDS),
                                            defaultValue=0),
                 "cosine (default), gaussian, mean or crop; see 'Synthesize HLS band'.")
        self.add(QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size (tiles per model run)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=4, minValue=1),
                 "Tiles sent to the model at once; progress and cancellation are checked between batches.")
        self.add(QgsProcessingParameterEnum(self.DEVICE, "Device", options=list(DEVICES), defaultValue=0),
                 "auto: GPU when onnxruntime-gpu can use one, else CPU; cpu; cuda.", advanced=True)
        self.add(QgsProcessingParameterNumber(self.THREADS, "CPU threads (0 = ONNX Runtime's default)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                 "Threads ONNX Runtime uses on the CPU.", advanced=True)
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Translated raster"),
                 "Output GeoTIFF (float32, physical values), one band per output band of the model / target.")
        self.addOutput(QgsProcessingOutputString("TARGETS", "Band classes written, separated by ','"))
        self.addOutput(QgsProcessingOutputString("INPUT_BANDS", "Input bands as detected (file band -> class)"))
        self.addOutput(QgsProcessingOutputString("EXECUTION_PROVIDER", "ONNX Runtime execution provider used"))
        self.addOutput(QgsProcessingOutputNumber("TILES_RUN", "Tiles the model ran on"))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", "Run time in seconds"))

    def process(self, parameters, context, feedback):
        from ..core.engine import PredictOptions, plan, predict

        rep = Reporter(feedback)
        model = model_path(self.parameterAsFile(parameters, self.MODEL, context))
        md = read_metadata(model)
        feedback.pushInfo(f"model: {model} ({md.family}/{md.architecture}, "
                          f"{'conditional' if md.conditional else 'fixed bands'}, version {md.model_version})")
        if md.has_input("labels"):
            raise QgsProcessingException(
                f"{os.path.basename(model)} is a label-map model ({md.family}: input role 'labels'); it turns class "
                "maps into imagery and cannot be applied to a raster of bands by this algorithm")
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        path = raster_file(layer, self.INPUT)
        band_map = parse_band_mapping(self.parameterAsString(parameters, self.BAND_MAPPING, context), [path],
                                      [layer.name()])
        if not band_map and not md.conditional:
            band_map = positional_mapping(path, md)
            if band_map:
                feedback.pushWarning(
                    f"{layer.name()} does not name its bands; taking them in the model's input order: "
                    + ", ".join(f"band {i} -> {k}" for i, k in band_map.items()))
        target_text = self.parameterAsString(parameters, self.TARGET, context).strip()
        targets: List[str] = [t.strip() for t in target_text.replace(";", ",").split(",") if t.strip()]
        if not targets:
            if md.conditional:
                raise QgsProcessingException(
                    f"{self.TARGET}: {os.path.basename(model)} is a conditional model; name the band to synthesize "
                    f"(it can synthesize: {keys_of(md.target_bands)})")
            targets = [_bands.band_class(c).key for c in md.output.bands]
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        options = PredictOptions(
            tile_size=tile if tile > 0 else None, overlap=overlap if overlap >= 0 else None,
            blend=BLENDS[self.parameterAsEnum(parameters, self.BLEND, context)],
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            threads=self.parameterAsInt(parameters, self.THREADS, context))
        scene = open_scene([path], band_map=band_map or None)
        with scene:
            feedback.pushInfo(f"input bands ({scene.sensor or 'sensor unknown'}; {scene.grid.describe()}):")
            lines = layer_bands_text(scene)
            for line in lines:
                feedback.pushInfo(line)
            p = plan(md, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, targets, options,
                     sensor=scene.sensor, where=f"layer {layer.name()}", model_name=os.path.basename(model))
            out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
            result = predict(model, scene, [t.key for t in p.targets], out, options, progress=rep.progress,
                             is_cancelled=rep.is_cancelled, log=rep.log)
        if context.willLoadLayerOnCompletion(out):
            name = (synthesized_layer_name(p.targets[0], scene.sensor) if len(p.targets) == 1 else
                    f"{layer.name()} translated by {md.family} ({', '.join(t.key for t in p.targets)})")
            load_on_completion(context, out, name, self.OUTPUT)
        return {
            self.OUTPUT: out,
            "TARGETS": ",".join(t.key for t in p.targets),
            "INPUT_BANDS": "\n".join(line.strip() for line in lines),
            "EXECUTION_PROVIDER": str(result.provider),
            "TILES_RUN": int(result.tiles_run),
            "SECONDS": float(result.seconds),
        }
