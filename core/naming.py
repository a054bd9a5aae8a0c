"""What file names say: the product, scene, layer and band of a file, and files grouped into scenes.

Every rule comes from the product table (:mod:`.products`).  A name that follows a product's pattern
(``HLS.S30.T29RKH.2020050T112119.v2.0.B02.tif``, ``T29RKH_20200219T112119_SCL_20m.jp2``,
``LC08_L2SP_..._SR_B4.TIF``) is parsed by it; any other name is read by the generic rule: a layer name at
its end (``<prefix>_B05.tif``, ``B8A.tif``, ``<prefix>_SCL_20m.tif``, or a STAC asset name such as
``rededge1.tif`` / ``<item>_nir08.tif``), the part before it naming the scene.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from .bands import SENSOR_BANDS, SensorBand, normalize_code, sensor_band
from .errors import BandError, FilenameError
from .products import (GENERIC_BAND_LAYER, PRODUCTS, STAC_BAND_NAMES, STAC_OTHER_NAMES, STAC_QA_NAMES, Product,
                       other_layer_names, qa_layer_names, sensor_default)

#: What a file is to a scene.
BAND, QA, OTHER, STACK = "band", "qa", "other", "stack"
#: Extensions of the raster files a folder scan considers.
RASTER_EXTENSIONS = (".tif", ".tiff", ".jp2", ".vrt", ".img")


@dataclass(frozen=True)
class ProductFile:
    """What a file's name says about it.

    ``role``: ``band`` (one spectral band, ``code``), ``qa`` (a QA layer of kind ``qa_kind``), ``other``
    (a layer that is neither, ``what`` says what), or ``stack`` (a multi-band file of a known product,
    whose bands carry descriptions).  ``product`` is None for names read by the generic rule, unless
    their band layer is spelled as only one product spells it (``SR_B4``).
    """

    path: str
    product: Optional[Product]
    scene_id: str  # what the files of one scene share ("" for a bare ``B05.tif``)
    layer: str  # the layer as the product spells it ("B8A", "SR_B4", "Fmask"); "" for a stack
    role: str
    code: str = ""  # normalized band code for a band
    band_key: str = ""  # the band class a sensor-neutral layer name (a STAC asset name) gives, else ""
    qa_kind: str = ""
    what: str = ""
    resolution_m: Optional[int] = None
    acquired: Optional[_dt.datetime] = None
    tile: str = ""
    version: str = ""

    @property
    def sensor(self) -> str:
        return self.product.sensor if self.product else ""

    @property
    def is_spectral(self) -> bool:
        return self.role == BAND

    @property
    def band_name(self) -> str:
        """What names the band: its code, or its class key for a sensor-neutral (STAC) name."""
        return self.code or self.band_key

    @property
    def sensor_band(self) -> SensorBand:
        """The spectral band this file holds, on its product's numbering (raises for other layers)."""
        return sensor_band(self.sensor, self.code or self.layer)


@dataclass(frozen=True)
class _Layer:
    """What a product makes of a layer name: its role and, by role, the band code, QA kind or what it is."""

    role: str
    layer: str  # as the product spells it
    code: str = ""
    qa_kind: str = ""
    what: str = ""


def _canonical(table: Mapping[str, str], layer: str) -> str:
    return next(k for k in table if k.lower() == layer.lower())


def _layer_role(p: Product, name: str, layer: str) -> Tuple[Optional[_Layer], str]:
    """(the layer, "") if ``p`` knows ``layer``; else (None, why it refuses it, or "" if it just does not know)."""
    if not layer:
        return _Layer(STACK, ""), ""
    kind = p.qa_kind(layer)
    if kind is not None:
        return _Layer(QA, _canonical(p.qa_layers, layer), qa_kind=kind), ""
    what = p.other_layer(layer)
    if what is not None:
        return _Layer(OTHER, _canonical(p.other_layers, layer), what=what), ""
    m = p.band_layers.fullmatch(layer)
    code = normalize_code(m.group("code")) if m else None
    if code is not None and code in SENSOR_BANDS[p.sensor]:
        return _Layer(BAND, layer, code=code), ""
    if code is not None:
        return None, (f"{name!r}: {p.sensor} has no band {layer!r} (its bands are "
                      f"{', '.join(SENSOR_BANDS[p.sensor])}; other layers: "
                      f"{', '.join([*p.qa_layers, *p.other_layers])})")
    return None, ""


