"""``hls_translate:model_info``: an exported model's embedded metadata, as a readable report (log and an
HTML page for the results viewer) and as outputs for scripts."""

from __future__ import annotations

from qgis.core import (QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination)

from ..core.errors import ConfigError
from ..core.fileio import atomic_write_text, check_outputs_are_not_inputs, writable_output_path
from ..core.model_report import model_report, model_title, report_html, report_text
from .algorithm import HLSAlgorithm
from .common import MODEL_FILTER, keys_of, read_model, tr


class ModelInfoAlgorithm(HLSAlgorithm):
    """The ``model_info`` algorithm (not to be confused with ``training.evaluate.EvaluatedModel``, what an
    evaluated model reads and writes)."""

    NAME = "model_info"
    GROUP_ID = "models"
    TAGS = ("onnx", "model", "metadata")

    MODEL = "MODEL"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_HTML = "OUTPUT_HTML"

    def displayName(self):  # noqa: N802
        return tr("Model information")

    def shortDescription(self):  # noqa: N802
        return tr("What an exported hls_translate model reads and synthesizes, how it tiles, what it was trained "
                  "on and how well it did.")

    def summary(self):
        return tr("Reads the metadata embedded in an exported hls_translate ONNX model without running it: family, "
                  "the bands it reads and synthesizes (with their Sentinel-2 and Landsat codes), units, tiling "
                  "hints, training scenes and validation scores per band. The report is logged and shown as an "
                  "HTML page; every value is also an output, so batch scripts (qgis_process --json) can read them.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterFile(
            self.MODEL, tr("Model file (.onnx; empty: the bundled model)"), fileFilter=MODEL_FILTER, optional=True),
            tr("An exported model (hls-translate export). Empty: the model bundled with the plugin."))
        self.add(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, tr("Report (HTML)"), fileFilter="HTML files (*.html)", optional=True,
            createByDefault=True),
            tr("The readable report as an HTML page (opened in the results viewer)."))
        self.add(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, tr("Metadata as JSON"), fileFilter="JSON files (*.json)", optional=True,
            createByDefault=False),
            tr("Optional: write the full metadata document to this JSON file."))
        for key, desc, cls in (
                ("FAMILY", tr("Model family"), QgsProcessingOutputString),
                ("ARCHITECTURE", tr("Architecture"), QgsProcessingOutputString),
                ("MODEL_VERSION", tr("Model version"), QgsProcessingOutputString),
                ("CONDITIONAL", tr("1 if the target band is chosen at inference, else 0"), QgsProcessingOutputNumber),
                ("SOURCE_BANDS", tr("Band classes the model reads (comma-separated keys)"), QgsProcessingOutputString),
                ("TARGET_BANDS", tr("Band classes the model synthesizes (comma-separated keys)"), QgsProcessingOutputString),
                ("UNITS", tr("Units of the values the model reads and writes"), QgsProcessingOutputString),
                ("NODATA", tr("Nodata value of rasters written with this model"), QgsProcessingOutputNumber),
                ("TILE_SIZE", tr("Recommended tile size (pixels)"), QgsProcessingOutputNumber),
                ("OVERLAP", tr("Recommended tile overlap (pixels)"), QgsProcessingOutputNumber),
                ("STRIDE", tr("Tile sizes must be multiples of this"), QgsProcessingOutputNumber),
                ("RECEPTIVE_FIELD", tr("Receptive field (pixels)"), QgsProcessingOutputNumber),
                ("SUMMARY", tr("Human-readable summary"), QgsProcessingOutputString),
                ("METADATA_JSON", tr("The whole metadata document (JSON text)"), QgsProcessingOutputString),
                ("OUTPUT_JSON", tr("The JSON file written (empty if none)"), QgsProcessingOutputString)):
            if key != self.OUTPUT_JSON:
                self.addOutput(cls(key, desc))

    def process(self, parameters, context, run):
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        md = model.metadata
        sections = model_report(md, model.path)
        summary = report_text(sections)
        for line in summary.splitlines():
            run.log(line)
        doc = md.to_json()
        out_json = self._destination(parameters, self.OUTPUT_JSON, context)
        out_html_path = self._destination(parameters, self.OUTPUT_HTML, context)
        for out in (out_json, out_html_path):  # every output checked, against the model too, before writing any
            if out:
                writable_output_path(out, ConfigError)
        check_outputs_are_not_inputs([p for p in (out_json, out_html_path) if p], {model.path: "the model"}, ConfigError)
        if out_json:
            atomic_write_text(writable_output_path(out_json, ConfigError), doc)
            run.log(f"metadata written to {out_json}")
        out_html = self._destination(parameters, self.OUTPUT_HTML, context)
        if out_html:
            atomic_write_text(writable_output_path(out_html, ConfigError), report_html(sections, model_title(model.path)))
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
            self.OUTPUT_HTML: str(out_html),
        }

    def _destination(self, parameters, name, context) -> str:
        """The file a destination parameter names, "" when it is left empty (nothing to write)."""
        if parameters.get(name) in (None, ""):
            return ""
        return self.parameterAsFileOutput(parameters, name, context)

