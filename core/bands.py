"""The band catalogue: physical band classes and how each sensor names them.

A :class:`BandClass` is one physical band (e.g. "NIR narrow, ~865 nm").  Its ``id`` is the class index
the models are conditioned on, so the list below is append-only: never reorder or renumber it.

A :class:`SensorBand` is one sensor's name for a band class (e.g. HLS S30 ``B8A`` and HLS L30 ``B05``
are both NIR narrow).  Sensors:

========  =========================================================================  =============
sensor    what                                                                       numbering
========  =========================================================================  =============
S30       HLS Sentinel-2 product S30 (MSI, 30 m, harmonized to Landsat)              Sentinel-2
L30       HLS Landsat 8/9 product L30 (OLI/TIRS, 30 m)                               Landsat
S2        Sentinel-2 MSI L1C/L2A as distributed by ESA (10/20/60 m)                  Sentinel-2
LANDSAT   Landsat 8/9 OLI/TIRS, Collections 1 and 2 (30 m, thermal 100 m)            Landsat
========  =========================================================================  =============

How each product stores a sensor's bands (file names, scale/offset, nodata, QA layers) is declared in
:mod:`.products`.

Band names in the wild are normalized before lookup: ``B1``, ``B01``, ``band1``, ``SR_B1`` and
``ST_B10`` all become ``B01``/``B10``.  Names such as ``B05`` mean different classes on the two
numberings; :func:`resolve_band` refuses to guess those without a sensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from .errors import AmbiguousBandError, UnknownBandError

#: HLS v2.0 fill value of every band stored as int16.
HLS_FILL = -9999
#: Storage scale of HLS reflectance bands (DN * 1e-4 = reflectance).
REFLECTANCE_SCALE = 1e-4
#: Storage scale of HLS thermal bands (DN * 0.01 = brightness temperature in degrees Celsius).
THERMAL_SCALE = 0.01


@dataclass(frozen=True)
class BandClass:
    """One physical band: the unit the models translate between."""

    id: int
    key: str
    name: str
    wavelength_nm: float
    quantity: str  # "reflectance" or "brightness_temperature"
    units: str  # "1" (unitless reflectance) or "degC"
    scale: float  # HLS storage scale: physical = DN * scale
    fill: int = HLS_FILL

    @property
    def is_thermal(self) -> bool:
        return self.quantity == "brightness_temperature"

    @property
    def physical_range(self) -> Tuple[float, float]:
        """Values a real pixel of this band can hold (physical units); anything outside is invalid.

        Reflectance: -0.5 .. 2.5 (surface reflectance dips a little below 0 after atmospheric
        correction and offsets; top-of-atmosphere reflectance of bright clouds at low sun exceeds 1).
        Brightness temperature: -150 .. 150 degC (Earth's surface and cloud tops lie well inside)."""
        return PHYSICAL_RANGES[self.quantity]

    def __str__(self) -> str:
        return self.key


#: Physical value ranges per quantity (see :attr:`BandClass.physical_range`).
PHYSICAL_RANGES: Dict[str, Tuple[float, float]] = {"reflectance": (-0.5, 2.5), "brightness_temperature": (-150.0, 150.0)}

_REFL = ("reflectance", "1", REFLECTANCE_SCALE)
_THERM = ("brightness_temperature", "degC", THERMAL_SCALE)

#: Every band class, indexed by id.  Append-only: ids are baked into trained models.
BAND_CLASSES: Tuple[BandClass, ...] = tuple(
    BandClass(i, key, name, wl, *kind)
    for i, (key, name, wl, kind) in enumerate(
        [
            ("coastal_aerosol", "Coastal aerosol", 442.7, _REFL),
            ("blue", "Blue", 492.4, _REFL),
            ("green", "Green", 559.8, _REFL),
            ("red", "Red", 664.6, _REFL),
            ("red_edge_1", "Red edge 1", 704.1, _REFL),
            ("red_edge_2", "Red edge 2", 740.5, _REFL),
            ("red_edge_3", "Red edge 3", 782.8, _REFL),
            ("nir_broad", "NIR broad", 832.8, _REFL),
            ("nir_narrow", "NIR narrow", 864.7, _REFL),
            ("water_vapour", "Water vapour", 945.1, _REFL),
            ("cirrus", "Cirrus", 1373.5, _REFL),
            ("swir_1", "SWIR 1", 1613.7, _REFL),
            ("swir_2", "SWIR 2", 2202.4, _REFL),
            ("thermal_1", "Thermal infrared 1", 10895.0, _THERM),
            ("thermal_2", "Thermal infrared 2", 12005.0, _THERM),
        ]
    )
)
NUM_CLASSES = len(BAND_CLASSES)
_BY_KEY: Dict[str, BandClass] = {b.key: b for b in BAND_CLASSES}


@dataclass(frozen=True)
class Sensor:
    """A band numbering: which code means which band class (each product's conventions: core.products)."""

    id: str
    name: str
    numbering: str  # "sentinel2" or "landsat"


SENSORS: Dict[str, Sensor] = {
    s.id: s
    for s in (
        Sensor("S30", "HLS S30 (Sentinel-2 MSI)", "sentinel2"),
        Sensor("L30", "HLS L30 (Landsat 8/9 OLI/TIRS)", "landsat"),
        Sensor("S2", "Sentinel-2 MSI L1C/L2A", "sentinel2"),
        Sensor("LANDSAT", "Landsat 8/9 OLI/TIRS", "landsat"),
    )
}


@dataclass(frozen=True)
class SensorBand:
    """One sensor's band: its code, physical class and native resolution."""

    sensor: str
    code: str  # normalized: B01..B12, B8A
    band_class: BandClass
    resolution_m: float
    wavelength_nm: float

    @property
    def label(self) -> str:
        """Short human label, e.g. ``B10 cirrus``."""
        name = self.band_class.name
        if not name[:2].isupper():  # "Red edge 1" -> "red edge 1"; acronyms (NIR, SWIR) stay
            name = name[0].lower() + name[1:]
        return f"{self.code} {name}"


# (code, class key, S2 resolution, S2 wavelength) for the Sentinel-2 numbering
_S2_TABLE = [
    ("B01", "coastal_aerosol", 60, 442.7),
    ("B02", "blue", 10, 492.4),
    ("B03", "green", 10, 559.8),
    ("B04", "red", 10, 664.6),
    ("B05", "red_edge_1", 20, 704.1),
    ("B06", "red_edge_2", 20, 740.5),
    ("B07", "red_edge_3", 20, 782.8),
    ("B08", "nir_broad", 10, 832.8),
    ("B8A", "nir_narrow", 20, 864.7),
    ("B09", "water_vapour", 60, 945.1),
    ("B10", "cirrus", 60, 1373.5),
    ("B11", "swir_1", 20, 1613.7),
    ("B12", "swir_2", 20, 2202.4),
]
# Landsat 8/9 OLI/TIRS numbering (B08 panchromatic has no class: HLS does not carry it)
_LANDSAT_TABLE = [
    ("B01", "coastal_aerosol", 30, 443.0),
    ("B02", "blue", 30, 482.0),
    ("B03", "green", 30, 561.5),
    ("B04", "red", 30, 654.5),
    ("B05", "nir_narrow", 30, 865.0),
    ("B06", "swir_1", 30, 1608.5),
    ("B07", "swir_2", 30, 2200.5),
    ("B09", "cirrus", 30, 1373.5),
    ("B10", "thermal_1", 100, 10895.0),
    ("B11", "thermal_2", 100, 12005.0),
]


def _sensor_bands() -> Dict[str, Dict[str, SensorBand]]:
    out: Dict[str, Dict[str, SensorBand]] = {}
    for sensor in SENSORS.values():
        table = _S2_TABLE if sensor.numbering == "sentinel2" else _LANDSAT_TABLE
        hls = sensor.id in ("S30", "L30")
        out[sensor.id] = {
            code: SensorBand(sensor.id, code, _BY_KEY[key], 30.0 if hls else float(res), wl)
            for code, key, res, wl in table
        }
    return out


SENSOR_BANDS: Dict[str, Dict[str, SensorBand]] = _sensor_bands()

_CODE_RE = re.compile(r"^(?:SR_|ST_|TOA_)?(?:B|BAND[ _]?)0*(\d{1,2})(A?)$")


def normalize_code(name: str) -> Optional[str]:
    """``B1``/``band1``/``SR_B1`` -> ``B01``, ``B8A`` -> ``B8A``; None if it is no band code."""
    m = _CODE_RE.match(name.strip().upper())
    if not m:
        return None
    num, a = int(m.group(1)), m.group(2)
    if a:
        return f"B{num}A" if num == 8 else None
    return f"B{num:02d}"


def band_class(key_or_id) -> BandClass:
    """The class with this id (int) or key (``"nir_narrow"``)."""
    if isinstance(key_or_id, BandClass):
        return key_or_id
    if isinstance(key_or_id, int):
        if 0 <= key_or_id < NUM_CLASSES:
            return BAND_CLASSES[key_or_id]
        raise UnknownBandError(f"no band class with id {key_or_id} (ids are 0..{NUM_CLASSES - 1})")
    return resolve_band(str(key_or_id))


def sensor(sensor_id: str) -> Sensor:
    s = SENSORS.get(sensor_id.strip().upper()) if sensor_id else None
    if s is None:
        raise UnknownBandError(f"unknown sensor {sensor_id!r}; known sensors: {', '.join(SENSORS)}")
    return s


def sensor_band(sensor_id: str, name: str) -> SensorBand:
    """The sensor's band called ``name`` (any spelling :func:`normalize_code` accepts)."""
    s = sensor(sensor_id)
    code = normalize_code(name)
    sb = SENSOR_BANDS[s.id].get(code) if code else None
    if sb is None:
        known = ", ".join(SENSOR_BANDS[s.id])
        extra = " (B08 is Landsat's panchromatic band, which HLS does not carry)" if (
            code == "B08" and s.numbering == "landsat") else ""
        raise UnknownBandError(f"{s.id} has no band {name!r}{extra}; its bands are: {known}")
    return sb


def sensor_band_for_class(sensor_id: str, cls) -> Optional[SensorBand]:
    """The sensor's band of this class, or None if the sensor does not measure it."""
    c = band_class(cls)
    for sb in SENSOR_BANDS[sensor(sensor_id).id].values():
        if sb.band_class == c:
            return sb
    return None


def band_label(cls, sensor_id: str = "") -> str:
    """``B10 cirrus``/``B8A NIR narrow`` in ``sensor_id``'s terms; the class key (``cirrus``, what users
    type) where the sensor is unknown or does not measure the class."""
    c = band_class(cls)
    if sensor_id and sensor_id in SENSORS:
        sb = sensor_band_for_class(sensor_id, c)
        if sb is not None:
            return sb.label
    return c.key


def known_band_names() -> List[str]:
    """Every name :func:`resolve_band` accepts without a sensor, for error messages."""
    names = [b.key for b in BAND_CLASSES]
    names += [f"{s}:{code}" for s, bands in SENSOR_BANDS.items() for code in bands]
    return names


def resolve_band(name: str, sensor_id: Optional[str] = None) -> BandClass:
    """Turn a band name into its :class:`BandClass`.

    Accepts a class key (``nir_narrow``) or name (``NIR narrow``), a sensor-qualified code
    (``S30:B8A``, ``L30.B05``), or a bare code (``B8A``, ``B5``) interpreted on ``sensor_id``.  A bare
    code that means different classes on the Sentinel-2 and Landsat numberings (``B05``) without a
    sensor raises :class:`AmbiguousBandError`; one that is unambiguous (``B8A``, ``B12``) resolves.
    """
    text = str(name).strip()
    low = text.lower().replace("-", "_")
    if low in _BY_KEY:
        return _BY_KEY[low]
    for b in BAND_CLASSES:
        if low == b.name.lower() or low.replace(" ", "_") == b.key:
            return b
    m = re.match(r"^([A-Za-z0-9]+)[:.](.+)$", text)
    if m and m.group(1).upper() in SENSORS:
        return sensor_band(m.group(1), m.group(2)).band_class
    code = normalize_code(text)
    if sensor_id and code is not None:
        return sensor_band(sensor_id, text).band_class
    if code is not None:
        meanings = {}
        for numbering, sid in (("sentinel2", "S30"), ("landsat", "L30")):
            sb = SENSOR_BANDS[sid].get(code)
            if sb is not None:
                meanings[numbering] = sb.band_class
        if len(set(meanings.values())) == 1:
            return next(iter(meanings.values()))
        if len(meanings) > 1:
            detail = "; ".join(f"{k} numbering: {v.key}" for k, v in meanings.items())
            raise AmbiguousBandError(
                f"band name {text!r} is ambiguous ({detail}); name the sensor "
                f"(e.g. S30:{code} or L30:{code}) or use the class name")
    raise UnknownBandError(
        f"unknown band {text!r}; known band names: {', '.join(known_band_names())}")


def equivalent_band(sensor_id: str, code: str, other_sensor: str) -> Optional[SensorBand]:
    """The band of ``other_sensor`` that measures what ``sensor_id``'s ``code`` measures.

    ``equivalent_band("L30", "B05", "S30")`` is S30 ``B8A`` (NIR narrow); None if there is none.
    """
    return sensor_band_for_class(other_sensor, sensor_band(sensor_id, code).band_class)


def common_bands(*sensor_ids: str) -> List[BandClass]:
    """Band classes that every named sensor measures, in class order."""
    sets = [{sb.band_class for sb in SENSOR_BANDS[sensor(s).id].values()} for s in sensor_ids]
    common = set.intersection(*sets) if sets else set()
    return sorted(common, key=lambda b: b.id)


def class_ids(bands: Iterable) -> Tuple[int, ...]:
    """Ids of the given classes/keys/ids, in the order given."""
    return tuple(band_class(b).id for b in bands)


def describe_catalogue() -> List[Mapping[str, object]]:
    """The catalogue as plain data (what model metadata embeds)."""
    out = []
    for b in BAND_CLASSES:
        out.append({
            "id": b.id, "key": b.key, "name": b.name, "wavelength_nm": b.wavelength_nm,
            "quantity": b.quantity, "units": b.units, "scale": b.scale, "fill": b.fill,
            "codes": {s: sb.code for s in SENSORS if (sb := sensor_band_for_class(s, b)) is not None},
        })
    return out