def _by_product(name: str, path: str) -> Optional[ProductFile]:
    unknown: Optional[ProductFile] = None
    refusal = ""
    for p in PRODUCTS:
        for pattern in p.file_names:
            m = pattern.match(name)
            if not m:
                continue
            groups = m.groupdict()
            acquired = None
            if groups.get("acquired"):
                try:
                    acquired = _dt.datetime.strptime(groups["acquired"].upper(), p.acquired_format)
                except ValueError as exc:
                    raise FilenameError(f"{name!r}: invalid acquisition date/time ({exc})") from None
            layer = groups.get("layer") or ""
            known, why = _layer_role(p, name, layer)
            res = int(groups["res"]) if groups.get("res") else None
            common = dict(path=path, product=p, scene_id=groups["scene"], resolution_m=res, acquired=acquired,
                          tile=(groups.get("tile") or "").upper(), version=groups.get("version") or "")
            if known is not None:
                return ProductFile(layer=known.layer, role=known.role, code=known.code, qa_kind=known.qa_kind,
                                   what=known.what, **common)
            refusal = refusal or why
            if unknown is None and not why:
                unknown = ProductFile(layer=layer, role=OTHER, what=f"a {p.title} layer this library does not "
                                      "read", **common)
    if unknown is not None:
        return unknown
    if refusal:
        raise FilenameError(refusal)
    return None


def _generic_layer_pattern() -> re.Pattern:
    named = [n for n in (*qa_layer_names(), *other_layer_names(), *STAC_BAND_NAMES, *STAC_QA_NAMES,
                         *STAC_OTHER_NAMES)
             if not re.fullmatch(GENERIC_BAND_LAYER, n, re.IGNORECASE)]
    alternatives = sorted((re.escape(n) for n in named), key=len, reverse=True) + [GENERIC_BAND_LAYER]
    return re.compile(r"(?:^|[_.\-])(?P<layer>" + "|".join(alternatives) + r")(?:_(?P<res>\d+)m)?$",
                      re.IGNORECASE)


_GENERIC_LAYER = _generic_layer_pattern()


def _generic(name: str, path: str) -> Optional[ProductFile]:
    stem = os.path.splitext(name)[0]
    m = _GENERIC_LAYER.search(stem)
    if not m:
        return None
    layer = m.group("layer")
    common = dict(path=path, scene_id=stem[: m.start()].rstrip("_.-"),
                  resolution_m=int(m.group("res")) if m.group("res") else None)
    stac = layer.lower()
    if stac in STAC_BAND_NAMES:
        return ProductFile(product=None, layer=stac, role=BAND, band_key=STAC_BAND_NAMES[stac], **common)
    if stac in STAC_QA_NAMES:
        return ProductFile(product=None, layer=stac, role=QA, qa_kind=STAC_QA_NAMES[stac], **common)
    if stac in STAC_OTHER_NAMES:
        return ProductFile(product=None, layer=stac, role=OTHER, what=STAC_OTHER_NAMES[stac], **common)
    for p in PRODUCTS:
        kind = p.qa_kind(layer)
        if kind is not None:
            return ProductFile(product=None, layer=kind, role=QA, qa_kind=kind, **common)
        what = p.other_layer(layer)
        if what is not None:
            return ProductFile(product=None, layer=layer.upper(), role=OTHER, what=what, **common)
    distinctive = next((p for p in PRODUCTS if p.distinctive_bands and p.band_layers.fullmatch(layer)), None)
    return ProductFile(product=distinctive, layer=layer.upper(), role=BAND, code=normalize_code(layer) or "",
                       **common)


