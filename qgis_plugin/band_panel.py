"""The band table of the "Synthesize HLS band" dialog: the BAND_MAPPING parameter's widget.

Before anything runs it shows what each input layer was recognised as (band class, and what told it:
file name, band description, VRT source, mapping), which bands will be resampled onto which grid, QA
layers and files that give no band, and warnings (a band code read on a guessed sensor, targets the
model cannot make, a weak set of inputs for a target) - all from ``core.input_report``, the same reading
the run does.  It follows the INPUT, MODEL, TARGET_BANDS, SENSOR and RESAMPLING widgets.

The parameter's value stays the mapping text (``1=B04; x_B05.tif=B8A``) in the line edit above the
table; choosing a band in a row's "taken as" box writes that row's entry into it, and editing the text
updates the table, so the two never disagree.  In the batch dialog and the modeler the parameter gets
QGIS's own line edit (``widgets.standard_only``).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from processing.gui.wrappers import WidgetWrapper
from qgis.core import QgsProcessingContext, QgsProcessingUtils, QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import (QAbstractItemView, QAbstractScrollArea, QComboBox, QHeaderView, QLabel, QLineEdit,
                                 QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ..core import bands
from ..core.errors import HLSTranslateError
from ..core.input_report import InputReport, inspect_inputs
from ..processing_provider.common import tr
from .widgets import standard_only

#: the parameters the table follows (names of the synthesize_band algorithm's parameters)
FOLLOWED = ("INPUT", "MODEL", "TARGET_BANDS", "SENSOR", "RESAMPLING")
def columns() -> Tuple[str, ...]:
    return (tr("Layer"), tr("Band"), tr("Taken as"), tr("Told by"), tr("Pixel size"), tr("Notes"))



DETECTED = "(as detected)"
_ENTRY = re.compile(r"[;,\n]+")


def mapping_entries(text: str) -> Dict[str, str]:
    """``KEY=BAND`` entries of a mapping text, in order (malformed entries are kept under their text)."""
    out: Dict[str, str] = {}
    for entry in _ENTRY.split(text or ""):
        entry = entry.strip()
        if entry:
            key, _, band = entry.partition("=")
            out[key.strip()] = band.strip()
    return out


def mapping_text(entries: Dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" if v else k for k, v in entries.items())


class BandPanel(QWidget):
    """The mapping line edit, the band table and the warnings (see the module docstring)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(tr("empty: the bands as detected; or e.g. 1=B04; scene_B05.tif=B8A"))
        self.table = QTableWidget(0, len(columns()))
        self.table.setHorizontalHeaderLabels(list(columns()))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((190, 44, 190, 110, 70)):
            self.table.setColumnWidth(column, width)
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.AdjustIgnored)
        self.table.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.table.setFixedHeight(170)
        self.table.setTextElideMode(Qt.ElideMiddle)  # long layer names keep their band code
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.notes.setTextFormat(Qt.PlainText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.edit, self.table, self.notes):
            layout.addWidget(w)
        self.inputs = lambda: None  # -> (paths, names, sensor, resampling, targets, model) or None
        self.keys: List[str] = []  # mapping key of each table row
        self.report: Optional[InputReport] = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)
        self.edit.textChanged.connect(self.schedule)

    def schedule(self, *args) -> None:
        self._timer.start()

    def mapping(self) -> str:
        return self.edit.text().strip()

    def set_mapping(self, text: str) -> None:
        self.edit.setText(text or "")

    def refresh(self) -> None:
        """Read the inputs again and show what they are taken for."""
        from ..processing_provider.common import parse_band_mapping
        from ..processing_provider.synthesize_band import qgis_hints

        state = self.inputs()
        if state is None:
            self._show(InputReport(error=tr("choose the input band layers")), [])
            return
        paths, names, sensor, resampling, targets, model = state
        try:
            band_map = parse_band_mapping(self.mapping(), paths, names)
        except HLSTranslateError as exc:
            self._show(InputReport(error=str(exc)), [])
            return
        report = inspect_inputs(paths, names, band_map, sensor, resampling, targets, model, hints=qgis_hints())
        keys = [row.layer if len(paths) > 1 else str(row.band) for row in report.rows]
        self._show(report, keys)

    def _show(self, report: InputReport, keys: List[str]) -> None:
        self.report, self.keys = report, keys
        entries = mapping_entries(self.mapping())
        self.table.setRowCount(len(report.rows))
        for r, row in enumerate(report.rows):
            cells = (row.layer, str(row.band) if row.band else "", "", row.told_by, row.grid, row.note)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(r, c, item)
            self.table.setCellWidget(r, 2, self._chooser(row.taken_as, entries.get(keys[r]) if keys else None, r))
        lines = [f"{tr('Error')}: {report.error}"] if report.error else []
        lines += [f"{tr('Note')}: {w}" for w in report.warnings]
        self.notes.setText("\n".join(([report.summary] if report.summary else []) + lines))
        self.notes.setStyleSheet("color: #b00020;" if report.error else ("color: #8a5300;" if report.warnings else ""))

    def _chooser(self, taken_as: str, mapped: Optional[str], row: int) -> QComboBox:
        box = QComboBox()
        box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(12)
        box.addItem(_short(taken_as) if not mapped else DETECTED, "")
        for c in bands.BAND_CLASSES:
            box.addItem(c.key, c.key)
        if mapped:
            index = box.findData(bands.resolve_band(mapped).key) if _known(mapped) else -1
            box.setCurrentIndex(max(index, 0))
        box.setToolTip(tr("Choose the band this row holds; the band mapping above is updated."))
        box.currentIndexChanged.connect(lambda _i, b=box, r=row: self._chosen(r, b.currentData()))
        return box

    def _chosen(self, row: int, key: str) -> None:
        if not self.keys:
            return
        entries = mapping_entries(self.mapping())
        if key:
            entries[self.keys[row]] = key
        else:
            entries.pop(self.keys[row], None)
        self.set_mapping(mapping_text(entries))


