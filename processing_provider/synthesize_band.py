"""``hls_translate:synthesize_band``: synthesize band(s) of a scene loaded as raster layers.

A thin adapter: layers -> files -> ``core.scene.open_scene`` -> ``core.delivery.predict_stored`` (the
engine's ``predict``, stored as asked), the same calls ``hls-translate predict`` makes, so the same inputs
and options give the same pixels.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

from qgis.core import (QgsProcessing, QgsProcessingOutputMultipleLayers, QgsProcessingOutputNumber,
                       QgsProcessingOutputString, QgsProcessingParameterFile, QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterString)

from ..core import bands
from ..core.delivery import encodings_for
from ..core.errors import AmbiguousBandError, ConfigError, HLSTranslateError
from ..core.metadata import read_metadata
from ..core.naming import identify_file
from ..core.output_naming import output_paths, scene_label, synthesized_name
from ..core.scene import InputHints, open_scene
from .algorithm import HLSAlgorithm
from .choices import Choice, chosen, enum_parameter
from .common import (BUNDLED_MODEL, MODEL_FILTER, default_model_path, keys_of, log_scene, parse_band_mapping,
                     plan_prediction, raster_file, read_model, run_prediction, tr)
from .parameters import PredictParameters, ResamplingChoice
from .results import load_on_completion, synthesis_info

#: Target names: every catalogue class by its sensor-neutral key; option number = class id (fixed forever).
TARGET_KEYS = tuple(b.key for b in bands.BAND_CLASSES)
SENSOR_CHOICES = ("auto",) + tuple(bands.SENSORS)
PREDICT_PARAMETERS = PredictParameters(gap_fill=True, mask_qa=True)
#: the band-table widget of the standard dialog (qgis_plugin/band_panel.py)
BAND_PANEL = "hls_translate.qgis_plugin.band_panel.BandMappingWrapper"


def target_label(cls: bands.BandClass) -> str:
    """``cirrus (B10; Landsat B09)``: a band class with its Sentinel-2 code and, where Landsat numbers it
    otherwise, its Landsat code."""
    s2, landsat = (bands.sensor_band_for_class(s, cls) for s in ("S2", "LANDSAT"))
    codes = [s2.code] if s2 is not None else []
    if landsat is not None and (s2 is None or landsat.code != s2.code):
        codes.append(f"Landsat {landsat.code}")
    return f"{cls.key} ({'; '.join(codes)})"


def target_choices() -> Tuple[Choice, ...]:
    return tuple(Choice(b.key, target_label(b)) for b in bands.BAND_CLASSES)


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


def qgis_hints() -> InputHints:
    """The library's remedies in the dialog's terms."""
    return InputHints(
        band_map=tr("set 'Band mapping' (BAND_MAPPING), e.g. 1=B04 for band 1 of a multi-band layer"),
        resampling=tr("choose a method under 'Resampling of bands on different grids' (RESAMPLING), e.g. "
                      "bilinear"),
        sensor=tr("or choose the sensor under 'Sensor of the inputs' (SENSOR)"))


class SynthesizeBand(HLSAlgorithm):
    NAME = "synthesize_band"
    TAGS = ("hls", "sentinel-2", "landsat", "band synthesis", "cirrus", "red edge", "onnx", "deep learning")
    NEEDS_ONNXRUNTIME = True

    INPUT = "INPUT"
    BAND_MAPPING = "BAND_MAPPING"
    MODEL = "MODEL"
    TARGET_BANDS = "TARGET_BANDS"
    RESAMPLING = "RESAMPLING"
    SENSOR = "SENSOR"
    OUTPUT = "OUTPUT"

    def displayName(self):  # noqa: N802
        return tr("Synthesize HLS band")

    def shortDescription(self):  # noqa: N802
        return tr("Synthesizes missing spectral bands (cirrus, red edge, SWIR, ...) of a scene from the bands "
                  "it has, with an exported hls_translate model.")

    def summary(self):
        return tr("Synthesizes one or more spectral bands (for example the cirrus or a red-edge band) of a scene "
                  "from the bands you have, with an exported hls_translate model (the bundled one by default). "
                  "Inputs are raster layers: several single-band layers (HLS ships one file per band) or one "
                  "multi-band layer. Each layer's band is recognised from its file name (HLS, Sentinel-2 SAFE, "
                  "Landsat, STAC asset names, a band code at its end), the band description or, for a VRT, its "
                  "source files; the dialog's band table shows what was found and what will be resampled before "
                  "you run, and the band mapping overrides it. Bands on different grids are resampled onto the "
                  "finest one. The raster is processed tile by tile with overlapping, blended tiles and stored "
                  "like the input bands (data type, scale, offset, nodata), with their CRS and geotransform. A "
                  "cancelled run leaves no output file.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterMultipleLayers(self.INPUT, tr("Input band layers"), QgsProcessing.TypeRaster),
                 tr("The scene's bands: several single-band layers (one file per band, as HLS ships them; an HLS "
                    "Fmask or Sentinel-2 SCL layer among them can mask clouds) or one multi-band layer whose band "
                    "descriptions name the bands (B1..B12, B8A). All must be files."))
        mapping = QgsProcessingParameterString(self.BAND_MAPPING, tr("Band mapping (override detected bands)"),
                                               optional=True, multiLine=False)
        mapping.setMetadata({"widget_wrapper": {"class": BAND_PANEL}})
        self.add(mapping,
                 tr("Leave empty to use the bands detected from file names / band descriptions (shown in the band "
                    "table and the log). Otherwise KEY=BAND entries separated by ';': for one multi-band layer KEY "
                    "is a band number ('1=B02; 2=B03; 3=B04'), for single-band layers a layer or file name "
                    "('scene_x.tif=B8A'). BAND is a band code read on the scene's sensor (B8A), sensor-qualified "
                    "(S30:B10, L30:B05) or a band class (nir_narrow, cirrus)."))
        self.add(QgsProcessingParameterFile(self.MODEL, tr("Model (.onnx; empty: the bundled model)"),
                                            fileFilter=MODEL_FILTER, optional=True),
                 tr("An exported hls_translate model. Empty: the model bundled with the plugin ({name}), also in "
                    "saved models, batch files and History. Its metadata says which bands it reads and can "
                    "synthesize.").format(name=os.path.basename(BUNDLED_MODEL)))
        targets = enum_parameter(self.TARGET_BANDS, tr("Band(s) to synthesize"), target_choices(),
                                 default_targets(), multiple=True)
        targets.setMetadata({**targets.metadata(), "widget_wrapper": {"useCheckBoxes": True, "columns": 3}})
        self.add(targets, tr("Band class(es) to synthesize (cirrus = S2/S30 B10, L30 B09; red_edge_1 = S2 B05; ...). "
                             "Scripts may give names (TARGET_BANDS=cirrus,red_edge_1) or option numbers (= class "
                             "ids). The model must be able to make them: the run is refused before it starts "
                             "otherwise, listing what it can make. One output file per band."))
        PREDICT_PARAMETERS.add_tiling(self)
        PREDICT_PARAMETERS.add_output(self)
        self.add(RESAMPLING.parameter(self.RESAMPLING, tr("Resampling of bands on different grids"),
                                      tr("none: refuse bands on different grids")),
                 tr("Bands on different grids (Sentinel-2's 10, 20 and 60 m bands) are resampled onto the grid of "
                    "the finest one with this method (bilinear by default; the log says which bands were "
                    "resampled). 'none' refuses inputs on different grids instead."), advanced=True)
        self.add(enum_parameter(self.SENSOR, tr("Sensor of the inputs"), tuple(Choice(s, s) for s in SENSOR_CHOICES),
                                "auto"),
                 tr("How band codes are read: 'auto' tells it from HLS file names (HLS.S30./HLS.L30.), Sentinel-2 / "
                    "Landsat product names or the band set; choose one when codes such as B05 are ambiguous "
                    "(Sentinel-2 red edge vs Landsat NIR)."), advanced=True)
        PREDICT_PARAMETERS.add_execution(self)
        self.add(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Synthesized band")),
                 tr("Output GeoTIFF. With several target bands, one file per band: this name with _BAND appended "
                    "(e.g. out_cirrus.tif)."))
        self.addOutput(QgsProcessingOutputMultipleLayers("OUTPUT_FILES", tr("All files written (a list)")))
        self.addOutput(QgsProcessingOutputString("TARGETS", tr("Band classes synthesized, separated by ','")))
        self.addOutput(QgsProcessingOutputString("INPUT_BANDS", tr("Input bands as detected (file band -> class)")))
        self.addOutput(QgsProcessingOutputString("EXECUTION_PROVIDER", tr("ONNX Runtime execution provider used")))
        self.addOutput(QgsProcessingOutputNumber("TILES_RUN", tr("Tiles the model ran on")))
        self.addOutput(QgsProcessingOutputNumber("TILES_SKIPPED", tr("Tiles skipped (all nodata / nothing to fill)")))
        self.addOutput(QgsProcessingOutputNumber("SECONDS", tr("Run time in seconds")))

    # -- parameters -> library calls --------------------------------------------------------------------
    def input_files(self, parameters, context) -> Tuple[List[str], List[str]]:
        """The INPUT layers' files and layer names."""
        layers = self.parameterAsLayerList(parameters, self.INPUT, context)
        if not layers:
            raise ConfigError(f"{self.INPUT}: no input layer given; choose the scene's band layers")
        paths = [raster_file(layer, self.INPUT) for layer in layers]
        if len(set(paths)) != len(paths):
            raise ConfigError(f"{self.INPUT}: the same file is given twice")
        return paths, [layer.name() for layer in layers]

    def open_inputs(self, parameters, context):
        """The INPUT layers as one scene (bands identified, mapped, on one grid)."""
        paths, names = self.input_files(parameters, context)
        band_map = parse_band_mapping(self.parameterAsString(parameters, self.BAND_MAPPING, context), paths, names)
        sensor = chosen(SENSOR_CHOICES, self.parameterAsEnum(parameters, self.SENSOR, context))[0]
        hints = qgis_hints()
        try:
            return open_scene(paths, band_map=band_map or None, sensor=None if sensor == "auto" else sensor,
                              resampling=RESAMPLING.value(self, parameters, self.RESAMPLING, context), hints=hints)
        except AmbiguousBandError as exc:
            raise AmbiguousBandError(f"{exc}; {hints.sensor}") from None

    def targets(self, parameters, context) -> List[str]:
        keys = list(chosen(TARGET_KEYS, self.parameterAsEnums(parameters, self.TARGET_BANDS, context)))
        if not keys:
            raise ConfigError(f"{self.TARGET_BANDS}: choose at least one band to synthesize")
        return keys

    def check(self, parameters, context) -> Optional[str]:
        """Refuse targets the model cannot make, naming what it can (before anything is read)."""
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        md = model.metadata
        can = set(md.target_bands if md.conditional else md.output.bands)
        lacking = [k for k in self.targets(parameters, context) if bands.band_class(k).id not in can]
        if lacking:
            return tr("{model} cannot synthesize {bands}; it can synthesize: {can}").format(
                model=model.name, bands=", ".join(lacking), can=keys_of(sorted(can)))
        return None

    def process(self, parameters, context, run):
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        run.log(model.describe())
        keys = self.targets(parameters, context)
        options = PREDICT_PARAMETERS.options(self, parameters, context)
        storage = PREDICT_PARAMETERS.storage(self, parameters, context)
        run.step("reading the input layers")
        with self.open_inputs(parameters, context) as whole:
            bands_text = log_scene(run, whole)
            scene = PREDICT_PARAMETERS.clip(self, parameters, context, whole, run)
            planned = plan_prediction(model, scene, keys, options, where=f"the input ({scene.name})")
            base = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
            outputs = output_paths(base, [t.key for t in planned.targets], one_file_per_target=True)
            result = run_prediction(run, model, scene, planned, outputs, options, storage)
        files = [result.outputs[t.key] for t in planned.targets]
        if context.willLoadLayerOnCompletion(base):  # the user asked to open the output: open every target's
            self._load(context, base, files, scene, planned, model, storage)
        run.log("written: " + "; ".join(files))
        return {
            self.OUTPUT: files[0],
            "OUTPUT_FILES": files,
            "TARGETS": ",".join(t.key for t in planned.targets),
            "INPUT_BANDS": bands_text,
            "EXECUTION_PROVIDER": str(result.provider),
            "TILES_RUN": int(result.tiles_run),
            "TILES_SKIPPED": int(result.tiles_skipped),
            "SECONDS": float(result.seconds),
        }

    def _load(self, context, base, files, scene, planned, model, storage) -> None:
        """Load every target's file, named after its scene and band, styled and described."""
        if base not in files:  # several targets: OUTPUT's own path was not written
            layers = context.layersToLoadOnCompletion()
            layers.pop(base, None)
            context.setLayersToLoadOnCompletion(layers)
        paths = [s.path for s in scene.sources.values()]
        label = scene_label(scene.name, paths)
        stored = encodings_for(scene, planned.targets, storage, float(model.metadata.nodata))
        acquired = next((f.acquired.strftime("%Y-%m-%d") for f in map(_named, paths) if f and f.acquired), "")
        for t, sources, path in zip(planned.targets, planned.target_sources, files):
            name = synthesized_name(t, scene.sensor, label)
            info = synthesis_info(name, bands.band_label(t, scene.sensor), model.name,
                                  [bands.band_label(s, scene.sensor) for s in sources], scene.name, acquired,
                                  stored[t.key][0].describe())
            load_on_completion(context, path, name, self.OUTPUT if path == base else "", info)


def _named(path: str):
    try:
        return identify_file(path)
    except HLSTranslateError:
        return None


RESAMPLING = ResamplingChoice(default="bilinear")
