#!/usr/bin/env python3
"""Keep the plugin's translations in step with its code (see i18n/README.md):

    python scripts/update_translations.py             # update every i18n/hls_translate_<lang>.ts, build the .qm
    python scripts/update_translations.py --check     # exit 1 if a .ts is not current (or a tr() is not a literal)
    python scripts/update_translations.py --add de    # start a translation

Translatable strings are the string literals passed to ``tr(...)`` / ``self.tr(...)`` in
``processing_provider/`` and ``qgis_plugin/`` (found by parsing the code: a ``tr`` call with anything but
one literal is an error).  Existing translations are kept, new strings are added as unfinished, strings
no longer in the code are marked obsolete.  The ``.qm`` files are compiled with Qt's ``lrelease``.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
I18N = os.path.join(ROOT, "i18n")
SOURCES = ("processing_provider", "qgis_plugin")
CONTEXT = "hls_translate"


def translatable(root: str = ROOT) -> Tuple[List[str], List[str]]:
    """(strings in order of first appearance, problems: tr() calls whose argument is not one literal)."""
    strings: Dict[str, None] = {}
    problems = []
    for folder in SOURCES:
        for path in sorted(glob.glob(os.path.join(root, folder, "*.py"))):
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else (
                    node.func.attr if isinstance(node.func, ast.Attribute) else "")
                if name != "tr":
                    continue
                if len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    strings.setdefault(node.args[0].value)
                elif not (isinstance(node.func, ast.Name) and path.endswith("translation.py")):
                    problems.append(f"{os.path.relpath(path, root)}:{node.lineno}: tr() of something other than "
                                    "one string literal")
    return list(strings), problems


def updated_ts(path: str, strings: List[str], language: str) -> bytes:
    """The .ts document of ``language`` for ``strings``, keeping the translations ``path`` holds."""
    old: Dict[str, Tuple[str, str]] = {}
    if os.path.isfile(path):
        for m in ET.parse(path).getroot().iter("message"):
            t = m.find("translation")
            old[m.findtext("source", "")] = ((t.text or "") if t is not None else "", t.get("type", "") if t is not None else "")
    ts = ET.Element("TS", version="2.1", language=language)
    ctx = ET.SubElement(ts, "context")
    ET.SubElement(ctx, "name").text = CONTEXT
    for source in strings + sorted(s for s in old if s not in strings and old[s][0]):
        m = ET.SubElement(ctx, "message")
        ET.SubElement(m, "source").text = source
        text, kind = old.get(source, ("", "unfinished"))
        t = ET.SubElement(m, "translation")
        if source not in strings:
            t.set("type", "obsolete")
        elif not text:
            t.set("type", "unfinished")
        elif kind == "unfinished":
            t.set("type", "unfinished")
        t.text = text or None
    ET.indent(ts)
    return b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + ET.tostring(ts, encoding="utf-8") + b"\n"


def lrelease() -> str:
    return shutil.which("lrelease") or "/usr/lib/qt5/bin/lrelease"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check that every .ts is current")
    ap.add_argument("--add", metavar="LANG", help="start the translation of language LANG (two letters)")
    args = ap.parse_args(argv)
    strings, problems = translatable()
    for p in problems:
        print(p, file=sys.stderr)
    files = sorted(glob.glob(os.path.join(I18N, "hls_translate_*.ts")))
    if args.add:
        files.append(os.path.join(I18N, f"hls_translate_{args.add}.ts"))
    stale = []
    for path in files:
        language = os.path.basename(path)[len("hls_translate_"):-3]
        doc = updated_ts(path, strings, language)
        current = open(path, "rb").read() if os.path.isfile(path) else b""
        if doc != current:
            stale.append(path)
            if not args.check:
                with open(path, "wb") as f:
                    f.write(doc)
        if not args.check:
            subprocess.run([lrelease(), "-silent", path, "-qm", path[:-3] + ".qm"], check=True)
            print(f"{os.path.relpath(path, ROOT)}: {len(strings)} strings; compiled {os.path.basename(path)[:-3]}.qm")
    if args.check and stale:
        print("not current (run scripts/update_translations.py): " + ", ".join(map(os.path.relpath, stale)),
              file=sys.stderr)
    return 1 if problems or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
