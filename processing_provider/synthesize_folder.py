"""``hls_translate:synthesize_folder``: synthesize bands for every granule of a folder (or a list of files).

A thin adapter over the library's batch (``core.batch``), run in QGIS's process one scene after the
other (no Dask): the same scene discovery, checks before any work, output names, manifest, resuming and
failure isolation as ``hls-translate batch --scheduler none``, so the same inputs and options give the
same files.  Progress runs over the scenes (and the tiles of the current one); cancelling stops between
scenes or between tiles, and every scene finished by then stays finished.  Results can be loaded as one
layer group per target.  The model, targets, resampling, sensor and output parameters are copies of
*Synthesize HLS band*'s (:func:`shared_parameters`), so both ask for them the same way.  A label-map model
(SPADE) reads each scene's label raster from LABEL_PATTERN (``{granule}_SCL.tif``, as ``batch --labels``)
and takes SEED, both declared once (:class:`~.parameters.LabelParameters`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import List

from qgis.core import (QgsProcessing, QgsProcessingOutputFile, QgsProcessingOutputFolder, QgsProcessingOutputNumber,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterMultipleLayers, QgsProject)

from ..core.batch import BatchRequest, SequentialExecutor, plan_batch, run_batch
from ..core.batch_inputs import discover_scenes
from ..core.errors import ConfigError
from ..core.manifest import DONE, FAILED, INVALID, Manifest
from ..core.output_naming import BAND_NAME_CONVENTION, describe_convention, synthesized_name
from .algorithm import HLSAlgorithm
from .choices import chosen
from .common import read_model, tr
from .parameters import LabelParameters
from .results import ResultInfo, ResultStyle, load_on_completion
from .synthesize_band import PREDICT_PARAMETERS, RESAMPLING, SENSOR_CHOICES, SynthesizeBand


class IntoTargetGroup(ResultStyle):
    """Styles a result layer QGIS loaded (as :class:`~.results.ResultStyle` does) and moves it into the
    layer group of its target (made at the top of the layer tree when missing)."""

    def __init__(self, group: str, info: ResultInfo):
        super().__init__(info)
        self.group = group

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        super().postProcessLayer(layer, context, feedback)
        project = context.project() or QgsProject.instance()
        root = project.layerTreeRoot()
        node = root.findLayer(layer.id())
        if node is None:
            return
        group = root.findGroup(self.group) or root.insertGroup(0, self.group)
        if node.parent() is not group:
            group.addChildNode(node.clone())
            node.parent().removeChildNode(node)


def shared_parameters(*names: str) -> list:
    """Copies of *Synthesize HLS band*'s parameters ``names`` (label, default, help, flags, options)."""
    donor = SynthesizeBand()
    donor.initAlgorithm()
    return [donor.parameterDefinition(n).clone() for n in names]


#: the post-processors handed to QGIS, kept referenced so that their Python side lives as long as QGIS's
#: (the processing context deletes them; deleted ones are dropped on the next run)
_KEEP_ALIVE: List[IntoTargetGroup] = []


