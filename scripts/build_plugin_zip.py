#!/usr/bin/env python3
"""Build the QGIS plugin zip (``make plugin-zip``): what QGIS's "Install from ZIP" accepts.

    python scripts/build_plugin_zip.py --out dist [--allow-missing-model] [--check]

The zip holds one folder, ``hls_translate/``, with only what the plugin runs: ``__init__.py``,
``metadata.txt``, the inference side of ``core/`` (numpy + GDAL + onnxruntime; ``core/models/`` is
PyTorch training code that QGIS never imports, so it is left out), ``processing_provider/``,
``qgis_plugin/``, ``LICENSE``, the algorithms' help pages ``help/``, the compiled translations
``i18n/*.qm``, the icon, the bundled model ``resources/models/hls_translate_default.onnx`` and the small
sample scene ``resources/sample/``.  Every listed file or folder must be there: a missing one stops the
build with its name (only the bundled model may be left out, with ``--allow-missing-model``).  No tests, training code or data, command-line code (``cli.py``,
``commands/``: argument parsing the plugin never needs), benchmarks, caches, virtual environments or GDAL
``.aux.xml`` side files.  Files are taken from the working tree; the zip is
written to a temporary name and renamed, so a failed build leaves no half-written zip.

``--check`` unzips the result into a temporary plugins folder, enables the plugin with
``qgis_process`` in a throwaway profile and runs ``hls_translate:model_info`` on the bundled model.
"""

from __future__ import annotations

import argparse
import configparser
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Iterator, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = "hls_translate"
MODEL = os.path.join("resources", "models", "hls_translate_default.onnx")

#: (path relative to the repository, recursive?) of what goes into the zip
INCLUDE: Tuple[Tuple[str, bool], ...] = (
    ("__init__.py", False),
    ("metadata.txt", False),
    ("LICENSE", False),
    ("help", True),
    ("i18n", True),
    ("core", True),
    ("processing_provider", True),
    ("qgis_plugin", True),
    ("resources/icons", True),
    ("resources/models", True),
    ("resources/sample", True),
)
EXCLUDE_DIRS = {"__pycache__", ".pytest_cache", ".git", ".venv", "models_cache"}
EXCLUDE_PATTERNS = ("*.pyc", "*.pyo", "*.aux.xml", "*.part.tif", ".*", "*~", "*.tmp.tif", "*.ts")
#: core/models is PyTorch code (training/export); QGIS never imports it
EXCLUDE_PATHS = (os.path.join("core", "models"),)


def plugin_files(root: str = ROOT) -> Iterator[Tuple[str, str]]:
    """(absolute path, path inside the zip) of every file the plugin ships."""
    for rel, recursive in INCLUDE:
        src = os.path.join(root, rel)
        if not os.path.exists(src):
            if rel == os.path.dirname(MODEL).replace(os.sep, "/"):
                continue  # build() refuses a missing model unless told to go without it
            raise SystemExit(f"error: {rel} is missing from {root}; the plugin zip needs it")
        if not recursive:
            yield src, f"{PLUGIN}/{rel}"
            continue
        for folder, dirs, files in os.walk(src):
            relfolder = os.path.relpath(folder, root)
            dirs[:] = sorted(d for d in dirs if d not in EXCLUDE_DIRS
                             and os.path.join(relfolder, d) not in EXCLUDE_PATHS and not d.startswith("."))
            for name in sorted(files):
                if any(fnmatch.fnmatch(name, p) for p in EXCLUDE_PATTERNS):
                    continue
                path = os.path.join(folder, name)
                yield path, f"{PLUGIN}/{os.path.relpath(path, root).replace(os.sep, '/')}"


def version(root: str = ROOT) -> str:
    cp = configparser.ConfigParser()
    cp.read(os.path.join(root, "metadata.txt"), encoding="utf-8")
    return cp["general"]["version"]


def build(out_dir: str, allow_missing_model: bool = False, root: str = ROOT) -> str:
    if not os.path.isfile(os.path.join(root, MODEL)):
        msg = f"the bundled model {MODEL} is missing"
        if not allow_missing_model:
            raise SystemExit(f"error: {msg}; train and export it first (or pass --allow-missing-model for a "
                             "development zip without it)")
        print(f"warning: {msg}; the zip will ask users for a model file", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, f"{PLUGIN}-{version(root)}.zip")
    fd, tmp = tempfile.mkstemp(prefix=f".{PLUGIN}-", suffix=".zip.part", dir=out_dir)
    os.close(fd)
    try:
        n = 0
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for src, arc in plugin_files(root):
                z.write(src, arc)
                n += 1
        os.replace(tmp, target)
    except BaseException:
        os.remove(tmp)
        raise
    print(f"wrote {target} ({n} files, {os.path.getsize(target) / 1e6:.1f} MB)")
    return target


def check(zip_path: str) -> None:
    """Install the zip into a throwaway plugins folder and load it with qgis_process."""
    qgis_process = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"
    with tempfile.TemporaryDirectory(prefix="hls_zip_check_") as tmp:
        plugins = os.path.join(tmp, "plugins")
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(plugins)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=os.path.join(tmp, "profile"),
                   QGIS_PLUGINPATH=plugins, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        env.pop("PYTHONPATH", None)
        steps: List[List[str]] = [["plugins", "enable", PLUGIN], ["list"]]
        if os.path.isfile(os.path.join(plugins, PLUGIN, MODEL)):
            steps.append(["run", f"{PLUGIN}:model_info"])
        for args in steps:
            r = subprocess.run([qgis_process, *args], env=env, capture_output=True, text=True, cwd=tmp)
            if r.returncode != 0 or (args == ["list"] and f"{PLUGIN}:synthesize_band" not in r.stdout):
                raise SystemExit(f"error: qgis_process {' '.join(args)} failed with the unzipped plugin:\n"
                                 f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
            print(f"check: qgis_process {' '.join(args)}: ok")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="dist", help="folder for the zip (default: dist)")
    ap.add_argument("--allow-missing-model", action="store_true",
                    help="build even when the bundled model is missing (development only)")
    ap.add_argument("--check", action="store_true", help="load the built zip with qgis_process")
    args = ap.parse_args(argv)
    path = build(args.out, args.allow_missing_model)
    if args.check:
        check(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
