"""What ``qgis_process --json`` prints when one of our algorithms fails.

QGIS 3.22's ``qgis_process --json run`` prints its JSON document only when the algorithm succeeds; on a
failure stdout stays empty, the message goes to stderr (``ERROR: ...``) and the exit code is 1.  So that a
batch loop that keeps each run's stdout (``> scene.json``) keeps the reason too, our algorithms print,
when they fail inside ``qgis_process --json``, one JSON document of their own on stdout:
``{"algorithm": ..., "error": ..., "inputs": {...}, "results": {}}`` (stderr and the exit code stay as
QGIS makes them).  Failures QGIS detects before it hands the parameters to the algorithm (an unknown
algorithm or parameter name, a file that does not exist) still give an empty stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Mapping

from qgis.PyQt.QtCore import QCoreApplication

_REPORTED = []


def running_qgis_process_json() -> bool:
    """True inside ``qgis_process --json`` (the process QGIS runs: its arguments say so)."""
    app = QCoreApplication.instance()
    if app is None:
        return False
    args = [str(a) for a in QCoreApplication.arguments()]
    exe = args[0].replace("\\", "/").rsplit("/", 1)[-1].lower() if args else ""
    return exe.startswith("qgis_process") and "--json" in args


def plain(value):
    """A parameter value as JSON-friendly data (layers by their source, other objects as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    source = getattr(value, "source", None)
    return source() if callable(source) else str(value)


def report_failure(algorithm_id: str, message: str, parameters: Mapping) -> None:
    """Print the failure document on stdout, once per process, when inside ``qgis_process --json``."""
    if _REPORTED or not running_qgis_process_json():
        return
    _REPORTED.append(algorithm_id)
    doc = {"algorithm": algorithm_id, "error": message, "inputs": plain(dict(parameters)), "results": {}}
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()
