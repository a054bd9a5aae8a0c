"""Which band each band of a file is, and how its stored numbers become physical values.

A :class:`BandSource` is one band of one file with everything a read needs: its band class, nodata,
and the conversion to physical units.  :func:`band_sources_of` identifies the bands of a file (a band
mapping, this library's own band tags, band descriptions, the file name) and takes the conversion, in
this order, from: the file's scale/offset tags (they always win), the raw values themselves when they
are floating point, the product's calibration file (Landsat Level-1: the MTL), or the product table
(:mod:`.products`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import bands as _bands
from .backends import RasterInfo, raster_info
from .bands import BandClass, resolve_band
from .errors import AmbiguousBandError, BandError, CalibrationError, RasterError, UnknownBandError
from .grid import Grid
from .naming import BAND, STACK, ProductFile, guess_sensor, identify_file, product_of_band_layer
from .products import BAND_CLASS_KEY, BAND_CODE_KEY, Product, Scaling, sensor_default

_KELVIN = 273.15


@dataclass(frozen=True)
class BandSource:
    """One band of one file, with what is needed to turn its numbers into physical values.

    ``value = DN * scale + offset``; for a Level-1 thermal band that is radiance, turned into brightness
    temperature (degC) with the Planck constants ``thermal_k1k2`` (K1, K2 from the MTL file).
    """

    path: str
    index: int  # 1-based band number in the file
    band: BandClass
    sensor: str  # sensor id or "" when unknown
    code: str  # sensor band code ("B8A") or "" when named by class
    grid: Grid
    dtype: str  # numpy dtype name of the stored values
    nodata: Optional[float]
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""
    thermal_k1k2: Optional[Tuple[float, float]] = None
    product: str = ""  # key of its product in core.products.PRODUCTS, "" when unknown

    @property
    def label(self) -> str:
        base = f"{self.code} {self.band.name}" if self.code else self.band.name
        return f"{base} ({os.path.basename(self.path)} band {self.index})"

    def is_nodata(self, raw: np.ndarray) -> np.ndarray:
        """True where the stored value is the nodata value."""
        if self.nodata is None or math.isnan(self.nodata):
            return np.zeros(raw.shape, dtype=bool)
        return raw == self.nodata

    def physical(self, raw: np.ndarray) -> np.ndarray:
        """Stored values -> physical values (float32; NaN where the conversion has none)."""
        values = raw.astype(np.float32)
        if self.scale != 1.0:
            values *= np.float32(self.scale)
        if self.offset != 0.0:
            values += np.float32(self.offset)
        if self.thermal_k1k2 is not None:
            k1, k2 = self.thermal_k1k2
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(values > 0, k2 / np.log(k1 / values + 1.0) - _KELVIN, np.nan).astype(np.float32)
        return values


@dataclass(frozen=True)
class QASource:
    """A QA layer (HLS ``Fmask``, Sentinel-2 ``SCL``, Landsat ``QA_PIXEL`` / ``BQA``) that masks pixels."""

    path: str
    kind: str  # a core.qa.QA_KINDS name
    grid: Grid
    index: int = 1
    exclude: Optional[Tuple[str, ...]] = None  # classes that make a pixel invalid; None: the defaults


# --- Landsat Level-1 calibration -----------------------------------------------------------------------
def read_mtl(path: str) -> Dict[str, str]:
    """The ``KEY = value`` pairs of a Landsat MTL text file (groups flattened, quotes removed)."""
    out: Dict[str, str] = {}
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            key, sep, value = line.partition("=")
            if sep and key.strip() not in ("GROUP", "END_GROUP"):
                out[key.strip()] = value.strip().strip('"')
    return out


def find_mtl(path: str, scene_id: str) -> Optional[str]:
    """The scene's ``<scene_id>_MTL.txt`` beside ``path`` (any letter case), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    want = f"{scene_id}_MTL.txt".lower()
    return next((os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.lower() == want), None)


def _mtl_number(mtl: Mapping[str, str], key: str, mtl_path: str) -> float:
    try:
        return float(mtl[key])
    except (KeyError, ValueError):
        raise CalibrationError(f"{mtl_path} has no usable {key}") from None


@dataclass(frozen=True)
class Calibration:
    """How one band's stored numbers become physical values (see :class:`BandSource`)."""

    scale: float = 1.0
    offset: float = 0.0
    thermal_k1k2: Optional[Tuple[float, float]] = None


