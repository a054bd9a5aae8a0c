"""Which Python packages the plugin needs that QGIS's Python lacks, and how to install them.

Nothing here imports onnxruntime: presence is checked with :func:`importlib.util.find_spec`, which
finds the package without loading it (QGIS start-up stays fast).  A package that is found but fails
to load later is reported when an algorithm runs (see ``processing_provider.common``).
No QGIS import either, so the messages can be tested anywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import List, Optional, Sequence, Tuple

#: (import name, pip package, what it is for)
REQUIREMENTS: Tuple[Tuple[str, str, str], ...] = (
    ("numpy", "numpy", "every algorithm (raster arrays)"),
    ("onnxruntime", "onnxruntime", "running models (Synthesize HLS band, Translate raster with a model)"),
)


def _importable(module: str, really_import: bool) -> bool:
    try:
        if really_import:
            importlib.import_module(module)
            return True
        return importlib.util.find_spec(module) is not None
    except Exception:  # noqa: BLE001 - ImportError, or a broken package raising anything while found
        return False


def missing_packages() -> List[str]:
    """pip names of the required packages QGIS's Python cannot import (numpy is really imported: it is
    cheap and every algorithm needs it; onnxruntime is only looked up)."""
    return [pip for module, pip, _ in REQUIREMENTS if not _importable(module, really_import=(module == "numpy"))]


def qgis_python() -> Optional[str]:
    """The Python interpreter that belongs to this QGIS installation, when it can be found."""
    if sys.platform == "win32":
        candidates = [os.path.join(sys.exec_prefix, "python.exe"), os.path.join(sys.exec_prefix, "python3.exe")]
    else:
        candidates = [os.path.join(sys.exec_prefix, "bin", "python3"),
                      os.path.join(sys.exec_prefix, "bin", "python")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def install_hint(packages: Sequence[str]) -> str:
    """Plain-text instructions that say what to install, and how, in QGIS's own Python."""
    pkgs = " ".join(packages)
    what = ", ".join(f"{pip} (needed for {why})" for _, pip, why in REQUIREMENTS if pip in packages)
    lines = [
        f"HLS Band Translator needs the Python package(s) {what}, which QGIS's Python cannot import.",
        "Install them into the Python that QGIS uses, then restart QGIS:",
    ]
    here = qgis_python()
    if here:
        lines.append(f"  - this QGIS's Python is {here}: run  \"{here}\" -m pip install {pkgs}")
    lines += [
        f"  - Windows (OSGeo4W or the QGIS installer): open the \"OSGeo4W Shell\" from the Start menu and run  "
        f"python -m pip install {pkgs}",
        f"  - macOS (QGIS.app): /Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install {pkgs}",
        f"  - Linux (distribution packages): python3 -m pip install --user {pkgs}  "
        "(Debian 12 / Ubuntu 23.04+ also need --break-system-packages)",
    ]
    if "onnxruntime" in packages:
        lines.append("  For an NVIDIA GPU install onnxruntime-gpu instead of onnxruntime (never both).")
    if "numpy" in packages:
        lines.append("  Keep numpy below 2 if this QGIS's GDAL was built against numpy 1.x (QGIS 3.22-3.34 on "
                     "most Linux distributions): pip install \"numpy<2\".")
    return "\n".join(lines)
