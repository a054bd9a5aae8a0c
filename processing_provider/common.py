"""What the algorithms share besides their base class (``algorithm.py``) and shared parameters
(``parameters.py``): layer -> file adapters, band mappings, the bundled model, a run's steps and the
prediction steps.

The algorithms are thin adapters: QGIS layers become file paths, the library (``core``) does the work.
Inside an algorithm every problem is a :class:`~..core.errors.HLSTranslateError` (whose message names
the band, file or parameter at fault); ``HLSAlgorithm.processAlgorithm`` is the one place that turns
them into ``QgsProcessingException``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence

from qgis.core import (QgsMapLayer, QgsProcessingException, QgsProcessingFeedback,
                       QgsProviderRegistry, QgsRasterLayer)

from ..core import bands
from ..core.delivery import StorageOptions, predict_stored
from ..core.engine import PredictOptions, PredictPlan, PredictResult, plan
from ..core.errors import CancelledError, ConfigError, ModelError
from ..core.gdal_cache import bounded_gdal_cache
from ..core.metadata import ModelMetadata, read_metadata
from ..core.scene import Scene
from ..qgis_plugin.translation import tr  # noqa: F401 - the algorithms' tr

PROVIDER_ID = "hls_translate"
PLUGIN_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_PATH = os.path.join(PLUGIN_ROOT, "resources", "icons", "icon.svg")
#: The model shipped with the plugin (trained by the project; see docs/qgis.md).
BUNDLED_MODEL = os.path.join(PLUGIN_ROOT, "resources", "models", "hls_translate_default.onnx")
#: Environment variable that makes an empty MODEL parameter mean another file (a site-wide model).
MODEL_ENV = "HLS_TRANSLATE_MODEL"
#: File filter of MODEL parameters: *.onnx first; other names are let through so that a wrong file gets
#: a message saying what is wrong with it rather than QGIS's bare "Incorrect parameter value".
MODEL_FILTER = "ONNX models (*.onnx);;All files (*)"




def default_model_path() -> str:
    """The model an empty MODEL parameter means: ``$HLS_TRANSLATE_MODEL`` if set, else the bundled one;
    "" when neither exists (the algorithm then asks for a model file).  MODEL parameters default to
    empty, so that saved models, batch files and History stay portable (no path into a profile)."""
    env = os.environ.get(MODEL_ENV, "").strip()
    if env:
        return env
    return BUNDLED_MODEL if os.path.isfile(BUNDLED_MODEL) else ""


def model_path(value: str) -> str:
    """The model file to use for a MODEL parameter value, or a clear error."""
    path = (value or "").strip() or default_model_path()
    if not path:
        raise ModelError(
            f"no model given and the bundled model is missing ({BUNDLED_MODEL}); choose an exported .onnx "
            "model file (made with `hls-translate export`) for the MODEL parameter")
    if not os.path.isfile(path):
        raise ModelError(f"model file not found: {path}")
    return os.path.abspath(path)


@dataclass(frozen=True)
class ModelFile:
    """The model a run uses: its file and the metadata embedded in it."""

    path: str
    metadata: ModelMetadata

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def describe(self) -> str:
        md = self.metadata
        kind = "conditional" if md.conditional else "fixed bands"
        return f"model: {self.path} ({md.family}/{md.architecture}, {kind}, version {md.model_version})"


def read_model(value: str) -> ModelFile:
    """The model of a MODEL parameter value (see :func:`model_path`) with its metadata."""
    path = model_path(value)
    return ModelFile(path, read_metadata(path))


def require_onnxruntime() -> None:
    """Refuse to start a model run when ONNX Runtime cannot be imported, saying how to install it
    (called at the boundary, by :meth:`HLSAlgorithm.processAlgorithm`)."""
    try:
        import onnxruntime  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError or a broken install
        from ..qgis_plugin.deps import install_hint

        raise QgsProcessingException(f"{install_hint(['onnxruntime'])}\n(import error: {exc})") from None


# --- layers ------------------------------------------------------------------------------------------
def raster_file(layer: Optional[QgsMapLayer], parameter: str) -> str:
    """The file behind a raster layer; refuses vector layers, web/database rasters and missing files."""
    if layer is None:
        raise ConfigError(f"{parameter}: no layer given (or the layer could not be loaded)")
    if not isinstance(layer, QgsRasterLayer) or layer.type() != QgsMapLayer.RasterLayer:
        raise ConfigError(
            f"{parameter}: layer '{layer.name()}' is not a raster layer (it is a {_layer_kind(layer)} layer); "
            "choose the raster band files")
    if not layer.isValid():
        raise ConfigError(f"{parameter}: raster layer '{layer.name()}' is not valid ({layer.source()})")
    if layer.providerType() != "gdal":
        raise ConfigError(
            f"{parameter}: raster layer '{layer.name()}' comes from the '{layer.providerType()}' data provider "
            "(web service, database or memory), not from a file; save it as a GeoTIFF first "
            "(Raster > Conversion > Translate) and use that file")
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = str(parts.get("path") or layer.source())
    if parts.get("layerName"):
        raise ConfigError(
            f"{parameter}: raster layer '{layer.name()}' is one table of {path}; export it to a GeoTIFF first")
    if parts.get("vsiPrefix"):
        path = f"{parts['vsiPrefix']}{path}{parts.get('vsiSuffix') or ''}"
    elif not os.path.isfile(path):
        raise ConfigError(
            f"{parameter}: raster layer '{layer.name()}' is not backed by a file on disk ({layer.source()}); "
            "save it as a GeoTIFF first")
    return path


def _layer_kind(layer: QgsMapLayer) -> str:
    return {QgsMapLayer.VectorLayer: "vector", QgsMapLayer.RasterLayer: "raster",
            QgsMapLayer.PluginLayer: "plugin", QgsMapLayer.MeshLayer: "mesh"}.get(layer.type(), "non-raster")


# --- band mapping ------------------------------------------------------------------------------------
_MAP_SPLIT = re.compile(r"[;,\n]+")


def parse_band_mapping(text: str, paths: Sequence[str], layer_names: Sequence[str]) -> Dict:
    """Parse a BAND_MAPPING value into ``open_scene``'s ``band_map``.

    Entries ``KEY=BAND`` are separated by ``;``, ``,`` or new lines.  With one multi-band input, KEY is a
    band number (``1=B04; 2=B03``); with several inputs KEY is a layer name, a file name or a file path
    (``crop_B10.tif=cirrus``).  BAND is any band name the catalogue knows (``B8A``, ``S30:B10``, ``cirrus``).
    """
    text = (text or "").strip()
    if not text:
        return {}
    single = len(paths) == 1
    by_name: Dict[str, str] = {}
    for p, n in zip(paths, layer_names):
        by_name[n] = p
        by_name[os.path.basename(p)] = p
        by_name[os.path.splitext(os.path.basename(p))[0]] = p
        by_name[p] = p
    out: Dict = {}
    for entry in _MAP_SPLIT.split(text):
        entry = entry.strip()
        if not entry:
            continue
        if "=" not in entry:
            raise ConfigError(
                f"BAND_MAPPING: entry {entry!r} is not KEY=BAND (e.g. '1=B04' for band 1 of a multi-band layer, "
                "or 'myfile_B10.tif=cirrus' for a single-band layer)")
        key, band = (s.strip() for s in entry.split("=", 1))
        if not band:
            raise ConfigError(f"BAND_MAPPING: entry {entry!r} names no band")
        if single and key.isdigit():
            out[int(key)] = band
        elif key in by_name:
            out[by_name[key] if not single else ""] = band
        elif single:
            raise ConfigError(
                f"BAND_MAPPING: {key!r} is neither a band number of {os.path.basename(paths[0])} nor its name")
        else:
            raise ConfigError(
                f"BAND_MAPPING: {key!r} matches no input layer; use a layer name or file name: "
                + ", ".join(os.path.basename(p) for p in paths))
    return out


# --- naming ------------------------------------------------------------------------------------------
def keys_of(class_ids: Iterable[int]) -> str:
    return ", ".join(bands.band_class(i).key for i in class_ids)


# --- one run of an algorithm -------------------------------------------------------------------------
class Run:
    """One execution of an algorithm, made by :meth:`HLSAlgorithm.processAlgorithm` and handed to
    ``process``: the callbacks the library takes (``progress(fraction)``, ``is_cancelled()``,
    ``log(message)``) bound to QGIS's feedback, and the run's steps.

    :meth:`step` starts the next step: it stops a cancelled run (:class:`CancelledError`), logs what
    the step does and gives it the part of the progress bar up to ``until`` (a fraction of the whole
    run; steps too short to show take none).  ``progress(fraction)`` is then a fraction of that step.
    """

    def __init__(self, feedback: Optional[QgsProcessingFeedback]):
        self.feedback = feedback or QgsProcessingFeedback()
        self._start = self._end = 0.0

    def step(self, message: str = "", until: Optional[float] = None) -> None:
        self.check_cancelled()
        if message:
            self.log(message)
        self._start = self._end
        if until is not None:
            self._end = max(self._start, min(float(until), 1.0))

    def progress(self, fraction: float) -> None:
        f = min(max(float(fraction), 0.0), 1.0)
        self.feedback.setProgress(100.0 * (self._start + (self._end - self._start) * f))

    def is_cancelled(self) -> bool:
        return bool(self.feedback.isCanceled())

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise CancelledError("stopped before it finished; nothing was written")

    def log(self, message: str) -> None:
        text = str(message)
        if text.startswith("warning: "):  # the engine's input checks (core/band_checks.py): shown as warnings
            self.feedback.pushWarning(text[len("warning: "):])
        else:
            self.feedback.pushInfo(text)

    def warn(self, message: str) -> None:
        self.feedback.pushWarning(str(message))

    def finish(self) -> None:
        self.feedback.setProgress(100.0)


def log_scene(run: Run, scene: Scene) -> str:
    """Log the bands identified in ``scene`` (where each comes from, what it was taken for), and its QA
    layer; returns the band lines as the INPUT_BANDS output."""
    lines = [f"{s.label} -> {s.band.key} (scale {s.scale:g}, nodata {s.nodata if s.nodata is not None else 'none'})"
             for s in scene.sources.values()]
    run.log(f"input bands ({scene.sensor or 'sensor unknown'}; {scene.grid.describe()}):")
    for line in lines:
        run.log(f"  {line}")
    if scene.qa is not None:
        run.log(f"  QA layer: {scene.qa.kind} ({os.path.basename(scene.qa.path)})")
    moved = [s for s in scene.sources.values() if not s.grid.matches(scene.grid)]
    if moved:
        run.log(f"note: {len(moved)} band(s) resampled ({scene.resampling}) onto the {scene.grid.res[0]:g} grid of "
                f"the finest band: " + ", ".join(f"{s.band.key} ({s.grid.res[0]:g})" for s in moved))
    return "\n".join(lines)


def plan_prediction(model: ModelFile, scene: Scene, targets: Sequence, options: PredictOptions,
                    where: str, labels: Optional[str] = None) -> PredictPlan:
    """Every check of a prediction (targets against the model, input bands, tiles, the label layer of a
    label-map model) before any compute."""
    return plan(model.metadata, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, list(targets),
                options, sensor=scene.sensor, where=where, model_name=model.name,
                labels=os.path.basename(labels) if labels else "")


def run_prediction(run: Run, model: ModelFile, scene: Scene, planned: PredictPlan, outputs,
                   options: PredictOptions, storage: StorageOptions, labels: Optional[str] = None) -> PredictResult:
    """The model over ``scene`` for ``planned``'s targets, written to ``outputs`` and stored as ``storage``
    says (see ``core.delivery.predict_stored``), as the run's last step, with GDAL's block cache bounded
    as ``hls-translate predict`` bounds it."""
    run.step(f"synthesizing {', '.join(t.key for t in planned.targets)}", until=1.0)
    with bounded_gdal_cache([scene], len(planned.targets), run.log):
        return predict_stored(model.path, scene, planned.targets, outputs, options, storage,
                              progress=run.progress, is_cancelled=run.is_cancelled, log=run.log, labels=labels)