def mtl_calibration(mtl: Mapping[str, str], mtl_path: str, cls: BandClass, code: str) -> Calibration:
    """The calibration of Landsat band ``code`` from its scene's MTL.

    Reflective bands: TOA reflectance = (M * DN + A) / sin(sun elevation), i.e. scale M / sin(e) and
    offset A / sin(e).  Thermal bands: radiance M_L * DN + A_L, brightness temperature K2 / ln(K1 / L + 1).
    """
    n = int(code[1:])
    if cls.is_thermal:
        return Calibration(_mtl_number(mtl, f"RADIANCE_MULT_BAND_{n}", mtl_path),
                           _mtl_number(mtl, f"RADIANCE_ADD_BAND_{n}", mtl_path),
                           (_mtl_number(mtl, f"K1_CONSTANT_BAND_{n}", mtl_path),
                            _mtl_number(mtl, f"K2_CONSTANT_BAND_{n}", mtl_path)))
    sin_e = math.sin(math.radians(_mtl_number(mtl, "SUN_ELEVATION", mtl_path)))
    if sin_e <= 0:
        raise CalibrationError(f"{mtl_path}: SUN_ELEVATION {mtl['SUN_ELEVATION']} (sun below the horizon)")
    return Calibration(_mtl_number(mtl, f"REFLECTANCE_MULT_BAND_{n}", mtl_path) / sin_e,
                       _mtl_number(mtl, f"REFLECTANCE_ADD_BAND_{n}", mtl_path) / sin_e)


class _Calibrator:
    """Turns one file's band identities into scale/offset, reading an MTL at most once."""

    def __init__(self, path: str, info: RasterInfo, named: Optional[ProductFile]):
        self.path, self.info, self.named = path, info, named
        self._mtl: Optional[Tuple[str, Dict[str, str]]] = None

    def mtl(self, product: Product) -> Tuple[str, Dict[str, str]]:
        if self._mtl is None:
            scene = self.named.scene_id if self.named else os.path.splitext(os.path.basename(self.path))[0]
            found = find_mtl(self.path, scene)
            if found is None:
                raise CalibrationError(
                    f"{self.path}: {product.title} stores digital numbers; their reflectance and brightness "
                    f"temperature come from the scene's {scene}_MTL.txt, which is not beside the file. Put the "
                    "MTL file there, or state each band's scale/offset in the file (gdal_edit.py -scale -offset)")
            self._mtl = (found, read_mtl(found))
        return self._mtl

    def __call__(self, i: int, cls: BandClass, product: Optional[Product], ours: bool) -> Calibration:
        """Band ``i`` (0-based) as class ``cls``; ``ours``: written by this library (its tags are in degC)."""
        info = self.info
        s, o = info.scales[i], info.offsets[i]
        if s is not None or (o not in (None, 0.0)):
            s, o = (1.0 if s is None else float(s)), (0.0 if o is None else float(o))
            stated = product.scaling(cls.is_thermal) if (product is not None and not ours) else None
            if cls.is_thermal and stated is not None and stated.units == "K":
                o -= _KELVIN
            return Calibration(s, o)
        if not np.issubdtype(np.dtype(info.dtypes[i]), np.integer):
            return Calibration()  # floating point without a stated scale: already physical
        if product is not None and product.calibration == "MTL":
            sb = _bands.sensor_band_for_class(product.sensor, cls)
            if sb is None:
                raise CalibrationError(f"{self.path} band {i + 1}: {product.title} has no {cls.key} band to "
                                       "calibrate")
            mtl_path, mtl = self.mtl(product)
            return mtl_calibration(mtl, mtl_path, cls, sb.code)
        scaling = product.scaling(cls.is_thermal) if product is not None else None
        if scaling is None:
            return Calibration(cls.scale)
        scaling = self._changed(product, scaling) if not cls.is_thermal else scaling
        return Calibration(scaling.scale, scaling.offset - (_KELVIN if scaling.units == "K" else 0.0))

    def _changed(self, product: Product, scaling: Scaling) -> Scaling:
        """The reflectance scaling of the product's processing baseline (or acquisition date)."""
        acquired = self.named.acquired.date() if self.named and self.named.acquired else None
        for change in product.scaling_changes:
            if change.applies(self.path, acquired):
                scaling = change.reflectance
        return scaling


