"""The QGIS plugin object: registers the processing provider, adds menu entries and a toolbar button.

QGIS calls ``classFactory(iface)`` (``iface`` is None inside ``qgis_process``), then ``initProcessing()``
(headless) or ``initGui()`` (desktop), and ``unload()`` when the plugin is disabled or reloaded.
Everything added is remembered and removed again in :meth:`HLSTranslatePlugin.unload`.

When the plugin object is made it puts the plugin's own packages folder on ``sys.path`` (where "Install
ONNX Runtime..." installs; see ``deps``) and loads the translation of the user's QGIS locale from
``i18n/`` (see i18n/README.md).  The toolbar button goes on the Plugins toolbar, which a fresh profile
shows (the Raster toolbar is hidden there).
"""

from __future__ import annotations

import os
from typing import List

from qgis.core import Qgis, QgsApplication, QgsMessageLog
from qgis.PyQt.QtCore import QCoreApplication

from .deps import activate, install_hint, missing_packages, packages_folder
from .translation import load_translator, tr, user_locale

PLUGIN_NAME = "HLS Band Translator"
LOG_TAG = PLUGIN_NAME
MAIN_ALGORITHM = "hls_translate:synthesize_band"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_PATH = os.path.join(_ROOT, "resources", "icons", "icon.svg")


def menu_entries():
    """(algorithm id, menu text) of the menu entries, main one first (it also gets the toolbar button)."""
    return (
        (MAIN_ALGORITHM, tr("Synthesize HLS band…")),
        ("hls_translate:translate_raster", tr("Translate raster with a model…")),
        ("hls_translate:evaluate_band", tr("Evaluate a synthesized band…")),
        ("hls_translate:model_info", tr("Model information…")),
    )


class HLSTranslatePlugin:
    """Plugin entry object returned by ``classFactory``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None  # only set when this plugin registered it (so unload removes only ours)
        self.actions: List[object] = []
        self.toolbar_action = None
        self.menu_name = f"&{PLUGIN_NAME}"
        self.packages = packages_folder(QgsApplication.qgisSettingsDirPath())
        activate(self.packages)  # what "Install ONNX Runtime..." installed, after the system's packages
        self.translator = load_translator(user_locale())
        self.missing: List[str] = missing_packages()
        self._dialogs: List[object] = []
        self._reported = False
        self.install_action = None
        self.installer = None

    # -- processing ---------------------------------------------------------------------------------
    def initProcessing(self):  # noqa: N802 - QGIS API name
        """Register the processing provider (idempotent; copes with the id being taken)."""
        if self.provider is not None:
            return
        if "numpy" in self.missing:
            self._report_missing()  # nothing can run without numpy: register nothing
            return
        from ..processing_provider.provider import HLSTranslateProvider

        provider = HLSTranslateProvider(missing=self.missing)
        registry = QgsApplication.processingRegistry()
        if registry.providerById(provider.id()) is not None:
            QgsMessageLog.logMessage(
                f"a processing provider with id '{provider.id()}' is already registered (another copy of this "
                "plugin?); keeping the existing one", LOG_TAG, Qgis.Warning)
            return
        if registry.addProvider(provider):  # on False QGIS has already deleted the object
            self.provider = provider
        else:
            QgsMessageLog.logMessage(f"QGIS refused to register the processing provider '{provider.id()}'",
                                     LOG_TAG, Qgis.Critical)
        if self.missing:
            self._report_missing()

    def _report_missing(self):
        if self._reported or not self.missing:
            return
        self._reported = True
        text = install_hint(self.missing, self.packages)
        QgsMessageLog.logMessage(text, LOG_TAG, Qgis.Critical)
        if self.iface is not None:
            from qgis.PyQt.QtWidgets import QPushButton

            bar = self.iface.messageBar()
            item = bar.createMessage(PLUGIN_NAME, tr("missing Python package(s): {packages}").format(
                packages=", ".join(self.missing)))
            item.setLevel(Qgis.Critical)
            if "onnxruntime" in self.missing and "numpy" not in self.missing:
                button = QPushButton(tr("Install ONNX Runtime…"), item)
                button.clicked.connect(self.install_onnxruntime)
                item.layout().addWidget(button)
            details = QPushButton(tr("How to install"), item)
            details.clicked.connect(lambda: self._show_hint(text))
            item.layout().addWidget(details)
            bar.pushItem(item)
        else:  # qgis_process / scripts: the log may not be shown, so say it on stderr too
            import sys

            print(f"{PLUGIN_NAME}: {text}", file=sys.stderr)

    # -- GUI ----------------------------------------------------------------------------------------
    def initGui(self):  # noqa: N802 - QGIS API name
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        icon = QIcon(ICON_PATH)
        main_window = self.iface.mainWindow()
        for i, (alg_id, text) in enumerate(menu_entries()):
            action = QAction(icon, text, main_window)
            action.setObjectName("hls_translate_" + alg_id.split(":")[1])
            action.setToolTip(text.rstrip("…"))
            action.triggered.connect(lambda _checked=False, a=alg_id: self.open_dialog(a))
            self.iface.addPluginToRasterMenu(self.menu_name, action)
            if i == 0:
                self.iface.addToolBarIcon(action)  # the Plugins toolbar: shown in a fresh profile
                self.toolbar_action = action
            self.actions.append(action)
        if "onnxruntime" in self.missing:
            self.install_action = QAction(icon, tr("Install ONNX Runtime…"), main_window)
            self.install_action.setObjectName("hls_translate_install_onnxruntime")
            self.install_action.triggered.connect(self.install_onnxruntime)
            self.iface.addPluginToRasterMenu(self.menu_name, self.install_action)
            self.actions.append(self.install_action)

    def open_dialog(self, alg_id: str = MAIN_ALGORITHM):
        """Open an algorithm's dialog (non-modal); explain instead when it cannot run."""
        if self.missing and (alg_id in (MAIN_ALGORITHM, "hls_translate:translate_raster") or "numpy" in self.missing):
            self._reported = False
            self._report_missing()
            return None
        from processing import createAlgorithmDialog

        dlg = createAlgorithmDialog(alg_id, {})
        if dlg is None:
            return None
        self._dialogs = [d for d in self._dialogs if _alive(d)] + [dlg]
        dlg.show()
        return dlg

    def unload(self):
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginRasterMenu(self.menu_name, action)
                if action is self.toolbar_action:
                    self.iface.removeToolBarIcon(action)
            action.deleteLater()
        self.actions = []
        self.toolbar_action = None
        for d in self._dialogs:
            if _alive(d):
                d.close()
        self._dialogs = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None

    # -- ONNX Runtime -------------------------------------------------------------------------------------
    def _show_hint(self, text: str) -> None:
        from qgis.PyQt.QtWidgets import QMessageBox

        QMessageBox.information(self.iface.mainWindow() if self.iface else None, PLUGIN_NAME, text)

    def install_onnxruntime(self):
        """Ask, then install ONNX Runtime into the plugin's folder in the background (see ``installer``)."""
        from .installer import OnnxRuntimeInstaller

        self.installer = OnnxRuntimeInstaller(self)
        self.installer.start()

    def installed(self) -> None:
        """ONNX Runtime has just been installed: the algorithms can run now (no restart)."""
        activate(self.packages)
        self.missing = missing_packages()
        if self.install_action is not None and "onnxruntime" not in self.missing:
            self.install_action.setEnabled(False)


def _alive(obj) -> bool:
    try:
        from qgis.PyQt import sip

        return not sip.isdeleted(obj)
    except Exception:  # noqa: BLE001
        return False
