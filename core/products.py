"""Every product this library reads, declared once: one :class:`Product` per product.

An entry says how the product's files are named, which of its layers are spectral bands, QA layers or
neither, how its stored numbers become physical values, what "no data" is, and its processing level.
Everything that needs a product's conventions reads them here: file-name parsing and grouping into
scenes (:mod:`.naming`), band scale/offset and nodata (:mod:`.sources`), QA detection (the decoding of
each QA kind is :mod:`.qa`).  A file's own scale/offset tags always win over the table's.

Physical values are the catalogue's (:mod:`.bands`): reflectance (unitless) and brightness temperature in
degrees Celsius; a product whose thermal numbers give Kelvin says so (``units="K"``) and is converted.

File-name patterns match whole base names, case-insensitively, with the groups ``scene`` (what the files
of one scene share), ``layer`` (absent: a multi-band file whose bands carry descriptions), and where the
name has them ``tile``, ``acquired`` (parsed with ``acquired_format``) and ``res`` (metres).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Pattern, Tuple

from .bands import HLS_FILL, REFLECTANCE_SCALE, THERMAL_SCALE

#: Band metadata keys under which rasters written by this library record each band's class and code.
BAND_CLASS_KEY = "HLS_TRANSLATE_BAND"
BAND_CODE_KEY = "HLS_TRANSLATE_CODE"
#: Band metadata keys holding the scale/offset of a band stored in its inputs' convention when that
#: convention states none in the file (Sentinel-2 DN; GDAL's own scale/offset tags would make QGIS show
#: the band in other units than its inputs): physical = DN * scale + offset.
SCALE_KEY = "HLS_TRANSLATE_SCALE"
OFFSET_KEY = "HLS_TRANSLATE_OFFSET"

#: How a band code is spelled in layer names and descriptions when no product says otherwise:
#: ``B5``, ``B05``, ``B8A``, and Landsat Collection 2 Level-2's ``SR_B5`` / ``ST_B10``.
GENERIC_BAND_LAYER = r"(?:SR_|ST_)?B\d{1,2}A?"

#: STAC asset names (the EO extension's common names as Earth Search, the USGS and Planetary Computer
#: name their assets; files downloaded from them keep the name: ``rededge1.tif``, ``<item>_nir08.tif``):
#: the band class each names, whatever the sensor.
STAC_BAND_NAMES: Mapping[str, str] = {
    "coastal": "coastal_aerosol", "blue": "blue", "green": "green", "red": "red",
    "rededge1": "red_edge_1", "rededge2": "red_edge_2", "rededge3": "red_edge_3",
    "nir": "nir_broad", "nir08": "nir_narrow", "nir09": "water_vapour", "cirrus": "cirrus",
    "swir16": "swir_1", "swir22": "swir_2", "lwir": "thermal_1", "lwir11": "thermal_1", "lwir12": "thermal_2",
}
#: STAC asset names of QA layers (-> QA kind) and of layers that are neither bands nor QA.
STAC_QA_NAMES: Mapping[str, str] = {"scl": "SCL", "qa_pixel": "QA_PIXEL", "fmask": "Fmask"}
STAC_OTHER_NAMES: Mapping[str, str] = {
    "visual": "true-colour image", "aot": "aerosol optical thickness", "wvp": "water vapour",
    "pan": "panchromatic band (not in the band catalogue)", "qa_radsat": "radiometric saturation",
    "qa_aerosol": "aerosol quality"}

#: The reflectance a band can physically have, as HLS v2.0 states its valid range (-100 .. 16000 at a
#: scale of 1e-4); outputs stored in a band's convention are clipped to it (see ``core.conventions``).
VALID_REFLECTANCE: Tuple[float, float] = (-0.01, 1.6)


@dataclass(frozen=True)
class Scaling:
    """Stored numbers to physical values: ``value = DN * scale + offset``, in ``units``."""

    scale: float
    offset: float = 0.0
    units: str = "1"  # "1" (reflectance), "degC" or "K" (thermal)


@dataclass(frozen=True)
class ScalingChange:
    """From processing baseline ``baseline`` on, the product's reflectance is scaled by ``reflectance``.

    ``baseline_in_path`` finds the baseline in a path (groups ``major``, ``minor``: ``_N0400_`` in a
    Sentinel-2 product name); where a path names none, the acquisition date decides: data acquired on or
    after ``since`` were first processed with the new baseline.
    """

    baseline: str  # "MM.mm"
    since: _dt.date
    reflectance: Scaling
    baseline_in_path: Pattern

    def applies(self, path: str, acquired: Optional[_dt.date]) -> bool:
        m = self.baseline_in_path.search(path)
        if m:
            return f"{m.group('major')}.{m.group('minor')}" >= self.baseline
        return acquired is not None and acquired >= self.since


@dataclass(frozen=True)
class Product:
    """One product's conventions (see the module docstring)."""

    key: str
    title: str
    sensor: str  # sensor id of its band numbering (core.bands.SENSORS)
    level: str  # "TOA" or "surface"; "" where the product does not tell
    reflectance: Optional[Scaling]  # None: calibrated from a metadata file (``calibration``)
    thermal: Optional[Scaling]
    nodata: Optional[float]  # fill of its integer bands where a file states none
    file_names: Tuple[Pattern, ...] = ()
    acquired_format: str = ""
    band_layers: Pattern = re.compile(r"(?P<code>B\d{2}|B8A)", re.IGNORECASE)  # group ``code``: the band code
    qa_layers: Mapping[str, str] = field(default_factory=dict)  # layer name -> QA kind (core.qa.QA_KINDS)
    other_layers: Mapping[str, str] = field(default_factory=dict)  # layer name -> what it is (not a band)
    calibration: str = ""  # "MTL": Level-1 DN calibrated with the scene's <scene>_MTL.txt beside the files
    scaling_changes: Tuple[ScalingChange, ...] = ()
    sensor_default: bool = False  # the entry for files of ``sensor`` whose names tell no product
    sensor_hint: Optional[Pattern] = None  # paths (upper case) that name the sensor without a parsable name
    distinctive_bands: bool = False  # its band layer names (``SR_B4``) belong to no other product
    # band classes that a surface-level product keeps at top of atmosphere (HLS: S30's water vapour and
    # cirrus, L30's cirrus are TOA reflectance beside surface-reflectance bands; HLS v2.0 user guide)
    toa_classes: Tuple[str, ...] = ()

    def band_level(self, class_key: str) -> str:
        """The processing level of one band class of this product: ``TOA`` for its ``toa_classes``, else
        the product's level ("" where it does not tell)."""
        return "TOA" if class_key in self.toa_classes else self.level

    def scaling(self, thermal: bool) -> Optional[Scaling]:
        return self.thermal if thermal else self.reflectance

    def qa_kind(self, layer: str) -> Optional[str]:
        return _lookup(self.qa_layers, layer)

    def other_layer(self, layer: str) -> Optional[str]:
        return _lookup(self.other_layers, layer)


