"""Parameters several algorithms share, declared once: the tiling and execution parameters of the
algorithms that run a model (mapped to ``PredictOptions`` in one place) and the resampling choice.
Enum options are the library's lists (``core.tiling.BLEND_MODES``, ``core.runtime.DEVICES``, ...),
never spelled out here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence, Tuple

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterEnum, QgsProcessingParameterNumber

from ..core.engine import DRIVERS, DTYPES, PredictOptions
from ..core.scene import RESAMPLING_METHODS
from ..core.runtime import DEVICES
from ..core.tiling import BLEND_MODES
from .common import HLSAlgorithm

#: the engine's defaults, which the parameters below default to
DEFAULT_OPTIONS = PredictOptions()


@dataclass(frozen=True)
class PredictParameters:
    """The tiling and execution parameters of the algorithms that run a model, declared (name, label,
    default, help) and mapped to :class:`~..core.engine.PredictOptions` once.  Every algorithm gets
    TILE_SIZE, OVERLAP, BLEND, BATCH_SIZE, DEVICE and THREADS; the flags add GAP_FILL, MASK_QA and the
    output type (DATA_TYPE, FORMAT).  :meth:`add_tiling` and :meth:`add_execution` declare them where the
    algorithm wants them in its dialog; the enum options are the library's lists."""

    gap_fill: bool = False
    mask_qa: bool = False
    output_type: bool = False

    TILE_SIZE: ClassVar[str] = "TILE_SIZE"
    OVERLAP: ClassVar[str] = "OVERLAP"
    BLEND: ClassVar[str] = "BLEND"
    BATCH_SIZE: ClassVar[str] = "BATCH_SIZE"
    GAP_FILL: ClassVar[str] = "GAP_FILL"
    MASK_QA: ClassVar[str] = "MASK_QA"
    DEVICE: ClassVar[str] = "DEVICE"
    THREADS: ClassVar[str] = "THREADS"
    DATA_TYPE: ClassVar[str] = "DATA_TYPE"
    FORMAT: ClassVar[str] = "FORMAT"

    def add_tiling(self, alg: HLSAlgorithm) -> None:
        """TILE_SIZE, OVERLAP, BLEND, BATCH_SIZE (and GAP_FILL)."""
        alg.add(QgsProcessingParameterNumber(self.TILE_SIZE, "Tile size (pixels; 0 = the model's recommendation)",
                                             QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
                "Edge of the square tiles the model sees; a multiple of the model's stride. Larger tiles use more "
                "memory and see more context.")
        alg.add(QgsProcessingParameterNumber(self.OVERLAP, "Tile overlap (pixels; -1 = the model's recommendation)",
                                             QgsProcessingParameterNumber.Integer, defaultValue=-1, minValue=-1),
                "Pixels shared by neighbouring tiles and blended, which hides tile seams; smaller than the tile.")
        alg.add(_enum(self.BLEND, "Blending of overlapping tiles", BLEND_MODES, DEFAULT_OPTIONS.blend),
                "cosine: smooth ramps across the overlap (default); gaussian: weight falling off from each tile's "
                "centre; mean: plain average; crop: each pixel from the nearest tile centre only.")
        alg.add(QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size (tiles per model run)",
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=DEFAULT_OPTIONS.batch_size, minValue=1),
                "Tiles sent to the model at once; more is faster on a GPU and uses more memory. Progress and "
                "cancellation are checked between batches.")
        if self.gap_fill:
            alg.add(QgsProcessingParameterBoolean(self.GAP_FILL, "Gap-fill: keep the band's real pixels",
                                                  defaultValue=DEFAULT_OPTIONS.gap_fill),
                    "When the target band is among the inputs, keep its valid pixels and synthesize only its nodata "
                    "pixels (stripes, missing tiles). Off: the whole band is synthesized.")

    def add_execution(self, alg: HLSAlgorithm) -> None:
        """The advanced ones: (MASK_QA,) DEVICE, THREADS (, DATA_TYPE, FORMAT)."""
        if self.mask_qa:
            alg.add(QgsProcessingParameterBoolean(self.MASK_QA, "Mask pixels flagged by the QA layer",
                                                  defaultValue=DEFAULT_OPTIONS.mask_qa),
                    "With an HLS Fmask or Sentinel-2 SCL layer among the inputs: treat cloud/shadow/... pixels it "
                    "flags as nodata in the inputs (the output is nodata there).", advanced=True)
        alg.add(_enum(self.DEVICE, "Device", DEVICES, DEFAULT_OPTIONS.device),
                "auto: an NVIDIA GPU when onnxruntime-gpu can use one, else the CPU; cpu; cuda (fails clearly "
                "when CUDA is not usable).", advanced=True)
        alg.add(QgsProcessingParameterNumber(self.THREADS, "CPU threads (0 = ONNX Runtime's default)",
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=DEFAULT_OPTIONS.threads, minValue=0),
                "Threads ONNX Runtime uses on the CPU.", advanced=True)
        if self.output_type:
            alg.add(_enum(self.DATA_TYPE, "Output data type", DTYPES, DEFAULT_OPTIONS.dtype),
                    "float32: physical values (reflectance), nodata -9999; int16: scaled like HLS (reflectance x "
                    "10000, nodata -9999) with the scale written into the file.", advanced=True)
            alg.add(_enum(self.FORMAT, "Output format", DRIVERS, DEFAULT_OPTIONS.driver),
                    "GTiff: tiled, compressed GeoTIFF with overviews; COG: Cloud-Optimized GeoTIFF.", advanced=True)

    def options(self, alg: HLSAlgorithm, parameters, context) -> PredictOptions:
        """The parameters' values as the engine's options (the engine's defaults for those not declared)."""
        tile = alg.parameterAsInt(parameters, self.TILE_SIZE, context)
        overlap = alg.parameterAsInt(parameters, self.OVERLAP, context)
        chosen = dict(
            tile_size=tile if tile > 0 else None,
            overlap=overlap if overlap >= 0 else None,
            blend=BLEND_MODES[alg.parameterAsEnum(parameters, self.BLEND, context)],
            batch_size=alg.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=DEVICES[alg.parameterAsEnum(parameters, self.DEVICE, context)],
            threads=alg.parameterAsInt(parameters, self.THREADS, context))
        if self.gap_fill:
            chosen["gap_fill"] = alg.parameterAsBoolean(parameters, self.GAP_FILL, context)
        if self.mask_qa:
            chosen["mask_qa"] = alg.parameterAsBoolean(parameters, self.MASK_QA, context)
        if self.output_type:
            chosen["dtype"] = DTYPES[alg.parameterAsEnum(parameters, self.DATA_TYPE, context)]
            chosen["driver"] = DRIVERS[alg.parameterAsEnum(parameters, self.FORMAT, context)]
        return PredictOptions(**chosen)


@dataclass(frozen=True)
class ResamplingChoice:
    """A RESAMPLING enum parameter: first "none" (labelled ``none_label``: refuse rasters on different
    grids), then the library's resampling methods."""

    none_label: str

    @property
    def options(self) -> Tuple[str, ...]:
        return (self.none_label,) + tuple(RESAMPLING_METHODS)

    def parameter(self, name: str, description: str) -> QgsProcessingParameterEnum:
        return QgsProcessingParameterEnum(name, description, options=list(self.options), defaultValue=0)

    def value(self, alg: HLSAlgorithm, parameters, name: str, context) -> Optional[str]:
        """The method chosen, or None for "none"."""
        index = alg.parameterAsEnum(parameters, name, context)
        return RESAMPLING_METHODS[index - 1] if index > 0 else None


def _enum(name: str, description: str, values: Sequence[str], default: str) -> QgsProcessingParameterEnum:
    """An enum parameter over a library list, defaulting to ``default``."""
    return QgsProcessingParameterEnum(name, description, options=list(values), defaultValue=list(values).index(default))
