"""Quality layers: what each kind's values mean, and which pixels they make unusable.

Every QA layer a product ships (see :mod:`.products`, which says which file is which kind) is declared
here once as a :class:`QAKind`: either bit fields (HLS Fmask, Landsat QA_PIXEL / BQA / pixel_qa) or
classes (Sentinel-2 SCL).  A pixel is unusable where the layer says it is outside the image (``fill``,
always) or where it carries any of the classes asked to be excluded (default: the kind's
``default_exclude``: clouds, cloud shadow, cirrus).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .errors import UnknownBandError


@dataclass(frozen=True)
class BitField:
    """A named flag of a bit-field QA layer: set where ``(value >> bit) & (2**width - 1) >= at_least``."""

    name: str
    bit: int
    width: int = 1
    at_least: int = 1

    def decode(self, values: np.ndarray) -> np.ndarray:
        return ((values >> self.bit) & ((1 << self.width) - 1)) >= self.at_least


@dataclass(frozen=True)
class QAKind:
    """One kind of QA layer.

    ``flags`` (bit fields) or ``classes`` (value -> name) say what the values mean; ``fill_value`` (a whole
    value) or ``fill_flag`` (a flag or class name) marks pixels outside the image, which are never usable.
    """

    name: str
    title: str
    default_exclude: Tuple[str, ...]
    flags: Tuple[BitField, ...] = ()
    classes: Mapping[int, str] = field(default_factory=dict)
    fill_value: Optional[int] = None
    fill_flag: str = ""

    @property
    def class_names(self) -> Tuple[str, ...]:
        return tuple(f.name for f in self.flags) if self.flags else tuple(self.classes.values())

    def decode(self, values: np.ndarray) -> Dict[str, np.ndarray]:
        """Named boolean layers, plus ``fill``; flags are False on fill pixels."""
        v = np.asarray(values)
        fill = (v == self.fill_value) if self.fill_value is not None else np.zeros(v.shape, bool)
        if self.flags:
            iv = v.astype(np.int64, copy=False)
            out = {f.name: f.decode(iv) & ~fill for f in self.flags}
        else:
            out = {name: (v == code) & ~fill for code, name in self.classes.items()}
        if self.fill_flag:
            fill = fill | out[self.fill_flag]
        out["fill"] = fill
        return out

    def invalid(self, values: np.ndarray, exclude: Optional[Sequence[str]] = None) -> np.ndarray:
        """True where the layer marks a pixel unusable: fill, or any of the ``exclude`` classes."""
        exclude = self.default_exclude if exclude is None else tuple(exclude)
        unknown = [e for e in exclude if e not in self.class_names]
        if unknown:
            raise UnknownBandError(
                f"unknown {self.name} class(es) {unknown}; known: {', '.join(self.class_names)}")
        d = self.decode(values)
        bad = d["fill"].copy()
        for name in exclude:
            bad |= d[name]
        return bad


#: HLS Fmask (v2.0; v1.4/v1.5 use the same bits): bits 6-7 together are the aerosol level.
FMASK = QAKind(
    "Fmask", "HLS Fmask", ("cirrus", "cloud", "adjacent", "cloud_shadow"),
    flags=(BitField("cirrus", 0),  # reserved in v2.0 (not set by the HLS processor), set in v1.5
           BitField("cloud", 1), BitField("adjacent", 2),  # adjacent to cloud or cloud shadow
           BitField("cloud_shadow", 3), BitField("snow_ice", 4), BitField("water", 5),
           BitField("aerosol_high", 6, 2, 3)),
    fill_value=255)

#: Sentinel-2 L2A scene classification.
SCL = QAKind(
    "SCL", "Sentinel-2 L2A scene classification",
    ("no_data", "saturated_defective", "cloud_shadow", "cloud_medium", "cloud_high", "thin_cirrus"),
    classes={0: "no_data", 1: "saturated_defective", 2: "dark_area", 3: "cloud_shadow", 4: "vegetation",
             5: "not_vegetated", 6: "water", 7: "unclassified", 8: "cloud_medium", 9: "cloud_high",
             10: "thin_cirrus", 11: "snow_ice"},
    fill_flag="no_data")

#: Landsat Collection 2 pixel quality (Level-1 and Level-2 ``QA_PIXEL``); confidences 3 = high.
QA_PIXEL = QAKind(
    "QA_PIXEL", "Landsat Collection 2 QA_PIXEL", ("dilated_cloud", "cirrus", "cloud", "cloud_shadow"),
    flags=(BitField("fill", 0), BitField("dilated_cloud", 1), BitField("cirrus", 2), BitField("cloud", 3),
           BitField("cloud_shadow", 4), BitField("snow", 5), BitField("clear", 6), BitField("water", 7),
           BitField("cloud_confidence_high", 8, 2, 3), BitField("cloud_shadow_confidence_high", 10, 2, 3),
           BitField("snow_ice_confidence_high", 12, 2, 3), BitField("cirrus_confidence_high", 14, 2, 3)),
    fill_flag="fill")

#: Landsat Collection 1 Level-1 quality band (``BQA``); the confidence fields count as set when high.
BQA = QAKind(
    "BQA", "Landsat Collection 1 BQA", ("cloud", "cloud_shadow", "cirrus"),
    flags=(BitField("fill", 0), BitField("terrain_occlusion", 1), BitField("saturated", 2, 2, 1),
           BitField("cloud", 4), BitField("cloud_shadow", 7, 2, 3), BitField("snow_ice", 9, 2, 3),
           BitField("cirrus", 11, 2, 3)),
    fill_flag="fill")

#: Landsat Collection 1 Level-2 (ESPA) ``pixel_qa``.
PIXEL_QA = QAKind(
    "pixel_qa", "Landsat Collection 1 Level-2 pixel_qa", ("cloud_shadow", "cloud", "cirrus"),
    flags=(BitField("fill", 0), BitField("clear", 1), BitField("water", 2), BitField("cloud_shadow", 3),
           BitField("snow", 4), BitField("cloud", 5), BitField("cloud_confidence_high", 6, 2, 3),
           BitField("cirrus", 8, 2, 3), BitField("terrain_occlusion", 10)),
    fill_flag="fill")

QA_KINDS: Mapping[str, QAKind] = {k.name: k for k in (FMASK, SCL, QA_PIXEL, BQA, PIXEL_QA)}


def qa_kind(name: str) -> QAKind:
    kind = QA_KINDS.get(name)
    if kind is None:
        raise UnknownBandError(f"unknown QA layer {name!r}; known: {', '.join(QA_KINDS)}")
    return kind


def qa_invalid(kind: str, values: np.ndarray, exclude: Optional[Sequence[str]] = None) -> np.ndarray:
    """True where a QA layer of ``kind`` marks a pixel unusable (``exclude`` None: the kind's defaults)."""
    return qa_kind(kind).invalid(values, exclude)


# --- HLS Fmask helpers (the aerosol level as a number) --------------------------------------------------
FMASK_FILL = FMASK.fill_value
AEROSOL_LEVELS = ("climatology", "low", "moderate", "high")


def decode_fmask(fmask: np.ndarray) -> Dict[str, np.ndarray]:
    """Decode an HLS Fmask array into named boolean layers plus ``aerosol_level`` (0..3) and ``fill``."""
    a = np.asarray(fmask)
    out = FMASK.decode(a)
    out["aerosol_level"] = np.where(out["fill"], 0, (a.astype(np.uint8, copy=False) >> 6) & 3).astype(np.uint8)
    return out


def fmask_invalid(fmask: np.ndarray, exclude: Sequence[str] = FMASK.default_exclude,
                  exclude_aerosol_high: bool = False) -> np.ndarray:
    """True where the Fmask marks a pixel as unusable: fill, or any of the ``exclude`` classes."""
    return FMASK.invalid(fmask, tuple(exclude) + (("aerosol_high",) if exclude_aerosol_high else ()))


def scl_invalid(scl: np.ndarray, exclude: Sequence[str] = SCL.default_exclude) -> np.ndarray:
    """True where a Sentinel-2 SCL layer marks a pixel as unusable."""
    return SCL.invalid(scl, exclude)
