"""``hls_translate:synthesize_band``: synthesize band(s) of a scene loaded as raster layers.

A thin adapter: layers -> files -> ``core.scene.open_scene`` -> ``core.engine.predict``, the same calls
``hls-translate predict`` makes, so the same inputs and options give the same pixels.
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputNumber,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterString)

from ..core import bands as _bands
from ..core.metadata import read_metadata
from ..core.scene import RESAMPLING_METHODS, open_scene
from .common import (BUNDLED_MODEL, MODEL_FILTER, HLSAlgorithm, Reporter, default_model_path, load_on_completion,
                     model_path, parse_band_mapping, raster_file, synthesized_layer_name)

#: Targets offered: every catalogue class, by its sensor-neutral key (stable for scripts whatever the model;
#: the chosen model's metadata decides which of them it can synthesize, checked before any work).
TARGET_KEYS = tuple(b.key for b in _bands.BAND_CLASSES)
BLENDS = ("cosine", "gaussian", "mean", "crop")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "int16")
FORMATS = ("GTiff", "COG")
SENSOR_CHOICES = ("auto",) + tuple(_bands.SENSORS)
RESAMPLINGS = ("none (inputs must share one grid)",) + tuple(RESAMPLING_METHODS)


def default_targets() -> List[str]:
    """The bundled model's first target (cirrus when it has it), for the dialog's default."""
    path = default_model_path()
    try:
        md = read_metadata(path) if path else None
    except Exception:  # noqa: BLE001 - a broken default model must not break the dialog
        md = None
    if md is None or not md.target_bands:
        return ["cirrus"]
    keys = [_bands.band_class(i).key for i in md.target_bands]
    return ["cirrus"] if "cirrus" in keys else keys[:1]


def layer_bands_text(scene) -> List[str]:
    """One line per identified input band: where it comes from and what it was taken for."""
    return [f"  {s.label} -> {s.band.key} (scale {s.scale:g}, nodata {s.nodata if s.nodata is not None else 'none'})"
            for s in scene.sources.values()]


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
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BLEND = "BLEND"
    BATCH_SIZE = "BATCH_SIZE"
    GAP_FILL = "GAP_FILL"
    RESAMPLING = "RESAMPLING"
    MASK_QA = "MASK_QA"
    SENSOR = "SENSOR"
    DEVICE = "DEVICE"
    THREADS = "THREADS"
    DATA_TYPE = "DATA_TYPE"
    FORMAT = "FORMAT"
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
        self.add(QgsProcessingParameterNumber(self.TILE_SIZE, "Tile size (pixels; 0 = the model's recommendation)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                 "Edge of the square tiles the model sees; a multiple of the model's stride. Larger tiles use more "
                 "memory and see more context.")
        self.add(QgsProcessingParameterNumber(self.OVERLAP, "Tile overlap (pixels; -1 = the model's recommendation)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=-1, minValue=-1),
                 "Pixels shared by neighbouring tiles and blended, which hides tile seams; smaller than the tile.")
        self.add(QgsProcessingParameterEnum(self.BLEND, "Blending of overlapping tiles", options=list(BLENDS),
                                            defaultValue=0),
                 "cosine: smooth ramps across the overlap (default); gaussian: weight falling off from each tile's "
                 "centre; mean: plain average; crop: each pixel from the nearest tile centre only.")
        self.add(QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size (tiles per model run)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=4, minValue=1),
                 "Tiles sent to the model at once; more is faster on a GPU and uses more memory. Progress and "
                 "cancellation are checked between batches.")
        self.add(QgsProcessingParameterBoolean(self.GAP_FILL, "Gap-fill: keep the band's real pixels",
                                               defaultValue=False),
                 "When the target band is among the inputs, keep its valid pixels and synthesize only its nodata "
                 "pixels (stripes, missing tiles). Off: the whole band is synthesized.")
        self.add(QgsProcessingParameterEnum(self.RESAMPLING, "Resampling of bands on different grids",
                                            options=list(RESAMPLINGS), defaultValue=0),
                 "'none' refuses inputs on different grids (the safe default). Another method warps every band "
                 "onto the grid of the finest one (e.g. Sentinel-2's 20 m and 60 m bands onto 10 m).", advanced=True)
        self.add(QgsProcessingParameterEnum(self.SENSOR, "Sensor of the inputs", options=list(SENSOR_CHOICES),
                                            defaultValue=0),
                 "How band codes are read: 'auto' tells it from HLS file names (HLS.S30./HLS.L30.), Sentinel-2 / "
                 "Landsat product names or the band set; choose one when codes such as B05 are ambiguous "
                 "(Sentinel-2 red edge vs Landsat NIR).", advanced=True)
        self.add(QgsProcessingParameterBoolean(self.MASK_QA, "Mask pixels flagged by the QA layer", defaultValue=False),
                 "With an HLS Fmask or Sentinel-2 SCL layer among the inputs: treat cloud/shadow/... pixels it "
                 "flags as nodata in the inputs (the output is nodata there).", advanced=True)
        self.add(QgsProcessingParameterEnum(self.DEVICE, "Device", options=list(DEVICES), defaultValue=0),
                 "auto: an NVIDIA GPU when onnxruntime-gpu can use one, else the CPU; cpu; cuda (fails clearly "
                 "when CUDA is not usable).", advanced=True)
        self.add(QgsProcessingParameterNumber(self.THREADS, "CPU threads (0 = ONNX Runtime's default)",
                                              QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                 "Threads ONNX Runtime uses on the CPU.", advanced=True)
        self.add(QgsProcessingParameterEnum(self.DATA_TYPE, "Output data type", options=list(DTYPES), defaultValue=0),
                 "float32: physical values (reflectance), nodata -9999; int16: scaled like HLS (reflectance x "
                 "10000, nodata -9999) with the scale written into the file.", advanced=True)
        self.add(QgsProcessingParameterEnum(self.FORMAT, "Output format", options=list(FORMATS), defaultValue=0),
                 "GTiff: tiled, compressed GeoTIFF with overviews; COG: Cloud-Optimized GeoTIFF.", advanced=True)
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
    def options(self, parameters, context):
        from ..core.engine import PredictOptions

        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        return PredictOptions(
            tile_size=tile if tile > 0 else None,
            overlap=overlap if overlap >= 0 else None,
            blend=BLENDS[self.parameterAsEnum(parameters, self.BLEND, context)],
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)],
            threads=self.parameterAsInt(parameters, self.THREADS, context),
            gap_fill=self.parameterAsBoolean(parameters, self.GAP_FILL, context),
            dtype=DTYPES[self.parameterAsEnum(parameters, self.DATA_TYPE, context)],
            driver=FORMATS[self.parameterAsEnum(parameters, self.FORMAT, context)],
            mask_qa=self.parameterAsBoolean(parameters, self.MASK_QA, context),
        )

    def open_inputs(self, parameters, context, feedback):
        layers = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not layers:
            raise QgsProcessingException(f"{self.INPUT}: no input layer given; choose the scene's band layers")
        paths = [raster_file(layer, self.INPUT) for layer in layers]
        if len(set(paths)) != len(paths):
            raise QgsProcessingException(f"{self.INPUT}: the same file is given twice")
        band_map = parse_band_mapping(self.parameterAsString(parameters, self.BAND_MAPPING, context), paths,
                                      [layer.name() for layer in layers])
        resampling = RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)]
        sensor = SENSOR_CHOICES[self.parameterAsEnum(parameters, self.SENSOR, context)]
        scene = open_scene(paths, band_map=band_map or None, sensor=None if sensor == "auto" else sensor,
                           resampling=None if resampling.startswith("none") else resampling)
        lines = layer_bands_text(scene)
        feedback.pushInfo(f"input bands ({scene.sensor or 'sensor unknown'}; {scene.grid.describe()}):")
        for line in lines:
            feedback.pushInfo(line)
        if scene.qa is not None:
            feedback.pushInfo(f"  QA layer: {scene.qa.kind} ({os.path.basename(scene.qa.path)})")
        return scene, paths, "\n".join(l.strip() for l in lines)

    def output_paths(self, base: str, targets: Sequence[_bands.BandClass]) -> Dict[str, str]:
        if len(targets) == 1:
            return {targets[0].key: base}
        stem, ext = os.path.splitext(base)
        return {t.key: f"{stem}_{t.key}{ext or '.tif'}" for t in targets}

    def process(self, parameters, context, feedback):
        from ..core.engine import plan, predict

        rep = Reporter(feedback)
        model = model_path(self.parameterAsFile(parameters, self.MODEL, context))
        md = read_metadata(model)
        feedback.pushInfo(f"model: {model} ({md.family}/{md.architecture}, version {md.model_version})")
        keys = self.parameterAsEnumStrings(parameters, self.TARGET_BANDS, context)
        if not keys:
            raise QgsProcessingException(f"{self.TARGET_BANDS}: choose at least one band to synthesize")
        options = self.options(parameters, context)
        scene, paths, bands_text = self.open_inputs(parameters, context, feedback)
        with scene:
            # every check (targets against the model, input bands, tiles) before any compute
            p = plan(md, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, list(keys), options,
                     sensor=scene.sensor, where=f"the input ({scene.name})", model_name=os.path.basename(model))
            base = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
            outputs = self.output_paths(base, p.targets)
            result = predict(model, scene, [t.key for t in p.targets], outputs, options, progress=rep.progress,
                             is_cancelled=rep.is_cancelled, log=rep.log)
        if context.willLoadLayerOnCompletion(base):  # the user asked to open the output: open every target's
            if base not in result.outputs.values():  # several targets: OUTPUT's own path was not written
                layers = context.layersToLoadOnCompletion()
                layers.pop(base, None)
                context.setLayersToLoadOnCompletion(layers)
            for t in p.targets:
                load_on_completion(context, result.outputs[t.key], synthesized_layer_name(t, scene.sensor),
                                   self.OUTPUT if result.outputs[t.key] == base else "")
        files = [result.outputs[t.key] for t in p.targets]
        feedback.pushInfo("written: " + "; ".join(files))
        return {
            self.OUTPUT: files[0],
            "OUTPUT_FILES": ";".join(files),
            "TARGETS": ",".join(t.key for t in p.targets),
            "INPUT_BANDS": bands_text,
            "EXECUTION_PROVIDER": str(result.provider),
            "TILES_RUN": int(result.tiles_run),
            "TILES_SKIPPED": int(result.tiles_skipped),
            "SECONDS": float(result.seconds),
        }
