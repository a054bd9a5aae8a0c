"""How results load into the project: named after their scene and band, with a grey stretch and layer
metadata (model, input bands, scene, dates) set when QGIS loads them.

:func:`load_on_completion` asks QGIS to load a file when the algorithm finishes, under a given name
whatever the user's "use file name as layer name" setting, and with a :class:`ResultStyle` that QGIS
calls once the layer exists (``QgsProcessingLayerPostProcessorInterface``).  QGIS does not own those
objects, so they are kept here (the last ones only).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from qgis.core import (QgsContrastEnhancement, QgsProcessingContext, QgsProcessingLayerPostProcessorInterface,
                       QgsProcessingUtils, QgsRasterLayer, QgsRasterMinMaxOrigin, QgsRectangle)

from .. import __version__

#: post-processors of the last runs (QGIS keeps only a pointer to them)
_KEPT: List["ResultStyle"] = []
_KEEP = 64


@dataclass(frozen=True)
class ResultInfo:
    """What a result layer's metadata says about it."""

    title: str
    abstract: str
    keywords: Tuple[str, ...] = ()
    history: Tuple[str, ...] = ()


class ResultStyle(QgsProcessingLayerPostProcessorInterface):
    """Sets a loaded result's grey stretch (a 2-98 % cumulative cut of its own values, as QGIS stretches
    the input bands it loads) and its layer metadata."""

    def __init__(self, info: ResultInfo, stretch: bool = True):
        super().__init__()
        self.info, self.stretch = info, stretch

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802
        if not isinstance(layer, QgsRasterLayer) or not layer.isValid():
            return
        if self.stretch and layer.bandCount() == 1:
            stretch_grey(layer)
        md = layer.metadata()
        md.setTitle(self.info.title)
        md.setAbstract(self.info.abstract)
        if self.info.keywords:
            md.addKeywords("hls_translate", list(self.info.keywords))
        for line in self.info.history:
            md.addHistoryItem(line)
        layer.setMetadata(md)
        layer.triggerRepaint()


def stretch_grey(layer: QgsRasterLayer, lower: float = 0.02, upper: float = 0.98) -> None:
    """A grey stretch of a one-band layer between the ``lower`` and ``upper`` cumulative fractions of its
    values (nodata excluded)."""
    from qgis.core import QgsSingleBandGrayRenderer

    provider = layer.dataProvider()
    lo, hi = provider.cumulativeCut(1, lower, upper, QgsRectangle(), 250000)
    if not (hi > lo):
        return
    renderer = QgsSingleBandGrayRenderer(provider, 1)
    ce = QgsContrastEnhancement(provider.dataType(1))
    ce.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
    ce.setMinimumValue(lo)
    ce.setMaximumValue(hi)
    renderer.setContrastEnhancement(ce)
    origin = QgsRasterMinMaxOrigin()
    origin.setLimits(QgsRasterMinMaxOrigin.CumulativeCut)
    origin.setCumulativeCutLower(lower)
    origin.setCumulativeCutUpper(upper)
    renderer.setMinMaxOrigin(origin)
    layer.setRenderer(renderer)


def load_on_completion(context: QgsProcessingContext, path: str, name: str, output: str,
                       info: Optional[ResultInfo] = None) -> None:
    """Make QGIS load ``path`` when the algorithm finishes, under ``name`` whatever the user's "use file
    name as layer name" setting, styled and described by ``info`` when given."""
    if context.willLoadLayerOnCompletion(path):
        details = context.layerToLoadOnCompletionDetails(path)
        details.name = name
        details.forceName = True
        details.outputName = output
    else:
        details = QgsProcessingContext.LayerDetails(name, context.project(), output)
        details.forceName = True
        details.layerTypeHint = QgsProcessingUtils.LayerHint.Raster
        context.addLayerToLoadOnCompletion(path, details)
        details = context.layerToLoadOnCompletionDetails(path)
    if info is not None:
        style = ResultStyle(info)
        _KEPT.append(style)
        del _KEPT[:-_KEEP]
        details.setPostProcessor(style)


def synthesis_info(title: str, band_label: str, model_name: str, sources: Sequence[str], scene: str,
                   acquired: str, stored: str) -> ResultInfo:
    """The metadata of a synthesized band."""
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    abstract = (f"{band_label} synthesized by hls_translate {__version__} with the model {model_name} from "
                f"{', '.join(sources)} of scene {scene}{f' (acquired {acquired})' if acquired else ''}. "
                f"Stored as: {stored}.")
    return ResultInfo(title=title, abstract=abstract, keywords=("synthesized", band_label, model_name),
                      history=(f"{now}: synthesized by hls_translate {__version__} ({model_name})",))
