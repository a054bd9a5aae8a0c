"""The base class of the provider's algorithms: names, help, the checks before a run, and the run itself.

:meth:`HLSAlgorithm.checkParameterValues` (QGIS calls it before every run: dialog, batch, model,
``processing.run``, ``qgis_process``) turns option names into option numbers (:mod:`.choices`), lets QGIS
check the values, then the algorithm's own :meth:`HLSAlgorithm.check` (targets the model cannot make,
...), so a run that cannot work is refused before it starts, with a message that says why.
:meth:`HLSAlgorithm.processAlgorithm` owns the run: it refuses model runs without ONNX Runtime, hands
the subclass's :meth:`HLSAlgorithm.process` a :class:`~.common.Run`, and is the one boundary where
library errors become ``QgsProcessingException``.  Inside ``qgis_process --json`` a refusal or failure
is also printed as JSON on stdout (:mod:`.failure`).

Help is plain text (QGIS's dialog makes paragraphs of its lines; ``qgis_process help`` prints it as it
is); the Help button opens the algorithm's page in the plugin's ``help/`` folder (:mod:`.help`).
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QIcon

from ..core.errors import CancelledError, HLSTranslateError
from . import choices
from .common import ICON_PATH, PLUGIN_ROOT, Run, require_onnxruntime, tr
from .failure import report_failure

HELP_DIR = os.path.join(PLUGIN_ROOT, "help")


def group_name(group_id: str) -> str:
    """The (translated) name of a toolbox group."""
    return {"synthesis": tr("Band synthesis"), "models": tr("Models"), "evaluation": tr("Evaluation")}[group_id]


class HLSAlgorithm(QgsProcessingAlgorithm):
    """Base of the provider's algorithms (see the module docstring).

    Subclasses set ``NAME``, ``GROUP_ID``, ``TAGS`` and ``NEEDS_ONNXRUNTIME`` and return their translated
    texts from :meth:`displayName`, :meth:`shortDescription` and :meth:`summary`.
    """

    NAME = ""
    GROUP_ID = "synthesis"
    TAGS: Tuple[str, ...] = ()
    NEEDS_ONNXRUNTIME = False  # True for the algorithms that run a model

    def name(self):
        return self.NAME

    def group(self):
        return group_name(self.GROUP_ID)

    def groupId(self):  # noqa: N802
        return self.GROUP_ID

    def tags(self):
        return list(self.TAGS)

    def icon(self):
        return QIcon(ICON_PATH)

    def createInstance(self):  # noqa: N802
        return type(self)()

    def summary(self) -> str:  # pragma: no cover - overridden
        """What the algorithm does, in a few plain sentences (the first paragraph of its help)."""
        raise NotImplementedError

    def add(self, param, help_text: str, advanced: bool = False):
        """Add a parameter with its (translated) help string, shown as tool tip and in the help."""
        param.setHelp(help_text)
        if advanced:
            param.setFlags(param.flags() | param.FlagAdvanced)
        self.addParameter(param)
        return param

    def shortHelpString(self):  # noqa: N802
        """Plain text: the summary, then each parameter and output on a line of its own."""
        lines = [self.summary(), "", tr("Parameters:")]
        lines += [f"{p.name()} - {p.description()}: {p.help()}" for p in self.parameterDefinitions() if p.help()]
        lines += ["", tr("Outputs:")]
        lines += [f"{o.name()} - {o.description()}" for o in self.outputDefinitions()]
        return "\n".join(lines)

    def helpUrl(self):  # noqa: N802
        page = os.path.join(HELP_DIR, f"{self.NAME}.html")
        return QUrl.fromLocalFile(page).toString() if os.path.isfile(page) else ""

    def canExecute(self):  # noqa: N802
        if self.NEEDS_ONNXRUNTIME:
            from ..qgis_plugin.deps import install_hint, missing_packages

            missing = [p for p in missing_packages() if p == "onnxruntime"]
            if missing:
                return False, install_hint(missing)
        return True, ""

    # -- before the run ---------------------------------------------------------------------------------
    def resolved(self, parameters) -> dict:
        """``parameters`` with option names of enum parameters turned into option numbers."""
        return choices.resolve(self.parameterDefinitions(), parameters)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        try:
            values = self.resolved(parameters)
            ok, message = super().checkParameterValues(values, context)
            if ok:
                problem = self.check(values, context)
                ok, message = problem is None, problem or ""
        except HLSTranslateError as exc:
            ok, message = False, str(exc)
        if not ok:
            report_failure(self.id(), message, parameters)
        return ok, message

    def check(self, parameters, context) -> Optional[str]:
        """Why a run with these (resolved, QGIS-checked) values cannot work, or None; cheap checks only."""
        return None

    # -- the run ------------------------------------------------------------------------------------------
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            if self.NEEDS_ONNXRUNTIME:
                require_onnxruntime()
            run = Run(feedback)
            try:
                results = self.process(self.resolved(parameters), context, run)
            except CancelledError as exc:
                text = str(exc)  # the library's messages may already say so: never "cancelled: cancelled: ..."
                raise QgsProcessingException(text if text.lower().startswith("cancelled") else f"cancelled: {text}") from None
            except HLSTranslateError as exc:
                raise QgsProcessingException(str(exc)) from None
            except MemoryError:
                raise QgsProcessingException("out of memory; use a smaller tile size or batch size") from None
        except QgsProcessingException as exc:
            report_failure(self.id(), str(exc), parameters)
            raise
        run.finish()
        return results

    def process(self, parameters, context, run: Run) -> dict:  # pragma: no cover - overridden
        """The algorithm's work: parameters -> library calls -> results; raises library errors only."""
        raise NotImplementedError
