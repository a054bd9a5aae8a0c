"""``hls_translate:model_info``: an exported model's embedded metadata, as text and as outputs."""

from __future__ import annotations

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination)

from ..core.errors import ConfigError
from ..core.fileio import atomic_write_text, writable_output_path
from .common import MODEL_FILTER, HLSAlgorithm, default_model_path, keys_of, read_model


class ModelInfoAlgorithm(HLSAlgorithm):
    """The ``model_info`` algorithm (not to be confused with ``training.evaluate.EvaluatedModel``, what an
    evaluated model reads and writes)."""

    NAME = "model_info"
    DISPLAY_NAME = "Model information"
    GROUP = "Models"
    GROUP_ID = "models"
    SUMMARY = ("Reads the metadata embedded in an exported hls_translate ONNX model (family, bands it reads and "
               "synthesizes, units, tiling hints, training summary, validation metrics) without running it. "
               "The values are returned as outputs, so batch scripts (qgis_process --json) can read them.")
    TAGS = ("onnx", "model", "metadata")

    MODEL = "MODEL"
    OUTPUT_JSON = "OUTPUT_JSON"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterFile(
            self.MODEL, "Model file (.onnx)", fileFilter=MODEL_FILTER, defaultValue=default_model_path() or None,
            optional=True),
            "An exported model (`hls-translate export`). Empty: the model bundled with the plugin.")
        self.add(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, "Metadata as JSON", fileFilter="JSON files (*.json)", optional=True,
            createByDefault=False),
            "Optional: write the full metadata document to this JSON file.")
        for key, desc, cls in (
                ("FAMILY", "Model family", QgsProcessingOutputString),
                ("ARCHITECTURE", "Architecture", QgsProcessingOutputString),
                ("MODEL_VERSION", "Model version", QgsProcessingOutputString),
                ("CONDITIONAL", "1 if the target band is chosen at inference, else 0", QgsProcessingOutputNumber),
                ("SOURCE_BANDS", "Band classes the model reads (comma-separated keys)", QgsProcessingOutputString),
                ("TARGET_BANDS", "Band classes the model synthesizes (comma-separated keys)", QgsProcessingOutputString),
                ("UNITS", "Units of the values the model reads and writes", QgsProcessingOutputString),
                ("NODATA", "Nodata value of rasters written with this model", QgsProcessingOutputNumber),
                ("TILE_SIZE", "Recommended tile size (pixels)", QgsProcessingOutputNumber),
                ("OVERLAP", "Recommended tile overlap (pixels)", QgsProcessingOutputNumber),
                ("STRIDE", "Tile sizes must be multiples of this", QgsProcessingOutputNumber),
                ("RECEPTIVE_FIELD", "Receptive field (pixels)", QgsProcessingOutputNumber),
                ("SUMMARY", "Human-readable summary", QgsProcessingOutputString),
                ("METADATA_JSON", "The whole metadata document (JSON text)", QgsProcessingOutputString),
                ("OUTPUT_JSON", "The JSON file written (empty if none)", QgsProcessingOutputString)):
            if key != self.OUTPUT_JSON:
                self.addOutput(cls(key, desc))

    def process(self, parameters, context, run):
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        md = model.metadata
        summary = f"model file:    {model.path}\n" + md.summary()
        for line in summary.splitlines():
            run.log(line)
        doc = md.to_json()
        out_json = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context) if (
            parameters.get(self.OUTPUT_JSON) not in (None, "")) else ""
        if out_json:
            atomic_write_text(writable_output_path(out_json, ConfigError), doc)
            run.log(f"metadata written to {out_json}")
        tiling = md.tiling
        return {
            "FAMILY": md.family,
            "ARCHITECTURE": md.architecture,
            "MODEL_VERSION": md.model_version,
            "CONDITIONAL": int(bool(md.conditional)),
            "SOURCE_BANDS": keys_of(md.source_bands).replace(" ", ""),
            "TARGET_BANDS": keys_of(md.target_bands).replace(" ", ""),
            "UNITS": md.units,
            "NODATA": float(md.nodata),
            "TILE_SIZE": int(tiling.tile_size),
            "OVERLAP": int(tiling.overlap),
            "STRIDE": int(tiling.stride),
            "RECEPTIVE_FIELD": int(tiling.receptive_field),
            "SUMMARY": summary,
            "METADATA_JSON": doc,
            self.OUTPUT_JSON: str(out_json),
        }