def identify_file(path) -> Optional[ProductFile]:
    """What ``path``'s base name says (None: nothing).  Raises :class:`FilenameError` for a name that
    follows a product's pattern but is wrong (an invalid date, a band the product does not have)."""
    p = os.fspath(path)
    name = os.path.basename(p)
    return _by_product(name, p) or _generic(name, p)


def product_of_band_layer(layer: str) -> Optional[Product]:
    """The product whose own spelling of band layers ``layer`` is (``SR_B4``: Landsat C2 Level-2), if any."""
    return next((p for p in PRODUCTS if p.distinctive_bands and p.band_layers.fullmatch(layer.strip())), None)


def parse_hls_name(path) -> ProductFile:
    """Parse an HLS v2.0 file name (a path is fine: only its last component is read)."""
    name = os.path.basename(os.fspath(path))
    found = _by_product(name, os.fspath(path))
    if found is None or not found.product.key.startswith("hls_") or found.version.startswith("1."):
        raise FilenameError(
            f"{name!r} is not an HLS v2.0 file name "
            "(expected HLS.<S30|L30>.<Tile>.<YYYYDDD>T<HHMMSS>.v<X.Y>.<band>.tif)")
    return found


def band_code_from_filename(path) -> Optional[str]:
    """The band code a per-band file's name gives (``..._B05.tif``, ``B8A.tif``, ``..._SR_B5.TIF``,
    ``..._B05_20m.jp2``, HLS names), normalized, or the band class key of a STAC asset name
    (``rededge1.tif`` -> ``red_edge_1``); None when the name names no spectral band."""
    found = identify_file(path)
    return found.band_name if found is not None and found.role == BAND else None


# --- sensors ---------------------------------------------------------------------------------------
def _codes_only_sentinel2() -> frozenset:
    landsat = set(SENSOR_BANDS["LANDSAT"])
    landsat |= {normalize_code(k) for p in PRODUCTS if p.sensor == "LANDSAT" for k in p.other_layers}
    return frozenset(set(SENSOR_BANDS["S2"]) - landsat)


#: Band codes only the Sentinel-2 numbering has (Landsat names B1..B11, B8 being its panchromatic band).
SENTINEL2_ONLY_CODES = _codes_only_sentinel2()


def guess_sensor(names: Iterable[str], hint: str = "") -> Optional[str]:
    """Guess the sensor from file or band names (and an optional path ``hint``).

    A name that follows a product's pattern wins; then a product's sensor hint in the text (``HLS.S30.``,
    ``MSIL2A``, ``LC08_``, ``landsat``); then the band set itself: a ``B8A`` or ``B12`` can only be the
    Sentinel-2 numbering.  Returns None when nothing tells.
    """
    names = [str(n) for n in names]
    for n in names:
        try:
            found = _by_product(os.path.basename(n), n)
        except FilenameError:
            found = None
        if found is not None:
            return found.product.sensor
    text = " ".join([hint, *names]).upper()
    for p in PRODUCTS:
        if p.sensor_hint is not None and p.sensor_hint.search(text):
            return p.sensor
    codes = set()
    for n in names:
        stem = os.path.splitext(os.path.basename(n))[0]
        codes.add(normalize_code(stem))
        codes.add(normalize_code(re.split(r"[_.\-]", stem)[-1]))
    if codes & SENTINEL2_ONLY_CODES:
        return "S2"
    stac = {STAC_BAND_NAMES.get(re.split(r"[_.\-]", os.path.splitext(os.path.basename(n))[0])[-1].lower())
            for n in names}
    if stac & _STAC_ONLY_SENTINEL2:
        return "S2"
    if stac & _STAC_ONLY_LANDSAT:
        return "LANDSAT"
    return None


#: STAC band names (their class keys) only one of the two numberings measures: red edge, broad NIR and
#: water vapour are Sentinel-2's, thermal is Landsat's.
_STAC_ONLY_SENTINEL2 = frozenset({"red_edge_1", "red_edge_2", "red_edge_3", "nir_broad", "water_vapour"})
_STAC_ONLY_LANDSAT = frozenset({"thermal_1", "thermal_2"})


