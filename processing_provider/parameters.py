"""Parameters several algorithms share, declared once: the tiling, execution and output parameters of the
algorithms that run a model (mapped to ``PredictOptions`` / ``StorageOptions`` and a clip window in one
place) and the resampling choice.  Enum options are the library's lists (``core.tiling.BLEND_MODES``,
``core.runtime.DEVICES``, ...), never spelled out here, as numbered options with names
(:mod:`.choices`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence, Tuple

from qgis.core import (QgsCoordinateReferenceSystem, QgsProcessingParameterBoolean, QgsProcessingParameterExtent,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer, QgsProcessingParameterString)

from ..core.delivery import StorageOptions
from ..core.engine import DRIVERS, PredictOptions
from ..core.errors import ConfigError
from ..core.runtime import DEVICES
from ..core.scene import RESAMPLING_METHODS, Scene
from ..core.tiling import BLEND_MODES
from ..core.writer import ENCODINGS
from .algorithm import HLSAlgorithm
from .choices import Choice, chosen, enum_parameter
from .common import Run, raster_file, tr

#: the engine's defaults, which the parameters below default to
DEFAULT_OPTIONS = PredictOptions()
#: option numbers of DATA_TYPE never change meaning (float32 and int16 came first): "input" is appended
DATA_TYPES = ("float32", "int16", "input")
assert set(DATA_TYPES) == set(ENCODINGS)
#: where the creation-options widget of QGIS's own GDAL algorithms is (a line edit where it is missing)
CREATION_OPTIONS_WIDGET = "hls_translate.qgis_plugin.widgets.CreationOptionsWrapper"


def named(values: Sequence[str]) -> Tuple[Choice, ...]:
    """Options named and labelled by the library's own names."""
    return tuple(Choice(v, v) for v in values)


def data_type_choices() -> Tuple[Choice, ...]:
    labels = {"float32": tr("float32: physical values (reflectance, degC)"),
              "int16": tr("int16 as HLS stores bands (x 10000, nodata -9999)"),
              "input": tr("as the input bands (their data type, scale, offset and nodata)")}
    return tuple(Choice(n, labels[n]) for n in DATA_TYPES)


