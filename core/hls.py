"""HLS v2.0 file names, grouping of granule files into scenes, and the QA layers (Fmask, Sentinel-2 SCL).

HLS granule files are named ``HLS.<product>.<tile>.<YYYYDDD>T<HHMMSS>.v<major>.<minor>.<band>.tif``,
e.g. ``HLS.S30.T10SEG.2020273T184741.v2.0.B8A.tif``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from .bands import SENSOR_BANDS, SensorBand, guess_sensor, normalize_code, sensor_band
from .errors import FilenameError, UnknownBandError

_HLS_RE = re.compile(
    r"^HLS\.(?P<product>[SL]30)\.(?P<tile>T\d{2}[A-Z]{3})\.(?P<date>\d{7})T(?P<time>\d{6})"
    r"\.v(?P<version>\d+\.\d+)\.(?P<band>[A-Za-z0-9]+)\.(?P<ext>tif|tiff|TIF|TIFF)$")

#: Non-spectral layers of an HLS granule.
HLS_ANGLE_LAYERS = ("SAA", "SZA", "VAA", "VZA")


@dataclass(frozen=True)
class HLSName:
    """The parts of an HLS v2.0 granule file name."""

    product: str  # "S30" or "L30"
    tile: str  # MGRS tile with its T prefix, e.g. "T10SEG"
    acquired: _dt.datetime  # UTC
    version: str  # "2.0"
    band: str  # "B8A", "Fmask", "SAA", ...

    @property
    def granule_id(self) -> str:
        """The granule id shared by all band files of one scene."""
        return (f"HLS.{self.product}.{self.tile}.{self.acquired:%Y}{self.acquired.timetuple().tm_yday:03d}"
                f"T{self.acquired:%H%M%S}.v{self.version}")

    @property
    def is_spectral(self) -> bool:
        return self.band not in ("Fmask", *HLS_ANGLE_LAYERS)

    @property
    def sensor_band(self) -> SensorBand:
        """The spectral band this file holds (raises for Fmask and angle layers)."""
        return sensor_band(self.product, self.band)


def parse_hls_name(path: str) -> HLSName:
    """Parse an HLS v2.0 file name (a path is fine: only its last component is read)."""
    name = os.path.basename(str(path))
    m = _HLS_RE.match(name)
    if not m:
        raise FilenameError(
            f"{name!r} is not an HLS v2.0 file name "
            "(expected HLS.<S30|L30>.<Tile>.<YYYYDDD>T<HHMMSS>.v<X.Y>.<band>.tif)")
    band = m.group("band")
    if band.upper() == "FMASK":
        band = "Fmask"
    elif band.upper() in HLS_ANGLE_LAYERS:
        band = band.upper()
    else:
        code = normalize_code(band)
        if code is None or code not in SENSOR_BANDS[m.group("product")]:
            raise FilenameError(
                f"{name!r}: {m.group('product')} has no band {band!r} "
                f"(its bands are {', '.join(SENSOR_BANDS[m.group('product')])}, Fmask, "
                f"{', '.join(HLS_ANGLE_LAYERS)})")
        band = code
    try:
        day = _dt.datetime.strptime(m.group("date") + m.group("time"), "%Y%j%H%M%S")
    except ValueError as exc:
        raise FilenameError(f"{name!r}: invalid acquisition date/time ({exc})") from None
    return HLSName(m.group("product"), m.group("tile"), day, m.group("version"), band)


def is_hls_name(path: str) -> bool:
    return bool(_HLS_RE.match(os.path.basename(str(path))))


# --- per-band files of other products ---------------------------------------------------------------
_BAND_IN_NAME = re.compile(
    r"(?:^|[_.\-])((?:SR_|ST_)?B(?:\d{1,2}A?))(?:_\d+m)?$", re.IGNORECASE)


def band_code_from_filename(path: str) -> Optional[str]:
    """The band code a per-band file name ends with (``..._B05.tif``, ``B8A.tif``, ``..._SR_B5.TIF``,
    ``..._B05_20m.jp2``), normalized; HLS names are parsed properly.  None when the name has none."""
    base = os.path.basename(str(path))
    if is_hls_name(base):
        return parse_hls_name(base).band
    stem = os.path.splitext(base)[0]
    m = _BAND_IN_NAME.search(stem)
    return normalize_code(m.group(1)) if m else None


# --- scenes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GranuleFiles:
    """The files of one scene found on disk: spectral bands by code, plus QA layers."""

    scene_id: str
    sensor: str  # "S30", "L30", "S2", "LANDSAT" or "" when unknown
    bands: Mapping[str, str]  # normalized band code -> path
    qa: Mapping[str, str]  # "Fmask" / "SCL" -> path
    hls: Optional[HLSName] = None

    def paths(self) -> List[str]:
        return [*self.bands.values(), *self.qa.values()]


_RASTER_EXT = (".tif", ".tiff", ".jp2", ".vrt", ".img")


def _raster_files(folder: str) -> List[str]:
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder)
        if f.lower().endswith(_RASTER_EXT) and os.path.isfile(os.path.join(folder, f)))


def group_granules(paths_or_folder, sensor: Optional[str] = None) -> List[GranuleFiles]:
    """Group per-band files into scenes.

    HLS files group by granule id (product, tile, time, version).  Other per-band files (``<prefix>_B05.tif``
    or a folder of ``B05.tif``) group by their common prefix; their sensor is guessed from the names
    (:func:`hls_translate.core.bands.guess_sensor`) unless ``sensor`` is given.  Files that name no band
    are ignored.  Result sorted by scene id.
    """
    if isinstance(paths_or_folder, (str, os.PathLike)):
        folder = os.fspath(paths_or_folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no such folder: {folder}")
        paths = _raster_files(folder)
        hint = folder
    else:
        paths = [os.fspath(p) for p in paths_or_folder]
        hint = os.path.dirname(paths[0]) if paths else ""
    groups: Dict[str, Dict[str, object]] = {}
    for p in paths:
        base = os.path.basename(p)
        if is_hls_name(base):
            n = parse_hls_name(base)
            g = groups.setdefault(n.granule_id, {"sensor": n.product, "bands": {}, "qa": {}, "hls": n})
            if n.band == "Fmask":
                g["qa"]["Fmask"] = p
            elif n.is_spectral:
                g["bands"][n.band] = p
            continue
        stem = os.path.splitext(base)[0]
        if stem.upper() in ("SCL", "FMASK") or stem.upper().endswith(("_SCL", "_SCL_20M", "_FMASK")):
            key = stem[: -len(stem.split("_")[-1])].rstrip("_") if "_" in stem else ""
            g = groups.setdefault(key, {"sensor": None, "bands": {}, "qa": {}, "hls": None})
            g["qa"]["SCL" if "SCL" in stem.upper() else "Fmask"] = p
            continue
        code = band_code_from_filename(base)
        if code is None:
            continue
        m = _BAND_IN_NAME.search(stem)
        key = stem[: m.start()].rstrip("_.-")
        g = groups.setdefault(key, {"sensor": None, "bands": {}, "qa": {}, "hls": None})
        g["bands"][code] = p
    out = []
    for key, g in groups.items():
        if not g["bands"]:
            continue
        sid = sensor or g["sensor"] or guess_sensor(
            [os.path.basename(p) for p in g["bands"].values()] + list(g["bands"]), hint=key or hint) or ""
        scene_id = key or os.path.basename(os.path.normpath(hint)) or "scene"
        out.append(GranuleFiles(scene_id, sid, dict(sorted(g["bands"].items())), dict(g["qa"]), g["hls"]))
    return sorted(out, key=lambda s: s.scene_id)


# --- QA layers --------------------------------------------------------------------------------------
#: HLS v2.0 Fmask bits (bit number -> name).  Bits 6-7 together are the aerosol level.
FMASK_BITS: Mapping[int, str] = {
    0: "cirrus",  # reserved in v2.0 (not set by the HLS processor), kept for completeness
    1: "cloud",
    2: "adjacent",  # adjacent to cloud or cloud shadow
    3: "cloud_shadow",
    4: "snow_ice",
    5: "water",
}
FMASK_FILL = 255
AEROSOL_LEVELS = ("climatology", "low", "moderate", "high")
#: Fmask classes that make a pixel unusable by default.
DEFAULT_FMASK_EXCLUDE = ("cirrus", "cloud", "adjacent", "cloud_shadow")


def decode_fmask(fmask: np.ndarray) -> Dict[str, np.ndarray]:
    """Decode an HLS Fmask array into named boolean layers plus ``aerosol_level`` (0..3) and ``fill``."""
    a = np.asarray(fmask)
    fill = a == FMASK_FILL
    v = a.astype(np.uint8, copy=False)
    out: Dict[str, np.ndarray] = {name: ((v >> bit) & 1).astype(bool) & ~fill for bit, name in FMASK_BITS.items()}
    out["aerosol_level"] = np.where(fill, 0, (v >> 6) & 3).astype(np.uint8)
    out["fill"] = fill
    return out


def fmask_invalid(fmask: np.ndarray, exclude: Sequence[str] = DEFAULT_FMASK_EXCLUDE,
                  exclude_aerosol_high: bool = False) -> np.ndarray:
    """True where the Fmask marks a pixel as unusable: fill, or any of the ``exclude`` classes."""
    unknown = [e for e in exclude if e not in FMASK_BITS.values()]
    if unknown:
        raise UnknownBandError(
            f"unknown Fmask class(es) {unknown}; known: {', '.join(FMASK_BITS.values())}")
    d = decode_fmask(fmask)
    bad = d["fill"].copy()
    for name in exclude:
        bad |= d[name]
    if exclude_aerosol_high:
        bad |= d["aerosol_level"] == 3
    return bad


#: Sentinel-2 L2A scene classification (SCL) values.
SCL_CLASSES: Mapping[int, str] = {
    0: "no_data", 1: "saturated_defective", 2: "dark_area", 3: "cloud_shadow", 4: "vegetation",
    5: "not_vegetated", 6: "water", 7: "unclassified", 8: "cloud_medium", 9: "cloud_high",
    10: "thin_cirrus", 11: "snow_ice",
}
DEFAULT_SCL_EXCLUDE = ("no_data", "saturated_defective", "cloud_shadow", "cloud_medium", "cloud_high",
                       "thin_cirrus")


def scl_invalid(scl: np.ndarray, exclude: Sequence[str] = DEFAULT_SCL_EXCLUDE) -> np.ndarray:
    """True where a Sentinel-2 SCL layer marks a pixel as unusable."""
    codes = {v: k for k, v in SCL_CLASSES.items()}
    unknown = [e for e in exclude if e not in codes]
    if unknown:
        raise UnknownBandError(f"unknown SCL class(es) {unknown}; known: {', '.join(codes)}")
    return np.isin(np.asarray(scl), [codes[e] for e in exclude])


def qa_invalid(kind: str, values: np.ndarray, exclude: Optional[Sequence[str]] = None) -> np.ndarray:
    """Dispatch to :func:`fmask_invalid` (``kind="Fmask"``) or :func:`scl_invalid` (``"SCL"``)."""
    if kind == "Fmask":
        return fmask_invalid(values, DEFAULT_FMASK_EXCLUDE if exclude is None else exclude)
    if kind == "SCL":
        return scl_invalid(values, DEFAULT_SCL_EXCLUDE if exclude is None else exclude)
    raise UnknownBandError(f"unknown QA layer {kind!r}; known: Fmask, SCL")

