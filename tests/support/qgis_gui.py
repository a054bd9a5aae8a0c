"""Helpers of the QGIS tests: a stand-in for QGIS's ``iface`` (a real map canvas and message bar, the rest
mocked) and a feedback that keeps what an algorithm logs."""

from unittest import mock

from qgis.core import QgsProcessingFeedback


def fake_iface(monkeypatch=None):
    """A mock ``iface`` with a real QgsMapCanvas and QgsMessageBar; with ``monkeypatch``, also installed as
    ``qgis.utils.iface`` and ``processing.tools.general.iface`` (which dialogs read)."""
    from qgis.gui import QgsMapCanvas, QgsMessageBar

    iface = mock.MagicMock()
    iface.mapCanvas.return_value = QgsMapCanvas()
    iface.messageBar.return_value = QgsMessageBar()
    iface.mainWindow.return_value = None
    if monkeypatch is not None:
        import processing.tools.general
        import qgis.utils

        monkeypatch.setattr(qgis.utils, "iface", iface)
        monkeypatch.setattr(processing.tools.general, "iface", iface)  # imported from qgis.utils at start-up
    return iface


class InfoLog(QgsProcessingFeedback):
    """Keeps the info lines an algorithm pushes, in ``lines``."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def pushInfo(self, info):  # noqa: N802
        self.lines.append(info)
        super().pushInfo(info)
