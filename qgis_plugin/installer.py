""""Install ONNX Runtime...": the desktop's way to get ONNX Runtime into the plugin's own folder.

It says what it will run (the build for this machine, the folder, the pip command), asks, runs
``deps.install`` as a background task (QGIS stays usable; the task shows in the status bar) and tells
the plugin when it is done, which then needs no restart (``HLSTranslatePlugin.installed``).
"""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask

from . import deps


class OnnxRuntimeInstaller:
    """One installation, started by :meth:`start` (kept by the plugin while it runs)."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.folder = plugin.packages
        self.build = deps.onnxruntime_build(deps.has_nvidia_gpu())
        self.task = None
        self.output = ""

    def command(self) -> str:
        import numpy

        python = deps.qgis_python() or "python3"
        return " ".join(deps.install_command(python, self.folder, self.build, numpy.__version__))

    def start(self, ask: bool = True) -> None:
        from qgis.PyQt.QtWidgets import QMessageBox

        from .plugin import PLUGIN_NAME, tr

        parent = self.plugin.iface.mainWindow() if self.plugin.iface is not None else None
        text = tr("Install {build} into the plugin's folder\n{folder}\n\nwith\n{command}\n\nThe plugin adds that "
                  "folder to QGIS's Python when it starts; nothing else is changed.").format(
            build=self.build, folder=self.folder, command=self.command())
        if ask and QMessageBox.question(parent, PLUGIN_NAME, text) != QMessageBox.Yes:
            return
        self.task = QgsTask.fromFunction(tr("Installing {build}").format(build=self.build), self._run,
                                         on_finished=self._finished)
        QgsApplication.taskManager().addTask(self.task)

    def _run(self, task):
        return deps.install(self.folder, self.build, log=lambda line: QgsMessageLog.logMessage(line, "HLS Band Translator"))

    def _finished(self, exception, result=None):
        from .plugin import PLUGIN_NAME, tr

        ok, self.output = (False, str(exception)) if exception is not None else result
        QgsMessageLog.logMessage(self.output, PLUGIN_NAME, Qgis.Info if ok else Qgis.Critical)
        if ok:
            self.plugin.installed()
        if self.plugin.iface is not None:
            bar = self.plugin.iface.messageBar()
            if ok:
                bar.pushMessage(PLUGIN_NAME, tr("{build} is installed; the algorithms can run now.").format(
                    build=self.build), Qgis.Success, 10)
            else:
                bar.pushMessage(PLUGIN_NAME, tr("installing {build} failed; see the log (View > Panels > Log "
                                                "Messages) for pip's output").format(build=self.build), Qgis.Critical, 0)
