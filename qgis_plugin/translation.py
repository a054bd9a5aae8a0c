"""The plugin's translations: one context for every string, and the translator of the user's language.

Every user-visible string of the plugin is written as a literal inside ``tr("...")`` (never a variable or
an f-string), so ``scripts/update_translations.py`` finds them all and writes them into the
``i18n/hls_translate_<language>.ts`` files that translators edit (Qt Linguist); ``lrelease`` compiles
those into the ``.qm`` files the plugin loads (see i18n/README.md).
"""

from __future__ import annotations

import os

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication, QTranslator

#: the translation context of every string of the plugin
CONTEXT = "hls_translate"
I18N_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "i18n")


def tr(text: str) -> str:
    """``text`` in the user's language; called with string literals only."""
    return QCoreApplication.translate(CONTEXT, text)


def user_locale() -> str:
    """The two-letter language of QGIS's user interface."""
    return str(QgsApplication.locale() or "")[:2]


def load_translator(locale: str):
    """Install the translator of ``locale`` when ``i18n/hls_translate_<locale>.qm`` exists; returns it
    (keep it: Qt does not own it) or None."""
    path = os.path.join(I18N_DIR, f"hls_translate_{locale}.qm")
    if not locale or not os.path.isfile(path):
        return None
    translator = QTranslator()
    if not translator.load(path):
        return None
    QCoreApplication.installTranslator(translator)
    return translator