@dataclass(frozen=True)
class PredictParameters:
    """The tiling, execution and output parameters of the algorithms that run a model, declared (name,
    label, default, help) and mapped to the library's options once.  Every algorithm gets TILE_SIZE,
    OVERLAP, BLEND, BATCH_SIZE, DEVICE, THREADS and the output parameters EXTENT, DATA_TYPE, FORMAT and
    CREATION_OPTIONS; the flags add GAP_FILL and MASK_QA.  :meth:`add_tiling`, :meth:`add_output` and
    :meth:`add_execution` declare them where the algorithm wants them in its dialog."""

    gap_fill: bool = False
    mask_qa: bool = False

    TILE_SIZE: ClassVar[str] = "TILE_SIZE"
    OVERLAP: ClassVar[str] = "OVERLAP"
    BLEND: ClassVar[str] = "BLEND"
    BATCH_SIZE: ClassVar[str] = "BATCH_SIZE"
    GAP_FILL: ClassVar[str] = "GAP_FILL"
    MASK_QA: ClassVar[str] = "MASK_QA"
    DEVICE: ClassVar[str] = "DEVICE"
    THREADS: ClassVar[str] = "THREADS"
    EXTENT: ClassVar[str] = "EXTENT"
    DATA_TYPE: ClassVar[str] = "DATA_TYPE"
    FORMAT: ClassVar[str] = "FORMAT"
    CREATION_OPTIONS: ClassVar[str] = "CREATION_OPTIONS"

    def add_tiling(self, alg: HLSAlgorithm) -> None:
        """TILE_SIZE, OVERLAP, BLEND, BATCH_SIZE (and GAP_FILL)."""
        alg.add(QgsProcessingParameterNumber(self.TILE_SIZE, tr("Tile size (pixels; 0 = the model's recommendation)"),
                                             QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                tr("Edge of the square tiles the model sees; a multiple of the model's stride. Larger tiles use "
                   "more memory and see more context."))
        alg.add(QgsProcessingParameterNumber(self.OVERLAP, tr("Tile overlap (pixels; -1 = the model's recommendation)"),
                                             QgsProcessingParameterNumber.Integer, defaultValue=-1, minValue=-1),
                tr("Pixels shared by neighbouring tiles and blended, which hides tile seams; smaller than the tile."))
        alg.add(enum_parameter(self.BLEND, tr("Blending of overlapping tiles"), named(BLEND_MODES),
                               DEFAULT_OPTIONS.blend),
                tr("cosine: smooth ramps across the overlap (default); gaussian: weight falling off from each "
                   "tile's centre; mean: plain average; crop: each pixel from the nearest tile centre only."))
        alg.add(QgsProcessingParameterNumber(self.BATCH_SIZE, tr("Batch size (tiles per model run)"),
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=DEFAULT_OPTIONS.batch_size, minValue=1),
                tr("Tiles sent to the model at once; more is faster on a GPU and uses more memory. Progress and "
                   "cancellation are checked between batches."))
        if self.gap_fill:
            alg.add(QgsProcessingParameterBoolean(self.GAP_FILL, tr("Gap-fill: keep the band's real pixels"),
                                                  defaultValue=DEFAULT_OPTIONS.gap_fill),
                    tr("When the target band is among the inputs, keep its valid pixels and synthesize only its "
                       "nodata pixels (stripes, missing tiles). Off: the whole band is synthesized."))

    def add_output(self, alg: HLSAlgorithm) -> None:
        """EXTENT, then the advanced DATA_TYPE, FORMAT and CREATION_OPTIONS."""
        alg.add(QgsProcessingParameterExtent(self.EXTENT, tr("Clip extent (empty: the whole scene)"), optional=True),
                tr("Process only this area: the map view, a layer's extent or a drawn rectangle (any CRS; "
                   "taken in whole pixels of the inputs' grid). Empty: the whole scene."))
        alg.add(enum_parameter(self.DATA_TYPE, tr("Output data type"), data_type_choices(), "input"),
                tr("input (default): stored like the input bands, with their data type, scale, offset and "
                   "nodata, so that real and synthesized bands mix in the Raster Calculator; values are clipped "
                   "to the valid range (reflectance -0.01 to 1.6). float32: the model's physical values "
                   "(reflectance, degC), nodata -9999. int16: as HLS stores bands (reflectance x 10000, "
                   "nodata -9999, scale written into the file)."), advanced=True)
        alg.add(enum_parameter(self.FORMAT, tr("Output format"), named(DRIVERS), DEFAULT_OPTIONS.driver),
                tr("GTiff: tiled, compressed GeoTIFF with overviews; COG: Cloud-Optimized GeoTIFF."), advanced=True)
        options = QgsProcessingParameterString(self.CREATION_OPTIONS, tr("Additional creation options"),
                                               defaultValue="", optional=True)
        options.setMetadata({"widget_wrapper": {"class": CREATION_OPTIONS_WIDGET}})
        alg.add(options, tr("GDAL creation options of the output format, KEY=VALUE separated by '|' (e.g. "
                            "COMPRESS=ZSTD|ZSTD_LEVEL=9); they override the defaults (DEFLATE, 256 px tiles)."),
                advanced=True)

    def add_execution(self, alg: HLSAlgorithm) -> None:
        """The advanced ones: (MASK_QA,) DEVICE, THREADS."""
        if self.mask_qa:
            alg.add(QgsProcessingParameterBoolean(self.MASK_QA, tr("Mask pixels flagged by the QA layer"),
                                                  defaultValue=DEFAULT_OPTIONS.mask_qa),
                    tr("With an HLS Fmask or Sentinel-2 SCL layer among the inputs: treat cloud/shadow/... pixels "
                       "it flags as nodata in the inputs (the output is nodata there)."), advanced=True)
        alg.add(enum_parameter(self.DEVICE, tr("Device"), named(DEVICES), DEFAULT_OPTIONS.device),
                tr("auto: an NVIDIA GPU when onnxruntime-gpu can use one, else the CPU; cpu; cuda (fails clearly "
                   "when CUDA is not usable)."), advanced=True)
        alg.add(QgsProcessingParameterNumber(self.THREADS, tr("CPU threads (0 = ONNX Runtime's default)"),
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=DEFAULT_OPTIONS.threads, minValue=0),
                tr("Threads ONNX Runtime uses on the CPU."), advanced=True)

    def options(self, alg: HLSAlgorithm, parameters, context) -> PredictOptions:
        """The parameters' values as the engine's options (the engine's defaults for those not declared)."""
        tile = alg.parameterAsInt(parameters, self.TILE_SIZE, context)
        overlap = alg.parameterAsInt(parameters, self.OVERLAP, context)
        chosen_options = dict(
            tile_size=tile if tile > 0 else None,
            overlap=overlap if overlap >= 0 else None,
            blend=BLEND_MODES[alg.parameterAsEnum(parameters, self.BLEND, context)],
            batch_size=alg.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=DEVICES[alg.parameterAsEnum(parameters, self.DEVICE, context)],
            threads=alg.parameterAsInt(parameters, self.THREADS, context),
            driver=DRIVERS[alg.parameterAsEnum(parameters, self.FORMAT, context)])
        if self.gap_fill:
            chosen_options["gap_fill"] = alg.parameterAsBoolean(parameters, self.GAP_FILL, context)
        if self.mask_qa:
            chosen_options["mask_qa"] = alg.parameterAsBoolean(parameters, self.MASK_QA, context)
        return PredictOptions(**chosen_options)

    def storage(self, alg: HLSAlgorithm, parameters, context) -> StorageOptions:
        """How the outputs are stored (DATA_TYPE, CREATION_OPTIONS)."""
        return StorageOptions(DATA_TYPES[alg.parameterAsEnum(parameters, self.DATA_TYPE, context)],
                              alg.parameterAsString(parameters, self.CREATION_OPTIONS, context) or "")

    def clip(self, alg: HLSAlgorithm, parameters, context, scene: Scene, run: Run) -> Scene:
        """``scene`` cut to EXTENT (in whole pixels of its grid), or ``scene`` itself when EXTENT is empty."""
        if parameters.get(self.EXTENT) in (None, ""):
            return scene
        if not scene.grid.crs_wkt:
            raise ConfigError(f"{self.EXTENT}: the inputs have no CRS, so a clip extent cannot be placed on them")
        crs = QgsCoordinateReferenceSystem.fromWkt(scene.grid.crs_wkt)
        rect = alg.parameterAsExtent(parameters, self.EXTENT, context, crs)
        if rect.isNull() or rect.isEmpty():
            raise ConfigError(f"{self.EXTENT}: the clip extent is empty")
        window = scene.grid.window_of((rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()))
        part = scene.clipped(window)
        run.log(f"clipped to {window.width}x{window.height} px at column {window.col_off}, row {window.row_off} "
                f"of the scene ({part.grid.describe()})")
        return part


@dataclass(frozen=True)
class LabelParameters:
    """The label layer (LABELS) or, for a folder of scenes, the label file pattern (LABEL_PATTERN), and the
    style seed (SEED) of label-map models (SPADE), declared once: all optional, since the same algorithms
    run models of every kind; :meth:`check` refuses a label-map model without labels and any other model
    with them, naming the parameter and the model."""

    LABELS: ClassVar[str] = "LABELS"
    LABEL_PATTERN: ClassVar[str] = "LABEL_PATTERN"
    SEED: ClassVar[str] = "SEED"

    def add(self, alg: HLSAlgorithm) -> None:
        """LABELS and SEED (one raster layer)."""
        alg.add(QgsProcessingParameterRasterLayer(self.LABELS, tr("Label layer (label-map models such as SPADE)"),
                                                  optional=True),
                tr("A categorical raster (scene classification, land cover, a drawn label) that a label-map model "
                   "synthesizes bands from; read onto the input layer's grid by nearest neighbour only. Its "
                   "values must be the model's classes (listed by Model information); other values and nodata "
                   "give nodata. Leave empty for models that take bands."))
        self._add_seed(alg)

    def add_pattern(self, alg: HLSAlgorithm) -> None:
        """LABEL_PATTERN and SEED (a folder of scenes)."""
        alg.add(QgsProcessingParameterString(self.LABEL_PATTERN, tr("Label file of each scene (label-map models "
                                                                    "such as SPADE)"), optional=True),
                tr("Where each scene's categorical label raster is, e.g. {granule}_SCL.tif: {granule} is the scene's "
                   "id; a relative pattern starts at the folder of the scene's files (an absolute one such as "
                   "/data/scl/{granule}.tif names a folder of label files); * and ? must match one file; without "
                   "{granule}, one raster for every scene. Read onto each scene's grid by nearest neighbour only; "
                   "a scene without its label file, or whose labels hold none of the model's classes, is refused "
                   "by the checks. Leave empty for models that take bands."))
        self._add_seed(alg)

    def _add_seed(self, alg: HLSAlgorithm) -> None:
        alg.add(QgsProcessingParameterNumber(self.SEED, tr("Style seed (label-map models with a style input)"),
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=DEFAULT_OPTIONS.seed, minValue=0),
                tr("Seeds the one style vector a multimodal label-map model is fed for the whole raster: the "
                   "same seed gives the same pixels."), advanced=True)

    def labels(self, alg: HLSAlgorithm, parameters, context) -> Optional[str]:
        """The file of the label layer, or None when none is given."""
        if parameters.get(self.LABELS) in (None, ""):
            return None
        return raster_file(alg.parameterAsRasterLayer(parameters, self.LABELS, context), self.LABELS)

    def pattern(self, alg: HLSAlgorithm, parameters, context) -> Optional[str]:
        """The label file pattern, or None when none is given."""
        return alg.parameterAsString(parameters, self.LABEL_PATTERN, context).strip() or None

    def seed(self, alg: HLSAlgorithm, parameters, context) -> int:
        return alg.parameterAsInt(parameters, self.SEED, context)

    def check(self, md, model_name: str, given: bool, name: str) -> None:
        """:class:`ConfigError` naming the parameter ``name`` when a label-map model gets no labels or another
        model gets some (``given``)."""
        if md.kind == "label_map" and not given:
            raise ConfigError(f"{name}: {model_name} is a label-map model ({md.family}); give the categorical "
                              "layer it synthesizes from (classes "
                              f"{', '.join(f'{c.value}={c.name}' for c in md.label_classes)})")
        if md.kind != "label_map" and given:
            raise ConfigError(f"{name}: {model_name} is a {md.kind.replace('_', ' ')} model; it takes no label "
                              "layer (leave it empty)")


@dataclass(frozen=True)
class ResamplingChoice:
    """A RESAMPLING enum parameter: first "none" (refuse rasters on different grids), then the library's
    resampling methods; ``default`` names the default option."""

    default: str = "none"

    @property
    def names(self) -> Tuple[str, ...]:
        return ("none",) + tuple(RESAMPLING_METHODS)

    def parameter(self, name: str, description: str, none_label: str):
        """The parameter; ``none_label``: what the dialog shows for "none"."""
        return enum_parameter(name, description, (Choice("none", none_label),) + named(RESAMPLING_METHODS),
                              self.default)

    def value(self, alg: HLSAlgorithm, parameters, name: str, context) -> Optional[str]:
        """The method chosen, or None for "none"."""
        method = chosen(self.names, alg.parameterAsEnum(parameters, name, context))[0]
        return None if method == "none" else method
