#!/usr/bin/env python3
"""Write the algorithms' help pages (``help/<algorithm>.html``, what their Help button opens) from their
definitions, with QGIS headless:

    QT_QPA_PLATFORM=offscreen python scripts/build_help.py [--out help]

Run it after changing a parameter, its help or an algorithm's description; tests/qgis/test_help_i18n.py
fails while the committed pages are not current.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def algorithms():
    """The provider's algorithms, registered in a headless QGIS (English, whatever the locale)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], False)
        app.initQgis()
        algorithms.app = app  # kept alive
    from hls_translate.processing_provider.provider import HLSTranslateProvider

    reg = QgsApplication.processingRegistry()
    provider = reg.providerById("hls_translate")
    if provider is None:
        provider = HLSTranslateProvider()
        reg.addProvider(provider)
    return provider.algorithms()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "help"), help="folder of the pages (default: help/)")
    args = ap.parse_args(argv)
    from hls_translate.processing_provider.help import write_help

    for path in write_help(args.out, algorithms()):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