# --- scenes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneFiles:
    """The files of one scene found by name: spectral bands by code, multi-band files, QA layers by kind."""

    scene_id: str
    sensor: str  # sensor id, or "" when unknown
    bands: Mapping[str, str]  # normalized band code (class key for STAC names) -> path
    qa: Mapping[str, str]  # QA kind ("Fmask", "SCL", "QA_PIXEL", ...) -> path
    stacks: Tuple[str, ...] = ()  # multi-band files of a known product (bands named by descriptions)
    product: Optional[Product] = None
    tile: str = ""
    acquired: Optional[_dt.datetime] = None

    def paths(self) -> List[str]:
        return [*self.bands.values(), *self.stacks, *self.qa.values()]


def raster_files(folder: str) -> List[str]:
    """The raster files directly in ``folder`` (by extension), sorted."""
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder)
        if f.lower().endswith(RASTER_EXTENSIONS) and os.path.isfile(os.path.join(folder, f)))


@dataclass
class _Group:
    files: Dict[str, Dict[str, ProductFile]] = field(default_factory=lambda: {BAND: {}, QA: {}})
    stacks: List[str] = field(default_factory=list)
    named: Optional[ProductFile] = None  # a member whose name follows a product's pattern


def _add(group: _Group, f: ProductFile) -> None:
    role_files = group.files[f.role]
    key = f.band_name if f.role == BAND else f.qa_kind
    have = role_files.get(key)
    if have is not None:
        if have.resolution_m is None or f.resolution_m is None or have.resolution_m == f.resolution_m:
            raise BandError(f"scene {f.scene_id or '(unnamed)'} has two {key} files: {have.path} and {f.path}; "
                            "pass the files to use")
        if f.resolution_m > have.resolution_m:
            return  # the same layer at several resolutions (a SAFE's R10m/R20m/R60m): the finest
    role_files[key] = f


def group_scene_files(paths_or_folder, sensor: Optional[str] = None) -> List[SceneFiles]:
    """Group files into scenes by what their names say (see the module docstring).

    Files of a known product group by its scene id (HLS granule id, Sentinel-2 tile and time, Landsat
    product id); other per-band files (``<prefix>_B05.tif``, a folder of ``B05.tif``) by the prefix, their
    sensor guessed from the names (:func:`guess_sensor`) unless ``sensor`` is given.  A layer found at
    several resolutions counts at the finest.  Files that name no band, QA layer or known product are
    ignored, as are non-spectral layers (angles, true-colour images).  Result sorted by scene id.
    """
    if isinstance(paths_or_folder, (str, os.PathLike)):
        folder = os.fspath(paths_or_folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no such folder: {folder}")
        paths, hint = raster_files(folder), folder
    else:
        paths = [os.fspath(p) for p in paths_or_folder]
        hint = os.path.dirname(paths[0]) if paths else ""
    groups: Dict[str, _Group] = {}
    for p in paths:
        f = identify_file(p)
        if f is None or f.role == OTHER:
            continue
        g = groups.setdefault(f.scene_id, _Group())
        if g.named is None and f.product is not None:
            g.named = f
        if f.role == STACK:
            g.stacks.append(p)
        else:
            _add(g, f)
    out = []
    for key, g in groups.items():
        bands = {name: f.path for name, f in sorted(g.files[BAND].items())}
        if not bands and not g.stacks:
            continue
        product = g.named.product if g.named else None
        sid = sensor or (product.sensor if product else "") or guess_sensor(
            [os.path.basename(p) for p in bands.values()] + list(bands), hint=key or hint) or ""
        if product is None and sid:
            product = sensor_default(sid)
        scene_id = key or os.path.basename(os.path.normpath(hint)) or "scene"
        out.append(SceneFiles(scene_id, sid, bands, {k: f.path for k, f in g.files[QA].items()}, tuple(g.stacks),
                              product, g.named.tile if g.named else "", g.named.acquired if g.named else None))
    return sorted(out, key=lambda s: s.scene_id)