def _short(taken_as: str) -> str:
    """``B01 coastal aerosol`` for ``B01 coastal aerosol (coastal_aerosol)``; other texts as they are."""
    head, _, key = taken_as.rpartition(" (")
    return head if head and key[:-1] in {c.key for c in bands.BAND_CLASSES} else taken_as


def _known(name: str) -> bool:
    try:
        bands.resolve_band(name)
        return True
    except HLSTranslateError:
        return False


@standard_only
class BandMappingWrapper(WidgetWrapper):
    """BAND_MAPPING's widget in the standard dialog: :class:`BandPanel` following the other widgets."""

    def createWidget(self):  # noqa: N802
        self.panel = BandPanel()
        self.panel.edit.textChanged.connect(lambda _t: self.widgetValueHasChanged.emit(self))
        self.followed: Dict[str, object] = {}
        return self.panel

    def setValue(self, value):  # noqa: N802
        self.panel.set_mapping(value or "")

    def value(self):
        return self.panel.mapping()

    def postInitialize(self, wrappers):  # noqa: N802
        self.followed = {w.parameterDefinition().name(): w for w in wrappers
                         if w.parameterDefinition().name() in FOLLOWED}
        for w in self.followed.values():
            w.widgetValueHasChanged.connect(self.panel.schedule)
        self.panel.inputs = self.current_inputs
        self.panel.schedule()

    def _value(self, name: str):
        w = self.followed.get(name)
        return w.parameterValue() if w is not None else None

    def current_inputs(self) -> Optional[Tuple]:
        """(paths, names, sensor, resampling, targets, model metadata) from the other widgets, or None."""
        from ..processing_provider.choices import chosen, option_names
        from ..processing_provider.common import raster_file, read_model

        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        layers = [QgsProcessingUtils.mapLayerFromString(str(v), context) for v in (self._value("INPUT") or [])]
        files = []
        for layer in layers:
            try:
                files.append((raster_file(layer, "INPUT"), layer.name()))
            except HLSTranslateError:
                continue
        if not files:
            return None
        names = {n: option_names(self.followed[n].parameterDefinition()) for n in FOLLOWED[2:] if n in self.followed}

        def option(name, default):
            value = self._value(name)
            return chosen(names[name], value) if name in names and value is not None else default

        sensor = option("SENSOR", ("auto",))[0]
        resampling = option("RESAMPLING", ("none",))[0]
        try:
            model = read_model(self._value("MODEL") or "").metadata
        except HLSTranslateError:
            model = None
        return ([p for p, _ in files], [n for _, n in files], None if sensor == "auto" else sensor,
                None if resampling == "none" else resampling, list(option("TARGET_BANDS", ())), model)
