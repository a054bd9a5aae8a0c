"""The processing provider ``hls_translate``: the algorithms over the ``core`` library."""

from __future__ import annotations

from typing import Sequence

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .common import ICON_PATH, PROVIDER_ID, tr


class HLSTranslateProvider(QgsProcessingProvider):
    """Provider of the HLS Band Translator algorithms.

    ``missing`` lists Python packages QGIS's Python lacks (from ``qgis_plugin.deps``), for information;
    the algorithms that run models check for ONNX Runtime themselves (``canExecute`` and again when they
    run) and refuse with instructions instead of failing with a traceback.
    """

    def __init__(self, missing: Sequence[str] = ()):
        super().__init__()
        self.missing = tuple(missing)

    def id(self):
        return PROVIDER_ID

    def name(self):
        return tr("HLS Band Translator")

    def longName(self):  # noqa: N802
        from .. import __version__

        return tr("HLS Band Translator {version} (ONNX band synthesis)").format(version=__version__)

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):  # noqa: N802
        return ICON_PATH

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802 - outputs are always GeoTIFF
        return ["tif", "tiff"]

    def loadAlgorithms(self):  # noqa: N802
        from .evaluate_band import EvaluateBand
        from .model_info import ModelInfoAlgorithm
        from .synthesize_band import SynthesizeBand
        from .synthesize_folder import SynthesizeFolder
        from .translate_raster import TranslateRaster

        for alg in (SynthesizeBand(), SynthesizeFolder(), TranslateRaster(), ModelInfoAlgorithm(), EvaluateBand()):
            self.addAlgorithm(alg)
