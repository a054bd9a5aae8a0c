"""Parameter widgets of the algorithms' dialogs (imported by QGIS's widget factory only when a dialog
opens, so this module may import QGIS's ``processing`` plugin at the top).

* :class:`CreationOptionsWrapper`: the creation-options editor QGIS's own GDAL algorithms use (profiles,
  validation), or a line edit on a QGIS without it.
* :func:`standard_only`: a wrapper class used in the standard dialog only; in the batch dialog and the
  modeler QGIS's own widget for the parameter's type is made instead, so values there stay exactly what
  QGIS stores and replays.
"""

from __future__ import annotations

from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper, WidgetWrapperFactory, dialogTypes
from qgis.PyQt.QtWidgets import QLineEdit

try:  # QGIS's own widget (processing/algs/gdal/ui), present in 3.22 and later
    from processing.algs.gdal.ui.RasterOptionsWidget import RasterOptionsWidgetWrapper as CreationOptionsWrapper  # noqa: F401
except ImportError:  # pragma: no cover - a QGIS without it
    class CreationOptionsWrapper(WidgetWrapper):
        """KEY=VALUE|KEY=VALUE in a line edit."""

        def createWidget(self):  # noqa: N802
            return QLineEdit()

        def setValue(self, value):  # noqa: N802
            self.widget.setText(value or "")

        def value(self):
            return self.widget.text()

#: plain copies of parameters handed to QGIS's own widgets (kept alive as long as QGIS may read them)
_PLAIN = {}


def plain_wrapper(param, dialog, row=0, col=0):
    """QGIS's own widget wrapper for ``param`` (as if it asked for no custom widget)."""
    key = (param.name(), param.type(), id(dialog))
    plain = _PLAIN.get(key)
    if plain is None:
        plain = param.clone()
        metadata = dict(plain.metadata())
        metadata.pop("widget_wrapper", None)
        plain.setMetadata(metadata)
        _PLAIN[key] = plain
    return WidgetWrapperFactory.create_wrapper(plain, dialog, row, col)


def standard_only(cls):
    """Class decorator: ``cls(param, dialog, ...)`` makes ``cls`` in the standard dialog and QGIS's own
    wrapper elsewhere (batch dialog, modeler)."""

    def __new__(klass, param, dialog, row=0, col=0, **kwargs):
        if dialogTypes.get(dialog.__class__.__name__, DIALOG_STANDARD) != DIALOG_STANDARD:
            return plain_wrapper(param, dialog, row, col)
        return super(cls, klass).__new__(klass)

    cls.__new__ = __new__
    return cls