# --- band identification -------------------------------------------------------------------------------
def _band_from_text(text: str, sensor: Optional[str],
                    product: Optional[Product] = None) -> Optional[Tuple[BandClass, str]]:
    """(class, sensor code) named by a band description or metadata value, or None if it names none."""
    text = text.strip()
    if not text:
        return None
    m = product.band_layers.fullmatch(text) if product is not None else None
    candidates = [m.group("code")] if m else []
    candidates += [text, text.split()[0], text.split("(")[0].strip()]
    for cand in dict.fromkeys(candidates):
        try:
            cls = resolve_band(cand, sensor) if _bands.normalize_code(cand) else resolve_band(cand)
        except AmbiguousBandError:
            raise
        except BandError:
            continue
        code = _bands.normalize_code(cand) or ""
        if not code and sensor:
            sb = _bands.sensor_band_for_class(sensor, cls)
            code = sb.code if sb else ""
        return cls, code
    return None


BandMap = Mapping[Union[int, str], str]


def band_sources_of(path: str, sensor: Optional[str] = None, band_map: Optional[BandMap] = None,
                    info: Optional[RasterInfo] = None) -> List[BandSource]:
    """The band sources a file holds.

    Bands are identified, in order: by ``band_map`` (``{1: "B04", 2: "nir_narrow"}`` for a multi-band file,
    ``{"": "B05"}`` or ``{path: "B05"}`` for a single-band file), by the ``HLS_TRANSLATE_BAND`` metadata
    this library writes, by the band description, and for single-band files by the file name (HLS names,
    ``..._B05.tif``).  Bands identified by none of these are skipped unless ``band_map`` names them; a
    file whose name says it is a QA or other non-spectral layer has none.
    """
    info = info or raster_info(path)
    base = os.path.basename(path)
    named = identify_file(path)
    if named is not None and named.role not in (BAND, STACK):
        return []
    file_product = named.product if named else None
    if sensor is None:
        if file_product is not None:
            sensor = file_product.sensor
        else:
            names = [d for d in info.descriptions if d]
            sensor = guess_sensor(names + ([named.code] if named and named.code else []), hint=path)
    sensor = _bands.sensor(sensor).id if sensor else ""
    for i, dtype in enumerate(info.dtypes):
        if np.issubdtype(np.dtype(dtype), np.complexfloating):
            raise RasterError(f"{path} band {i + 1} holds complex numbers ({dtype}); band synthesis reads real-valued "
                              "bands (take the amplitude or the real part first, e.g. with gdal_calc)")
    for key in (band_map or {}):
        number = key if isinstance(key, int) else (int(key) if isinstance(key, str) and key.isdigit() else None)
        if number is not None and not 1 <= number <= info.count:
            raise UnknownBandError(f"{path}: the band mapping names band {number}, but the file has "
                                   f"{info.count} band{'s' if info.count != 1 else ''} (numbered 1..{info.count})")
    calibrate = _Calibrator(path, info, named)
    out: List[BandSource] = []
    for i in range(info.count):
        explicit = None
        if band_map:
            explicit = band_map.get(i + 1, band_map.get(str(i + 1)))
            if explicit is None and info.count == 1:
                explicit = band_map.get("", band_map.get(path, band_map.get(base)))
        found: Optional[Tuple[BandClass, str]] = None
        layer = ""
        ours = bool(info.band_metadata[i].get(BAND_CLASS_KEY))
        if explicit is not None:
            found = _band_from_text(str(explicit), sensor or None, file_product)
            if found is None:
                raise UnknownBandError(
                    f"{path} band {i + 1}: unknown band {explicit!r}; known: {', '.join(_bands.known_band_names())}")
            layer = str(explicit)
        elif ours:
            found = (resolve_band(info.band_metadata[i][BAND_CLASS_KEY]), info.band_metadata[i].get(BAND_CODE_KEY, ""))
        elif info.descriptions[i]:
            found = _band_from_text(info.descriptions[i], sensor or None, file_product)
            layer = info.descriptions[i].split()[0]
        if found is None and info.count == 1 and named is not None and named.role == BAND:
            found = (resolve_band(named.code, sensor or None), named.code)
            layer = named.layer
        if found is None or (band_map and explicit is None):
            continue  # an explicit mapping names exactly the bands to use
        cls, code = found
        product = file_product or product_of_band_layer(layer) or sensor_default(sensor)
        cal = calibrate(i, cls, product, ours)
        nodata = info.nodata[i]
        if nodata is None and product is not None and np.issubdtype(np.dtype(info.dtypes[i]), np.integer):
            nodata = product.nodata
        out.append(BandSource(path=path, index=i + 1, band=cls, sensor=sensor, code=code, grid=info.grid,
                              dtype=info.dtypes[i], nodata=None if nodata is None else float(nodata),
                              scale=cal.scale, offset=cal.offset, description=info.descriptions[i],
                              thermal_k1k2=cal.thermal_k1k2,
                              product=product.key if product is not None else ""))
    return out