class SynthesizeFolder(HLSAlgorithm):
    NAME = "synthesize_folder"
    TAGS = ("hls", "batch", "folder", "time series", "granules", "stac", "band synthesis", "red edge", "cirrus", "onnx")
    NEEDS_ONNXRUNTIME = True

    INPUT, INPUT_FILES, OUTPUT_FOLDER = "INPUT", "INPUT_FILES", "OUTPUT_FOLDER"
    OVERWRITE, SKIP_INVALID, LOAD_RESULTS = "OVERWRITE", "SKIP_INVALID", "LOAD_RESULTS"
    # asked for as *Synthesize HLS band* asks for them (see shared_parameters)
    MODEL, TARGET_BANDS = SynthesizeBand.MODEL, SynthesizeBand.TARGET_BANDS
    RESAMPLING, SENSOR = SynthesizeBand.RESAMPLING, SynthesizeBand.SENSOR
    P = PREDICT_PARAMETERS
    L = LabelParameters()

    def displayName(self):  # noqa: N802
        return tr("Synthesize bands for a folder of granules")

    def shortDescription(self):  # noqa: N802
        return tr("Synthesizes bands for every scene of a folder of granules (or of band / STAC files), "
                  "resumable, one file per scene and band.")

    def summary(self):
        return tr("Synthesizes band(s) for every scene of a folder of HLS granules (searched recursively; HLS, "
                  "Sentinel-2 and Landsat file names are grouped into scenes) or of a list of files (band files, "
                  "or STAC ItemCollection JSON files of local files), with an exported hls_translate model. Every "
                  "scene is checked before any work; one file per scene and target is written to the output "
                  "folder, named after the granule and the band (HLS.L30.T10SEG.2020273T184741.v2.0.B05.synth.tif; "
                  "band codes in the HLS S30 numbering for every scene), with a run manifest "
                  "(batch_manifest.jsonl). Running it again skips the scenes that are complete and redoes failed "
                  "or missing ones. A scene that fails is recorded with its error and the others go on. "
                  "Cancelling stops between scenes or tiles; finished scenes stay finished. A label-map model "
                  "(SPADE) synthesizes each scene from its label raster, found with the label file pattern "
                  "(e.g. {granule}_SCL.tif).")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterFile(self.INPUT, tr("Folder of granules"),
                                            behavior=QgsProcessingParameterFile.Folder, optional=True),
                 tr("A folder holding the scenes: HLS granule folders, or the band files of many granules side by "
                    "side, searched recursively. Leave empty to give a list of files instead."))
        self.add(QgsProcessingParameterMultipleLayers(self.INPUT_FILES, tr("Or: band files / STAC JSON files"),
                                                      QgsProcessing.TypeFile, optional=True),
                 tr("Band files (grouped into scenes by their names) or STAC ItemCollection / Item / Catalog JSON "
                    "files whose assets are local files; used with or instead of the folder."))
        model, targets, resampling, sensor, dtype, driver, options = shared_parameters(
            self.MODEL, self.TARGET_BANDS, self.RESAMPLING, self.SENSOR, self.P.DATA_TYPE, self.P.FORMAT,
            self.P.CREATION_OPTIONS)
        self.addParameter(model)
        self.addParameter(targets)
        self.L.add_pattern(self)
        self.add(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, tr("Output folder")),
                 tr("Where the synthesized bands and the run manifest are written. ") + describe_convention() + ".")
        self.add(QgsProcessingParameterBoolean(self.SKIP_INVALID, tr("Go on without scenes that fail the checks"),
                                               defaultValue=False),
                 tr("Every scene is checked before any work (bands found, one grid, the model can make the bands). "
                    "Off: any problem stops the run before it starts, listing them. On: those scenes are recorded "
                    "as invalid in the manifest and the others are run."))
        self.add(QgsProcessingParameterBoolean(self.OVERWRITE, tr("Redo complete scenes"), defaultValue=False),
                 tr("Off: scenes the manifest shows complete (outputs still there, same model and options) are "
                    "skipped. On: every scene is run again."))
        self.add(QgsProcessingParameterBoolean(self.LOAD_RESULTS, tr("Load the results, one group per band"),
                                               defaultValue=True),
                 tr("Load every scene's synthesized band(s) when the run ends, in one layer group per band."))
        self.P.add_tiling(self)
        for param in (dtype, driver, options, resampling, sensor):
            self.addParameter(param)
        self.P.add_execution(self)
        for name, kind, description in (
                ("MANIFEST", QgsProcessingOutputFile, tr("Run manifest (JSON lines, one record per scene)")),
                (self.OUTPUT_FOLDER, QgsProcessingOutputFolder, tr("Output folder")),
                ("OUTPUT_FILES", QgsProcessingOutputString, tr("Files of every complete scene, separated by ';'")),
                ("SCENES_DONE", QgsProcessingOutputNumber, tr("Scenes done by this run")),
                ("SCENES_SKIPPED", QgsProcessingOutputNumber, tr("Scenes skipped: complete before")),
                ("SCENES_FAILED", QgsProcessingOutputNumber, tr("Scenes that failed")),
                ("SCENES_INVALID", QgsProcessingOutputNumber, tr("Scenes refused by the checks"))):
            self.addOutput(kind(name, description))

    def process(self, parameters, context, run):
        inputs = [p for p in [self.parameterAsFile(parameters, self.INPUT, context)] if p]
        inputs += [p for p in self.parameterAsFileList(parameters, self.INPUT_FILES, context) if p]
        if not inputs:
            raise ConfigError(f"{self.INPUT}: choose a folder of granules, or files in {self.INPUT_FILES}")
        model = read_model(self.parameterAsFile(parameters, self.MODEL, context))
        run.log(model.describe())
        labels = self.L.pattern(self, parameters, context)
        self.L.check(model.metadata, model.name, labels is not None, self.L.LABEL_PATTERN)
        keys = SynthesizeBand.targets(self, parameters, context)
        out_dir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        sensor = chosen(SENSOR_CHOICES, self.parameterAsEnum(parameters, self.SENSOR, context))[0]
        options = dataclasses.replace(self.P.options(self, parameters, context),
                                      seed=self.L.seed(self, parameters, context))
        request = BatchRequest(model.path, tuple(keys), out_dir, options,
                               self.P.storage(self, parameters, context), sensor=None if sensor == "auto" else sensor,
                               resampling=RESAMPLING.value(self, parameters, self.RESAMPLING, context),
                               overwrite=self.parameterAsBoolean(parameters, self.OVERWRITE, context), labels=labels)
        run.step("finding and checking the scenes")
        scenes, warnings = discover_scenes(inputs, exclude=[out_dir])
        for w in warnings:
            run.warn(w)
        if not scenes:
            raise ConfigError(f"no scene found in {', '.join(inputs)}")
        executor = SequentialExecutor()
        plan = plan_batch(request, scenes, executor, log=run.log)
        run.log(f"{len(scenes)} scene(s): {len(plan.todo)} to run, {len(plan.complete)} complete and skipped, "
                f"{len(plan.problems)} refused by the checks; {describe_convention()}")
        for r in plan.problems:
            run.warn(f"refused: {r.scene}: {r.error}")
        if plan.problems and not self.parameterAsBoolean(parameters, self.SKIP_INVALID, context):
            raise ConfigError(f"{len(plan.problems)} scene(s) failed the checks (listed above), nothing was run; "
                              f"fix them, or tick '{self.parameterDefinition(self.SKIP_INVALID).description()}'")
        run.step(f"synthesizing {', '.join(t.key for t in plan.targets)} for {len(plan.todo)} scene(s)", until=1.0)

        def progress(fraction: float, text: str) -> None:
            run.progress(fraction)
            run.feedback.setProgressText(text)

        summary = run_batch(plan, executor, progress=progress, log=run.log, is_cancelled=run.is_cancelled)
        for r in summary.of(FAILED):
            run.feedback.reportError(f"{r.scene} failed: {r.error}", False)
        for line in summary.table():
            run.log(line)
        complete = [r for r in summary.records + plan.complete if r.status == DONE]
        if self.parameterAsBoolean(parameters, self.LOAD_RESULTS, context):
            self.load_grouped(context, complete, model.name)
        files: List[str] = [o.path for r in complete for o in r.outputs]
        return {
            "MANIFEST": Manifest(out_dir).path, self.OUTPUT_FOLDER: out_dir, "OUTPUT_FILES": ";".join(files),
            "SCENES_DONE": len(summary.of(DONE)), "SCENES_SKIPPED": len(plan.complete),
            "SCENES_FAILED": len(summary.of(FAILED)), "SCENES_INVALID": len(summary.of(INVALID)),
        }

    @staticmethod
    def load_grouped(context, records, model_name: str) -> None:
        """Have QGIS load every output when the run ends, named by its scene, in its target's group (one
        post-processor per layer: the context deletes them)."""
        from qgis.PyQt import sip

        _KEEP_ALIVE[:] = [p for p in _KEEP_ALIVE if not sip.isdeleted(p)]
        for r in sorted(records, key=lambda r: r.scene):
            for o in r.outputs:
                group = synthesized_name(o.target, BAND_NAME_CONVENTION)
                info = ResultInfo(title=f"{r.scene}: {group}", abstract=(
                    f"{group} of scene {r.scene}, synthesized by hls_translate with the model {model_name} "
                    f"(batch run {r.run_id}; its record is in {Manifest(os.path.dirname(o.path)).path})."),
                    keywords=("synthesized", o.target, model_name))
                load_on_completion(context, o.path, r.scene, "")
                processor = IntoTargetGroup(group, info)
                _KEEP_ALIVE.append(processor)
                context.layerToLoadOnCompletionDetails(o.path).setPostProcessor(processor)

