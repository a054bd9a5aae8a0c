"""The bundled documentation the algorithms' Help button opens: one HTML page per algorithm in ``help/``.

A page is made from the algorithm's own definitions (descriptions, help strings, defaults, option names,
outputs), so it cannot drift from what the dialog and ``qgis_process help`` say;
``scripts/build_help.py`` writes the pages and a test checks the committed ones are current.
"""

from __future__ import annotations

import html
import os
from typing import List

from qgis.core import QgsProcessingParameterDefinition

from .choices import option_names
from .common import PROVIDER_ID

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:1em auto;line-height:1.4}"
         "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left}"
         "code{background:#f3f3f3}")


def _default(param) -> str:
    value = param.defaultValue()
    names = option_names(param)
    if names is not None and value is not None:
        values = value if isinstance(value, list) else [value]
        return ", ".join(names[int(v)] for v in values)
    if value in (None, ""):
        return "(empty)"
    return str(value)


def _options(param) -> str:
    names = option_names(param)
    if names is None:
        return ""
    return "<br>".join(f"<code>{html.escape(n)}</code> ({i}): {html.escape(label)}"
                       for i, (n, label) in enumerate(zip(names, param.options())))


def _example(alg) -> str:
    args = []
    for p in alg.parameterDefinitions():
        if p.flags() & QgsProcessingParameterDefinition.FlagOptional or p.defaultValue() not in (None, ""):
            continue
        args.append(f"{p.name()}=..." if p.type() != "multilayer" else f"{p.name()}=a.tif {p.name()}=b.tif")
    return f"qgis_process --json run {PROVIDER_ID}:{alg.name()} -- {' '.join(args)}"


def help_page(alg) -> str:
    """The HTML page of ``alg``."""
    e = html.escape
    rows = []
    for p in alg.parameterDefinitions():
        flags = [name for flag, name in ((QgsProcessingParameterDefinition.FlagOptional, "optional"),
                                         (QgsProcessingParameterDefinition.FlagAdvanced, "advanced"))
                 if p.flags() & flag]
        rows.append(f"<tr><td><code>{e(p.name())}</code></td><td>{e(p.description())}"
                    f"{' <i>(' + ', '.join(flags) + ')</i>' if flags else ''}</td><td>{e(p.type())}</td>"
                    f"<td>{e(_default(p))}</td><td>{e(p.help())}{'<br>' + _options(p) if option_names(p) else ''}"
                    "</td></tr>")
    outputs = "".join(f"<tr><td><code>{e(o.name())}</code></td><td>{e(o.description())}</td><td>{e(o.type())}</td></tr>"
                      for o in alg.outputDefinitions())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{e(alg.displayName())}</title><style>{STYLE}</style></head><body>
<h1>{e(alg.displayName())} <small>(<code>{PROVIDER_ID}:{e(alg.name())}</code>)</small></h1>
<p><b>{e(alg.shortDescription())}</b></p>
<p>{e(alg.summary())}</p>
<h2>Parameters</h2>
<p>Enum parameters take an option number or, from scripts and <code>qgis_process</code>, its name
(<code>RESAMPLING=bilinear</code>); several options are separated by commas.</p>
<table><tr><th>name</th><th>label</th><th>type</th><th>default</th><th>help and options</th></tr>
{''.join(rows)}
</table>
<h2>Outputs</h2>
<table><tr><th>name</th><th>description</th><th>type</th></tr>{outputs}</table>
<h2>From a shell</h2>
<pre>export QT_QPA_PLATFORM=offscreen
qgis_process plugins enable hls_translate
{e(_example(alg))}</pre>
<p>On failure the exit code is 1, the message is on stderr and, with <code>--json</code>, stdout holds
<code>{{"algorithm": ..., "error": ..., "inputs": ..., "results": {{}}}}</code>.</p>
</body></html>
"""


def write_help(folder: str, algorithms) -> List[str]:
    """Write ``<folder>/<algorithm name>.html`` for each algorithm; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for alg in sorted(algorithms, key=lambda a: a.name()):
        path = os.path.join(folder, f"{alg.name()}.html")
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(help_page(alg))
        paths.append(path)
    return paths
