"""``hls_translate:synthesize_band``: synthesize band(s) of a scene loaded as raster layers.

A thin adapter: layers -> files -> ``core.scene.open_scene`` -> ``core.engine.predict``, the same calls
``hls-translate predict`` makes, so the same inputs and options give the same pixels.
"""

from __future__ import annotations

import os
from typing import List

from qgis.core import (QgsProcessing, QgsProcessingOutputNumber, QgsProcessingOutputString,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core import bands
from ..core.errors import ConfigError
from ..core.metadata import read_metadata
from ..core.output_naming import output_paths, synthesized_name
from ..core.scene import open_scene
from .common import (BUNDLED_MODEL, MODEL_FILTER, HLSAlgorithm, default_model_path, load_on_completion, log_scene,
                     parse_band_mapping, plan_prediction, raster_file, read_model, run_prediction)
from .parameters import PredictParameters, ResamplingChoice

#: Targets offered: every catalogue class, by its sensor-neutral key (stable for scripts whatever the model;
#: the chosen model's metadata decides which of them it can synthesize, checked before any work).
TARGET_KEYS = tuple(b.key for b in bands.BAND_CLASSES)
SENSOR_CHOICES = ("auto",) + tuple(bands.SENSORS)
RESAMPLING = ResamplingChoice("none (inputs must share one grid)")
PREDICT_PARAMETERS = PredictParameters(gap_fill=True, mask_qa=True, output_type=True)


def default_targets() -> List[str]:
    """The bundled model's first target (cirrus when it has it), for the dialog's default."""
    path = default_model_path()
    try:
        md = read_metadata(path) if path else None
    except Exception:  # noqa: BLE001 - a broken default model must not break the dialog
        md = None
    if md is None or not md.target_bands:
        return ["cirrus"]
    keys = [bands.band_class(i).key for i in md.target_bands]
    return ["cirrus"] if "cirrus" in keys else keys[:1]


class SynthesizeBand(HLSAlgorithm):
    NAME = "synthesize_band"
    DISPLAY_NAME = "Synthesize HLS band"
    SUMMARY = ("Synthesizes one or more spectral bands (e.g. the cirrus or a red-edge band) of a scene from the "
               "bands you have, with an exported hls_translate model (the bundled one by default). Inputs are "
               "raster layers: several single-band layers (HLS ships one file per band) or one multi-band layer. "
               "Each layer's band is recognised from its HLS file name (HLS.S30.T..B8A.tif), a band code at the "
               "end of the file name (..._B05.tif) or the band description; the bands found are listed in the "
               "log and can be overridden with the band mapping. The raster is processed tile by tile with "
               "overlapping, blended tiles and written with the inputs' CRS, geotransform and nodata. "
               "A cancelled run leaves no output file.")
    TAGS = ("hls", "sentinel-2", "landsat", "band synthesis", "cirrus", "red edge", "onnx", "deep learning")
    NEEDS_ONNXRUNTIME = True

    INPUT = "INPUT"
    BAND_MAPPING = "BAND_MAPPING"
    MODEL = "MODEL"
    TARGET_BANDS = "TARGET_BANDS"
    RESAMPLING = "RESAMPLING"
    SENSOR = "SENSOR"
    OUTPUT = "OUTPUT"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterMultipleLayers(self.INPUT, "Input band layers", QgsProcessing.TypeRaster),
                 "The scene's bands: several single-band layers (one file per band, as HLS ships them; an HLS "
                 "Fmask or Sentinel-2 SCL layer among them can mask clouds) or one multi-band layer whose band "
                 "descriptions name the bands (B1..B12, B8A). All must be files on one grid (see Resampling).")
        self.add(QgsProcessingParameterString(self.BAND_MAPPING, "Band mapping (override detected bands)",
                                              optional=True, multiLine=False),
                 "Leave empty to use the bands detected from file names / band descriptions (listed in the log). "
                 "Otherwise KEY=BAND entries separated by ';': for one multi-band layer KEY is a band number "
                 "('1=B02; 2=B03; 3=B04'), for single-band layers a layer or file name ('scene_x.tif=B8A'). "
                 "BAND is a band code read on the scene's sensor (B8A), sensor-qualified (S30:B10, L30:B05) "
                 "or a band class (nir_narrow, cirrus).")
        default_model = default_model_path()
        self.add(QgsProcessingParameterFile(self.MODEL, "Model (.onnx)", fileFilter=MODEL_FILTER,
                                            defaultValue=default_model or None, optional=True),
                 "An exported hls_translate model. Empty: the model bundled with the plugin "
                 f"({os.path.basename(BUNDLED_MODEL)}). Its metadata says which bands it reads and can synthesize.")
        targets = QgsProcessingParameterEnum(self.TARGET_BANDS, "Band(s) to synthesize", options=list(TARGET_KEYS),
                                             allowMultiple=True, defaultValue=default_targets())
        targets.setUsesStaticStrings(True)
        targets.setMetadata({"widget_wrapper": {"useCheckBoxes": True, "columns": 3}})
        self.add(targets, "Band class(es) to synthesize, by sensor-neutral name (cirrus = S2/S30 B10, L30 B09; "
                          "red_edge_1 = S2 B05; ...). The model's metadata must list them as targets; 'Model "
                          "information' shows which it can synthesize. One output file per band.")
        PREDICT_PARAMETERS.add_tiling(self)
        self.add(RESAMPLING.parameter(self.RESAMPLING, "Resampling of bands on different grids"),
                 "'none' refuses inputs on different grids (the safe default). Another method warps every band "
                 "onto the grid of the finest one (e.g. Sentinel-2's 20 m and 60 m bands onto 10 m).", advanced=True)
        self.add(QgsProcessingParameterEnum(self.SENSOR, "Sensor of the inputs", options=list(SENSOR_CHOICES),
                                            defaultValue=0),
                 "How band codes are read: 'auto' tells it from HLS file names (HLS.S30./HLS.L30.), Sentinel-2 / "
                 "Landsat product names or the band set; choose one when codes such as B05 are ambiguous "
                 "(Sentinel-2 red edge vs Landsat NIR).", advanced=True)
        PREDICT_PARAMETERS.add_execution(self)
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, "Synthesized band"),
                 "Output GeoTIFF. With several target bands, one file per band: this name with _<band> appended "
                 "(e.g. out_cirrus.tif).")
        self.addOutput(QgsProcessingOutputString("OUTPUT_FILES", "All files written, separated by ';'"))
        self.addOutput(QgsProcessingOutputString("TARGETS", "Band classes synthesized, separated by ','"))
        self.addOutput(QgsProcessingOutputString("INPUT_BANDS", "Input bands as detected (file band -> class)"))
        self.addOutput(QgsProcessingOutputString("EXECUTION_PROVIDER", "ONNX Runtime execution provider used"))
        self.addOutput(QgsProcessingOutputNumber("TILES_RUN", "Tiles the model ran on"))
        self.addOutput(QgsProcessingOutputNumber("TILES_SKIPPED", "Tiles skipped (all nodata / nothing to fill)"))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", "Run time in seconds"))

    # -- parameters -> library calls --------------------------------------------------------------------
    def open_inputs(self, parameters, context):
        """The INPUT layers as one scene (bands identified, mapped, on one grid)."""
        layers = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not layers:
            raise ConfigError(f"{self.INPUT}: no input layer given; choose the scene's band layers")
        paths = [raster_file(layer, self.INPUT) for layer in layers]
        if len(set(paths)) != len(paths):
            raise ConfigError(f"{self.INPUT}: the same file is given twice")
        band_map = parse_band_mapping(self.parameterAsString(parameters, self.BAND_MAPPING, context), paths,
                                      [layer.name() for layer in layers])
        sensor = SENSOR_CHOICES[self.parameterAsEnum(parameters, self.SENSOR, context)]
        return open_scene(paths, band_map=band_map or None, sensor=None if sensor == "auto" else sensor,
                          resampling=RESAMPLING.value(self, parameters, self.RESAMPLING, context))

    def process(self, parameters, context, run):
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        run.log(model.describe())
        keys = self.parameterAsEnumStrings(parameters, self.TARGET_BANDS, context)
        if not keys:
            raise ConfigError(f"{self.TARGET_BANDS}: choose at least one band to synthesize")
        options = PREDICT_PARAMETERS.options(self, parameters, context)
        run.step("reading the input layers")
        with self.open_inputs(parameters, context) as scene:
            bands_text = log_scene(run, scene)
            planned = plan_prediction(model, scene, keys, options, where=f"the input ({scene.name})")
            base = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
            outputs = output_paths(base, [t.key for t in planned.targets], one_file_per_target=True)
            result = run_prediction(run, model, scene, planned, outputs, options)
        if context.willLoadLayerOnCompletion(base):  # the user asked to open the output: open every target's
            if base not in result.outputs.values():  # several targets: OUTPUT's own path was not written
                layers = context.layersToLoadOnCompletion()
                layers.pop(base, None)
                context.setLayersToLoadOnCompletion(layers)
            for t in planned.targets:
                load_on_completion(context, result.outputs[t.key], synthesized_name(t, scene.sensor),
                                   self.OUTPUT if result.outputs[t.key] == base else "")
        files = [result.outputs[t.key] for t in planned.targets]
        run.log("written: " + "; ".join(files))
        return {
            self.OUTPUT: files[0],
            "OUTPUT_FILES": ";".join(files),
            "TARGETS": ",".join(t.key for t in planned.targets),
            "INPUT_BANDS": bands_text,
            "EXECUTION_PROVIDER": str(result.provider),
            "TILES_RUN": int(result.tiles_run),
            "TILES_SKIPPED": int(result.tiles_skipped),
            "SECONDS": float(result.seconds),
        }
