"""Which Python packages the plugin needs that QGIS's Python lacks, how to install them, and the folder of
packages the plugin owns.

* :func:`missing_packages` checks presence with :func:`importlib.util.find_spec` (onnxruntime is found,
  not loaded, so QGIS start-up stays fast); a package found but broken is reported when an algorithm runs.
* ONNX Runtime can be installed into a folder the plugin owns, ``<QGIS profile>/hls_translate/python<X.Y>-
  <platform>`` (:func:`packages_folder`), with ``pip install --target`` (which works where the system
  Python refuses pip, as Debian 12's does: "externally-managed-environment").  :func:`activate` appends
  it to ``sys.path`` when the plugin starts, after the system's folders, so QGIS's own numpy (the one its
  GDAL was built against) always wins over the copy pip puts there.
* :func:`onnxruntime_build` picks the GPU build (``onnxruntime-gpu``) where an NVIDIA GPU is present and
  that build exists (Linux, Windows), else ``onnxruntime``; both install the same module, so the folder
  never holds both (:func:`install` empties it before it installs the other build).

Nothing here imports QGIS, so every message and command can be tested anywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from typing import Callable, List, Optional, Sequence, Tuple

#: (import name, pip package, what it is for)
REQUIREMENTS: Tuple[Tuple[str, str, str], ...] = (
    ("numpy", "numpy", "every algorithm (raster arrays)"),
    ("onnxruntime", "onnxruntime", "running models (Synthesize HLS band, Translate raster with a model)"),
)
#: the two ONNX Runtime builds (one module, ``onnxruntime``)
BUILDS = ("onnxruntime", "onnxruntime-gpu")


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
        candidates = [os.path.join(sys.exec_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}"),
                      os.path.join(sys.exec_prefix, "bin", "python3"), os.path.join(sys.exec_prefix, "bin", "python")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


# --- the plugin's own packages folder ---------------------------------------------------------------------
def packages_folder(profile_dir: str) -> str:
    """The folder of packages the plugin installs for this Python (version and platform in its name, so
    a QGIS with another Python never loads them)."""
    tag = f"python{sys.version_info[0]}.{sys.version_info[1]}-{sysconfig.get_platform()}"
    return os.path.join(profile_dir, "hls_translate", tag)


def activate(folder: str) -> bool:
    """Append ``folder`` to ``sys.path`` when it exists (once); True when it is on the path."""
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    return True


def installed_builds(folder: str) -> List[str]:
    """The ONNX Runtime builds installed in ``folder`` (by their ``.dist-info``)."""
    if not os.path.isdir(folder):
        return []
    names = {e.split("-")[0].lower().replace("_", "-") for e in os.listdir(folder) if e.endswith(".dist-info")}
    return [b for b in BUILDS if b in names]


def has_nvidia_gpu(which: Callable[[str], Optional[str]] = shutil.which, run=subprocess.run,
                   system: str = "") -> bool:
    """Whether an NVIDIA GPU and its driver are present (``nvidia-smi -L`` lists one)."""
    system = system or platform.system()
    if system == "Darwin":
        return False
    exe = which("nvidia-smi")
    if exe is None and system == "Windows":
        guess = os.path.join(os.environ.get("SystemRoot", r"C:\Windows"), "System32", "nvidia-smi.exe")
        exe = guess if os.path.isfile(guess) else None
    if exe is None:
        return False
    try:
        r = run([exe, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and "GPU" in (r.stdout or "")


def onnxruntime_build(gpu: bool, system: str = "", machine: str = "") -> str:
    """``onnxruntime-gpu`` with an NVIDIA GPU where that build exists (Linux, Windows; x86-64), else
    ``onnxruntime``."""
    system, machine = system or platform.system(), (machine or platform.machine()).lower()
    gpu_build = system in ("Linux", "Windows") and machine in ("x86_64", "amd64")
    return BUILDS[1] if gpu and gpu_build else BUILDS[0]


def install_command(python: str, folder: str, package: str, numpy_version: str = "") -> List[str]:
    """The pip command that installs ``package`` into ``folder`` (with numpy pinned to the version QGIS
    runs, so that pip picks an ONNX Runtime that works with it)."""
    cmd = [python, "-m", "pip", "install", "--upgrade", "--target", folder, "--no-input",
           "--disable-pip-version-check", package]
    if numpy_version:
        cmd.append(f"numpy=={numpy_version}")
    return cmd


def install(folder: str, package: str, python: Optional[str] = None, numpy_version: Optional[str] = None,
            run=subprocess.run, log: Callable[[str], None] = lambda s: None) -> Tuple[bool, str]:
    """Install ``package`` (one of :data:`BUILDS`) into ``folder``; never both builds: a folder holding the
    other one is emptied first.  Returns (success, pip's output or the reason)."""
    if package not in BUILDS:
        raise ValueError(f"not an ONNX Runtime build: {package!r} (one of {', '.join(BUILDS)})")
    python = python or qgis_python()
    if python is None:
        return False, "this QGIS's Python interpreter was not found; install ONNX Runtime from a shell (see above)"
    if numpy_version is None:
        import numpy

        numpy_version = numpy.__version__
    other = [b for b in installed_builds(folder) if b != package]
    if other:
        log(f"removing {', '.join(other)} from {folder}: the two ONNX Runtime builds must not be installed together")
        shutil.rmtree(folder)
    os.makedirs(folder, exist_ok=True)
    cmd = install_command(python, folder, package, numpy_version)
    log("running: " + " ".join(f'"{c}"' if " " in c else c for c in cmd))
    try:
        r = run(cmd, capture_output=True, text=True)
    except OSError as exc:
        return False, f"could not run {python}: {exc}"
    output = (r.stdout or "") + (r.stderr or "")
    return r.returncode == 0 and package in installed_builds(folder), output


def install_hint(packages: Sequence[str], folder: str = "", gpu: Optional[bool] = None) -> str:
    """Plain-text instructions: what to install and how, on each platform, into QGIS's own Python (or the
    plugin's folder ``folder``, which the plugin adds to the path when QGIS starts)."""
    ort = [p for p in packages if p == "onnxruntime"]
    build = onnxruntime_build(has_nvidia_gpu() if gpu is None else gpu) if ort else ""
    pkgs = " ".join(build if p == "onnxruntime" else p for p in packages)
    what = ", ".join(f"{pip} (needed for {why})" for _, pip, why in REQUIREMENTS if pip in packages)
    target = f' --target "{folder}"' if folder else ""
    lines = [f"HLS Band Translator needs the Python package(s) {what}, which QGIS's Python cannot import."]
    if ort:
        lines.append("Easiest: Plugins > HLS Band Translator > Install ONNX Runtime... installs "
                     f"{build} into the plugin's own folder{f' ({folder})' if folder else ''}; no restart needed.")
    lines.append("Or install them from a shell into the Python that QGIS uses, then restart QGIS:")
    here = qgis_python()
    if here:
        lines.append(f"  - this QGIS's Python is {here}: \"{here}\" -m pip install {pkgs}{target}")
    lines += [
        "  - Debian / Ubuntu (QGIS from apt): there is no python3-onnxruntime package, and pip refuses the system "
        "Python (externally-managed-environment); install into the plugin's folder, which pip allows: "
        f"sudo apt install python3-pip, then /usr/bin/python3 -m pip install {pkgs}{target or ' --target FOLDER'} "
        "numpy==$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)'); or into a virtual environment: "
        "python3 -m venv --system-site-packages ~/qgis-venv && ~/qgis-venv/bin/pip install "
        f"{pkgs}, then start QGIS with PYTHONPATH=$HOME/qgis-venv/lib/python3.11/site-packages qgis",
        f"  - Windows (OSGeo4W or the QGIS installer): open the \"OSGeo4W Shell\" from the Start menu and run  "
        f"python -m pip install {pkgs}",
        f"  - macOS (QGIS.app): /Applications/QGIS.app/Contents/MacOS/bin/python3 -m pip install {pkgs}"
        f"{target or ' --user'}",
    ]
    if ort:
        found = "an NVIDIA GPU was found" if build == BUILDS[1] else "no NVIDIA GPU was found"
        lines.append("  With an NVIDIA GPU (and its CUDA driver) install onnxruntime-gpu instead of onnxruntime, never "
                     f"both: they are one module (here {found}).")
    if "numpy" in packages:
        lines.append("  Keep numpy below 2 if this QGIS's GDAL was built against numpy 1.x (QGIS 3.22-3.34 on "
                     "most Linux distributions): pip install \"numpy<2\".")
    return "\n".join(lines)
