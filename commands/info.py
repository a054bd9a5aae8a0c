"""``hls-translate info MODEL.onnx [--json]``: print the metadata embedded in an exported model.

Reads the file with :func:`core.metadata.read_metadata` (a tiny protobuf reader: neither onnx,
onnxruntime nor torch is imported).  A file without hls_translate metadata, or with a schema newer than
this package understands, is refused (exit status 2, one-line message).
"""

from __future__ import annotations

import argparse
import json

from ..core.bands import band_class
from ..core.metadata import read_metadata
from ..core.text import printable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL.onnx", help="model exported with `hls-translate export`")
    parser.add_argument("--json", action="store_true", help="print the whole metadata document as JSON")


def describe(md) -> str:
    """Human-readable description: the summary, then normalization statistics and provenance."""
    lines = [md.summary()]
    if md.description:
        lines.append(f"description:   {md.description}")
    if md.created:
        lines.append(f"created:       {md.created}")
    lines.append(f"schema:        version {md.schema_version}")
    if md.normalization:
        lines.append("normalization (physical units):")
        for cid, st in sorted(md.normalization.items()):
            b = band_class(cid)
            lines.append(f"  {cid:2d} {b.key:<16s} mean {st.mean:<12.6g} std {st.std:<12.6g} [{b.units}]")
    if md.config:
        lines.append(f"config:        {json.dumps(dict(md.config), sort_keys=True)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    md = read_metadata(args.model)
    # the file's text never drives the terminal: control characters shown as escapes (JSON: \uXXXX)
    print(json.dumps(json.loads(md.to_json()), ensure_ascii=True, indent=1) if args.json else printable(describe(md)))
    return 0