def _lookup(table: Mapping[str, str], layer: str) -> Optional[str]:
    low = layer.lower()
    return next((v for k, v in table.items() if k.lower() == low), None)


def _names(*patterns: str) -> Tuple[Pattern, ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


_TIF = r"\.tiff?$"
_RAST = r"\.(?:tif|tiff|jp2)$"
_HLS_V2 = (r"^(?P<scene>HLS\.{}\.(?P<tile>T\d{{2}}[A-Z]{{3}})\.(?P<acquired>\d{{7}}T\d{{6}})\.v(?P<version>\d+\.\d+))"
           r"\.(?P<layer>[A-Z0-9]+)" + _TIF)
_HLS_V15 = (r"^(?P<scene>HLS\.{}\.(?P<tile>T\d{{2}}[A-Z]{{3}})\.(?P<acquired>\d{{7}})\.v(?P<version>1\.\d+))"
            r"(?:[._](?P<layer>[A-Z0-9]+))?" + _TIF)
_HLS_ANGLES = {"SAA": "sun azimuth angle", "SZA": "sun zenith angle", "VAA": "view azimuth angle",
               "VZA": "view zenith angle"}
_HLS_QA = {"Fmask": "Fmask"}
_HLS_REFL = Scaling(REFLECTANCE_SCALE)
_HLS_THERMAL = Scaling(THERMAL_SCALE, units="degC")

_S2_TILE = r"^(?P<scene>(?P<tile>T\d{2}[A-Z]{3})_(?P<acquired>\d{8})T\d{6})_(?P<layer>[A-Z0-9]{3})"
_S2_PRODUCT = r"^(?P<scene>S2[A-D]_MSIL{}_(?P<acquired>\d{{8}})T\d{{5,6}}(?:_[A-Z0-9]+)*?)_(?P<layer>[A-Z0-9]{{3}})"
#: tile files of SAFE products made before December 2016 (the acquisition date is not in the name)
_S2_OLD_L1C_TILE = r"^(?P<scene>S2[A-D]_OPER_MSI_L1C_TL_\w+?_A\d{6}_(?P<tile>T\d{2}[A-Z]{3}))(?:_N\d{2}\.\d{2})?_(?P<layer>[A-Z0-9]{3})"
_S2_RES = r"(?:_(?P<res>\d{2})m)?"  # Level-2A files of the 20 m and 60 m folders: ..._B05_20m.jp2
_S2_REFL = Scaling(REFLECTANCE_SCALE)
#: Processing baseline 04.00 (from 2022-01-25) stores reflectance with a +1000 DN offset.
_S2_BASELINE_04 = (ScalingChange("04.00", _dt.date(2022, 1, 25), Scaling(REFLECTANCE_SCALE, -0.1),
                                  re.compile(r"_N(?P<major>\d{2})(?P<minor>\d{2})_")),)
#: Sentinel-2 in a path: a product or platform name, or an MGRS tile and date (``T18SVG_20160112_``).
_S2_HINT = re.compile(r"(^|[^A-Z0-9])S2[ABCD]_|MSIL1C|MSIL2A|SENTINEL[-_ ]?2|(^|[/_ ])S2_|(^|[/ ])T\d{2}[A-Z]{3}_\d{8}")
_S2_L2A_OTHER = {"TCI": "true-colour image", "AOT": "aerosol optical thickness", "WVP": "water vapour"}

_LANDSAT_SCENE = r"^(?P<scene>L[COT]0[89]_{level}_\d{{6}}_(?P<acquired>\d{{8}})_\d{{8}}_{collection}_[A-Z0-9]{{2}})"
_LANDSAT_LAYER = r"(?:_(?P<layer>[A-Z0-9_]+?))?" + _TIF
_LANDSAT_L1_BANDS = re.compile(r"(?P<code>B\d{1,2})", re.IGNORECASE)
_LANDSAT_PAN = {"B8": "panchromatic band (not in the band catalogue)"}
_LANDSAT_ANGLES = {"VAA": "view azimuth angle", "VZA": "view zenith angle", "SAA": "sun azimuth angle",
                   "SZA": "sun zenith angle"}
_LANDSAT_HINT = re.compile(r"(^|[^A-Z0-9])L[COTE]0[89]_|LANDSAT")

#: HLS keeps these at top of atmosphere while its other reflective bands are surface reflectance.
_HLS_S30_TOA = ("water_vapour", "cirrus")
_HLS_L30_TOA = ("cirrus",)

#: The table.  Order matters where two entries match one name: the first that knows the layer wins.
PRODUCTS: Tuple[Product, ...] = (
    Product("hls_s30_v2", "HLS v2.0 S30 (Sentinel-2 MSI, harmonized)", "S30", "surface",
            _HLS_REFL, None, HLS_FILL, _names(_HLS_V2.format("S30")), "%Y%jT%H%M%S",
            qa_layers=_HLS_QA, other_layers=_HLS_ANGLES, sensor_default=True, toa_classes=_HLS_S30_TOA),
    Product("hls_l30_v2", "HLS v2.0 L30 (Landsat 8/9 OLI/TIRS, harmonized)", "L30", "surface",
            _HLS_REFL, _HLS_THERMAL, HLS_FILL, _names(_HLS_V2.format("L30")), "%Y%jT%H%M%S",
            qa_layers=_HLS_QA, other_layers=_HLS_ANGLES, sensor_default=True, toa_classes=_HLS_L30_TOA),
    # v1.5 granules were one HDF-EOS2 file; as GeoTIFF: one multi-band file (descriptions B01..) + _Fmask
    Product("hls_s30_v15", "HLS v1.5 S30", "S30", "surface", _HLS_REFL, None, HLS_FILL,
            _names(_HLS_V15.format("S30")), "%Y%j", qa_layers=_HLS_QA, other_layers=_HLS_ANGLES,
            toa_classes=_HLS_S30_TOA),
    Product("hls_l30_v15", "HLS v1.5 L30", "L30", "surface", _HLS_REFL, _HLS_THERMAL, HLS_FILL,
            _names(_HLS_V15.format("L30")), "%Y%j", qa_layers=_HLS_QA, other_layers=_HLS_ANGLES,
            toa_classes=_HLS_L30_TOA),
    # SAFE tile files T29RKH_20200219T112119_B05.jp2 (L1C) / ..._B05_20m.jp2 (L2A), or named after the product
    Product("s2_l1c", "Sentinel-2 MSI Level-1C (top of atmosphere)", "S2", "TOA", _S2_REFL, None, 0,
            _names(_S2_TILE + _RAST, _S2_PRODUCT.format("1C") + _RAST, _S2_OLD_L1C_TILE + _RAST), "%Y%m%d",
            other_layers={"TCI": "true-colour image", "PVI": "preview image"},
            scaling_changes=_S2_BASELINE_04),
    Product("s2_l2a", "Sentinel-2 MSI Level-2A (surface)", "S2", "surface", _S2_REFL, None, 0,
            _names(_S2_TILE + _S2_RES + _RAST, _S2_PRODUCT.format("2A") + _S2_RES + _RAST), "%Y%m%d",
            qa_layers={"SCL": "SCL"}, other_layers=_S2_L2A_OTHER, scaling_changes=_S2_BASELINE_04),
    Product("landsat_c2_l2", "Landsat 8/9 Collection 2 Level-2 (surface reflectance, surface temperature)",
            "LANDSAT", "surface", Scaling(2.75e-5, -0.2), Scaling(0.00341802, 149.0, "K"), 0,
            _names(_LANDSAT_SCENE.format(level="L2S[PR]", collection="02") + _LANDSAT_LAYER), "%Y%m%d",
            band_layers=re.compile(r"(?:SR|ST)_(?P<code>B\d{1,2})", re.IGNORECASE),
            qa_layers={"QA_PIXEL": "QA_PIXEL"},
            other_layers={"QA_RADSAT": "radiometric saturation", "SR_QA_AEROSOL": "aerosol quality",
                          **{f"ST_{k}": "surface temperature auxiliary layer" for k in (
                              "QA", "TRAD", "URAD", "DRAD", "ATRAN", "EMIS", "EMSD", "CDIST")}},
            distinctive_bands=True),
    Product("landsat_c2_l1", "Landsat 8/9 Collection 2 Level-1 (digital numbers)", "LANDSAT", "TOA",
            None, None, 0,
            _names(_LANDSAT_SCENE.format(level="L1(?:TP|GT|GS)", collection="02") + _LANDSAT_LAYER), "%Y%m%d",
            band_layers=_LANDSAT_L1_BANDS, qa_layers={"QA_PIXEL": "QA_PIXEL"},
            other_layers={**_LANDSAT_PAN, **_LANDSAT_ANGLES, "QA_RADSAT": "radiometric saturation"},
            calibration="MTL"),
    Product("landsat_c1_l1", "Landsat 8 Collection 1 Level-1 (digital numbers)", "LANDSAT", "TOA",
            None, None, 0,
            _names(_LANDSAT_SCENE.format(level="L1(?:TP|GT|GS)", collection="01") + _LANDSAT_LAYER), "%Y%m%d",
            band_layers=_LANDSAT_L1_BANDS, qa_layers={"BQA": "BQA"}, other_layers=_LANDSAT_PAN,
            calibration="MTL"),
    # ESPA surface reflectance: named like its Level-1 scene, layers sr_band4, bt_band10 (TOA brightness
    # temperature, 0.1 K), pixel_qa
    Product("landsat_c1_l2", "Landsat 8 Collection 1 Level-2 (ESPA surface reflectance)", "LANDSAT", "surface",
            Scaling(1e-4), Scaling(0.1, 0.0, "K"), HLS_FILL,
            _names(_LANDSAT_SCENE.format(level="L1(?:TP|GT|GS)", collection="01") + _LANDSAT_LAYER), "%Y%m%d",
            band_layers=re.compile(r"(?:sr|bt)_(?P<code>band\d{1,2})", re.IGNORECASE),
            qa_layers={"pixel_qa": "pixel_qa"},
            other_layers={"radsat_qa": "radiometric saturation", "sr_aerosol": "aerosol quality"},
            distinctive_bands=True),
    # files whose names tell no product: their sensor's conventions (DN x 1e-4 reflectance, nodata 0)
    Product("sentinel2", "Sentinel-2 MSI files (product not named)", "S2", "", _S2_REFL, None, 0,
            qa_layers={"SCL": "SCL"}, other_layers=_S2_L2A_OTHER, sensor_default=True, sensor_hint=_S2_HINT),
    Product("landsat", "Landsat 8/9 OLI/TIRS files (product not named)", "LANDSAT", "", _HLS_REFL,
            _HLS_THERMAL, 0, qa_layers={"QA_PIXEL": "QA_PIXEL", "BQA": "BQA"}, sensor_default=True,
            sensor_hint=_LANDSAT_HINT),
)

PRODUCTS_BY_KEY: Mapping[str, Product] = {p.key: p for p in PRODUCTS}


def product(key: str) -> Product:
    return PRODUCTS_BY_KEY[key]


def sensor_default(sensor: str) -> Optional[Product]:
    """The entry for files of ``sensor`` whose names tell no product (None for an unknown sensor)."""
    return next((p for p in PRODUCTS if p.sensor_default and p.sensor == sensor), None)


def qa_layer_names() -> Tuple[str, ...]:
    """Every QA layer name some product uses (``Fmask``, ``SCL``, ``QA_PIXEL``, ...)."""
    return tuple(dict.fromkeys(k for p in PRODUCTS for k in p.qa_layers))


def other_layer_names() -> Tuple[str, ...]:
    """Every non-spectral, non-QA layer name some product uses (``TCI``, ``SZA``, ``B8`` pan, ...)."""
    return tuple(dict.fromkeys(k for p in PRODUCTS for k in p.other_layers))
