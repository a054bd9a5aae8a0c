"""Writing rasters: tiled, compressed GeoTIFF or COG, window by window, atomically.

:class:`RasterWriter` writes into a hidden temporary file beside the output and renames it into place
only when complete; :func:`write_raster` writes a whole array at once; :func:`reencode` rewrites a
physical float32 raster of this library in another storage convention (:mod:`.conventions`).  Values
are physical; integer outputs store ``round((value - offset) / scale)`` and record the scale/offset in
the file (as GDAL scale/offset tags, or only in this library's band metadata where the convention they
follow states none), and every band records its band class (:data:`~.products.BAND_CLASS_KEY`) so that
this library reads it back.  GDAL creation options given by the caller are checked against the driver's
list before anything is written (where GDAL's bindings can list them) and override the defaults.

The file itself is written through the backend :func:`~.backends.backend_name` picks for reading:
GDAL's Python bindings (``osgeo``), or rasterio's bundled GDAL where they are missing (pip-only
machines, Dask workers).  Both get the same creation options, georeferencing, metadata and pixels
(:class:`GdalFile`, :class:`RasterioFile`); rasterio is imported only when it writes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import bands as _bands
from .backends import backend_name, open_reader
from .bands import BandClass
from .errors import RasterWriteError
from .fileio import part_path, remove_stale_parts, writable_output_path
from .grid import Grid, Window
from .raster_files import BandSpec, GdalFile, RasterioFile
from .products import BAND_CLASS_KEY, BAND_CODE_KEY, OFFSET_KEY, SCALE_KEY, VALID_REFLECTANCE


@dataclass(frozen=True)
class OutputBand:
    """How one output band is described and stored."""

    description: str
    band: Optional[BandClass] = None
    code: str = ""  # sensor band code, written as HLS_TRANSLATE_CODE
    scale: Optional[float] = None  # integer output: physical = DN * scale + offset (None: the class's scale)
    offset: float = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)
    tag_scale: bool = True  # write scale/offset as GDAL tags (False: only as HLS_TRANSLATE_SCALE/OFFSET)
    valid_range: Optional[Tuple[float, float]] = None  # physical values are clipped to it before storing

    def storage_scale(self, dtype: str) -> float:
        """The scale integer values of ``dtype`` are stored with (1 for float32)."""
        if dtype == "float32":
            return 1.0
        if self.scale is not None:
            return float(self.scale)
        return self.band.scale if self.band is not None else 1.0


_DTYPES = {"float32": np.float32, "int16": np.int16, "uint8": np.uint8, "uint16": np.uint16}


def default_nodata(dtype: str) -> float:
    """The nodata value an output of ``dtype`` gets unless one is asked for."""
    return {"float32": -9999.0, "int16": float(_bands.HLS_FILL), "uint8": 255.0, "uint16": 65535.0}[dtype]


def creation_options(text) -> Tuple[str, ...]:
    """GDAL creation options from ``KEY=VALUE`` entries: a sequence, or one string separated by ``|``
    (as QGIS's GDAL algorithms write them), ``;`` or white space (``-co`` before an entry is ignored, so
    options pasted from a gdal_translate command work).  Keys are upper-cased."""
    items = [text] if isinstance(text, str) else list(text or ())
    out = []
    for item in items:
        for entry in re.split(r"[|;\s]+", str(item)):
            if not entry or entry.lower() == "-co":
                continue
            key, sep, value = entry.partition("=")
            if not sep or not key.strip():
                raise RasterWriteError(f"creation option {entry!r} is not KEY=VALUE (e.g. COMPRESS=ZSTD)")
            out.append(f"{key.strip().upper()}={value.strip()}")
    return tuple(out)


def _driver_options(driver: str) -> Optional[Tuple[str, ...]]:
    """The creation options ``driver`` knows, or None where GDAL's bindings cannot tell (rasterio backend:
    its GDAL warns of unknown options itself)."""
    import xml.etree.ElementTree as ET

    if backend_name() != "gdal":
        return None
    from osgeo import gdal

    xml = gdal.GetDriverByName(driver).GetMetadataItem("DMD_CREATIONOPTIONLIST") or "<CreationOptionList/>"
    return tuple(o.get("name", "").upper() for o in ET.fromstring(xml).findall("Option"))


def _merged(defaults: Sequence[str], given: Sequence[str], driver: str) -> List[str]:
    """``defaults`` with the caller's ``given`` options of ``driver`` on top (unknown names refused)."""
    known = _driver_options(driver) if given else ()
    merged: Dict[str, str] = {o.split("=", 1)[0]: o for o in defaults}
    for o in given:
        key = o.split("=", 1)[0]
        if known is not None and key not in known:
            raise RasterWriteError(f"creation option {key} is not one of the {driver} driver's: {', '.join(known)}")
        merged[key] = o
    return list(merged.values())


def check_writable(path: str) -> str:
    """Fail early (before any compute) if ``path`` cannot be written; returns the absolute path."""
    return writable_output_path(path, RasterWriteError)


class RasterWriter:
    """Writes a raster window by window; the result appears at ``path`` only when complete.

    Data go to a hidden temporary file beside ``path``; :meth:`commit` builds overviews (or converts to
    COG) and renames it into place.  Leaving the ``with`` block through an exception, or calling
    :meth:`abort`, deletes the temporary file and leaves ``path`` as it was.

    ``write`` takes physical values; pixels where ``valid`` is False or the value is not finite become
    nodata.  For ``int16``/``uint16`` output, values are stored as ``round((v - offset) / scale)``.
    """

    def __init__(self, path: str, grid: Grid, bands: Sequence[OutputBand], *, dtype: str = "float32",
                 driver: str = "GTiff", nodata: Optional[float] = None, compress: str = "DEFLATE",
                 blocksize: int = 256, overviews: bool = True, metadata: Optional[Mapping[str, str]] = None,
                 options: Sequence[str] = ()):
        if dtype not in _DTYPES:
            raise ValueError(f"unsupported output dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
        driver = {"GTIFF": "GTiff", "COG": "COG"}.get(driver.upper(), driver)
        if driver not in ("GTiff", "COG"):
            raise ValueError(f"unsupported output format {driver!r}; use GTiff or COG")
        if not bands:
            raise ValueError("an output raster needs at least one band")
        self.path = check_writable(path)
        self.grid, self.bands, self.dtype, self.driver = grid, list(bands), dtype, driver
        self.nodata = default_nodata(dtype) if nodata is None else float(nodata)
        self.compress, self.blocksize, self.overviews = compress, blocksize, overviews
        self.metadata = dict(metadata or {})
        self.options = creation_options(options)
        if driver == "COG":  # checked now, used when the finished file is converted
            self._cog_options = _merged(self._cog_defaults(), self.options, "COG")
        remove_stale_parts(self.path)
        self._tmp = part_path(self.path, ".tif")
        self._tmp_cog = part_path(self.path, ".cog.tif")
        self._file = None
        self._done = False
        opts = [f"COMPRESS={self.compress}", "TILED=YES", f"BLOCKXSIZE={self.blocksize}",
                f"BLOCKYSIZE={self.blocksize}", "BIGTIFF=IF_SAFER"]
        if self.compress.upper() in ("DEFLATE", "LZW", "ZSTD"):
            opts.append("PREDICTOR=3" if self.dtype == "float32" else "PREDICTOR=2")
        if self.driver == "GTiff":
            opts = _merged(opts, self.options, "GTiff")
        backend = RasterioFile if backend_name() == "rasterio" else GdalFile
        self._file = backend(self._tmp, self.path, self.grid, self.dtype, opts, self.metadata,
                             [self._band_spec(b) for b in self.bands], self.nodata)

    def _band_spec(self, b: OutputBand) -> "BandSpec":
        """What both backends write for band ``b``: description, metadata, scale/offset tags (None: none)."""
        md = {str(k): str(v) for k, v in b.metadata.items()}
        if b.band is not None:
            md[BAND_CLASS_KEY] = b.band.key
            md.setdefault("units", b.band.units)
        if b.code:
            md[BAND_CODE_KEY] = b.code
        scaled = self.dtype != "float32" and (b.storage_scale(self.dtype) != 1.0 or b.offset != 0.0)
        if scaled and not b.tag_scale:
            md[SCALE_KEY], md[OFFSET_KEY] = repr(b.storage_scale(self.dtype)), repr(float(b.offset))
        tagged = scaled and b.tag_scale
        return BandSpec(b.description, md, b.storage_scale(self.dtype) if tagged else None,
                         b.offset if tagged else None)

    def write(self, window: Window, values: np.ndarray, valid: Optional[np.ndarray] = None,
              band: Optional[int] = None) -> None:
        """Write physical ``values`` (``[C, h, w]`` for all bands, or ``[h, w]`` for ``band``, 1-based)."""
        if self._file is None or self._done:
            raise RasterWriteError(f"{self.path}: writer is closed")
        if not window.inside(self.grid.width, self.grid.height):
            raise ValueError(f"window {window} is outside the output's {self.grid.width}x{self.grid.height} grid")
        arr = np.asarray(values)
        if band is None:
            if arr.ndim == 2 and len(self.bands) == 1:
                arr = arr[None]
            if arr.shape != (len(self.bands), window.height, window.width):
                raise ValueError(f"expected values of shape {(len(self.bands), window.height, window.width)}, "
                                 f"got {arr.shape}")
            targets = range(1, len(self.bands) + 1)
        else:
            arr = arr[None]
            if arr.shape[1:] != window.shape:
                raise ValueError(f"expected values of shape {window.shape}, got {arr.shape[1:]}")
            targets = [band]
        vmask = None if valid is None else np.asarray(valid, dtype=bool).reshape(arr.shape)
        for k, bnum in enumerate(targets):
            out = self._encode(arr[k], None if vmask is None else vmask[k], self.bands[bnum - 1])
            self._file.write(bnum, out, window)

    def _encode(self, v: np.ndarray, valid: Optional[np.ndarray], b: OutputBand) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32)
        bad = ~np.isfinite(v)
        if valid is not None:
            bad |= ~valid
        if b.valid_range is not None:
            v = np.clip(v, np.float32(b.valid_range[0]), np.float32(b.valid_range[1]))
        if self.dtype == "float32":
            out = v.copy()
        else:
            info = np.iinfo(_DTYPES[self.dtype])
            dn = np.rint((v.astype(np.float64) - b.offset) / b.storage_scale(self.dtype))
            lo, hi = info.min, info.max
            # keep the nodata value for nodata only
            if self.nodata == lo:
                lo += 1
            elif self.nodata == hi:
                hi -= 1
            out = np.clip(np.nan_to_num(dn, nan=0.0), lo, hi).astype(_DTYPES[self.dtype])
            # a valid value that rounds onto the nodata value is moved one step away from it
            out[(out == self.nodata) & ~bad] = self.nodata + (1 if self.nodata < hi else -1)
        out[bad] = self.nodata
        return out

    def _cog_defaults(self) -> List[str]:
        opts = [f"COMPRESS={self.compress}", f"BLOCKSIZE={max(self.blocksize, 256)}",
                "BIGTIFF=IF_SAFER", "OVERVIEWS=AUTO" if self.overviews else "OVERVIEWS=NONE",
                "RESAMPLING=AVERAGE" if self.dtype == "float32" else "RESAMPLING=NEAREST"]
        if self.compress.upper() in ("DEFLATE", "LZW", "ZSTD"):
            opts.append("PREDICTOR=YES")
        return opts

    def commit(self) -> str:
        """Finish the file (overviews, COG layout) and move it to ``path``; returns ``path``."""
        if self._done:
            return self.path
        try:
            levels = overview_levels(self.grid.width, self.grid.height, self.blocksize) if (
                self.driver == "GTiff" and self.overviews) else []
            self._file.finish(levels, "NEAREST" if self.dtype != "float32" else "AVERAGE")
            final_tmp = self._tmp
            if self.driver == "COG":
                self._file.copy_as_cog(self._tmp, self._tmp_cog, self._cog_options)
                os.remove(self._tmp)
                final_tmp = self._tmp_cog
            os.replace(final_tmp, self.path)
        except (RuntimeError, OSError, RasterWriteError) as exc:
            self.abort()
            raise RasterWriteError(f"cannot finish {self.path}: {exc}") from None
        self._done = True
        return self.path

    def abort(self) -> None:
        """Discard everything written; ``path`` is left as it was."""
        if self._file is not None:
            self._file.discard()
        for p in (self._tmp, self._tmp_cog, self._tmp + ".aux.xml", self._tmp_cog + ".aux.xml"):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
        self._done = True

    def __enter__(self) -> "RasterWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def __del__(self):
        if not getattr(self, "_done", True):
            self.abort()


def overview_levels(width: int, height: int, block: int) -> List[int]:
    """Overview factors (2, 4, ...) down to about half a block."""
    levels, f = [], 2
    while max(width, height) / f >= block / 2 and f <= 4096:
        levels.append(f)
        f *= 2
    return levels


def write_raster(path: str, grid: Grid, values: np.ndarray, bands: Sequence[OutputBand],
                 valid: Optional[np.ndarray] = None, **kwargs) -> str:
    """Write a whole array (``[C, H, W]`` physical values) at once; see :class:`RasterWriter`."""
    with RasterWriter(path, grid, bands, **kwargs) as w:
        w.write(Window.full(grid.width, grid.height), values, valid)
    return w.path


# --- storage conventions ----------------------------------------------------------------------------
#: What a synthesized band can be stored as: ``input`` (its inputs' convention), ``float32`` (physical
#: values) or ``int16`` (HLS's: reflectance x 10000, brightness temperature x 100, nodata -9999).
ENCODINGS = ("input", "float32", "int16")


@dataclass(frozen=True)
class Encoding:
    """How one band's physical values are stored: data type, nodata, ``physical = DN * scale + offset``,
    whether the file states scale/offset as GDAL tags (which QGIS and GDAL apply when reading) or only in
    this library's metadata, and the physical range values are clipped to before they are stored."""

    dtype: str
    nodata: float
    scale: float = 1.0
    offset: float = 0.0
    tagged: bool = True
    valid_range: Optional[Tuple[float, float]] = None

    @property
    def physical(self) -> bool:
        """Physical float32 values, unclipped: what the engine writes itself."""
        return self.dtype == "float32" and (self.scale, self.offset) == (1.0, 0.0) and self.valid_range is None

    def output_band(self, band: OutputBand) -> OutputBand:
        """``band`` stored in this encoding."""
        from dataclasses import replace

        return replace(band, scale=self.scale, offset=self.offset, tag_scale=self.tagged,
                       valid_range=self.valid_range)

    def describe(self) -> str:
        parts = [self.dtype, f"nodata {self.nodata:g}"]
        if (self.scale, self.offset) != (1.0, 0.0):
            stated = "scale/offset tags" if self.tagged else "no scale tags, as the inputs"
            parts.append(f"value = DN x {self.scale:g}{f' {self.offset:+g}' if self.offset else ''} ({stated})")
        elif self.dtype == "float32":
            parts.append("physical values")
        if self.valid_range is not None:
            parts.append(f"clipped to {self.valid_range[0]:g}..{self.valid_range[1]:g}")
        return ", ".join(parts)


def physical_encoding(nodata: float = -9999.0) -> Encoding:
    """Physical float32 values as the model made them."""
    return Encoding("float32", float(nodata))


def hls_encoding(cls: BandClass) -> Encoding:
    """HLS's convention for a band of class ``cls`` (int16, nodata -9999, the class's scale as a tag)."""
    return Encoding("int16", float(_bands.HLS_FILL), cls.scale, 0.0, True, _valid_range(cls))


def _valid_range(cls: BandClass) -> Optional[Tuple[float, float]]:
    return None if cls.is_thermal else VALID_REFLECTANCE


def input_encoding(sources, cls: BandClass) -> Tuple[Encoding, str]:
    """The convention of the input bands (:class:`~.sources.BandSource`) of ``cls``'s quantity, for a
    band of class ``cls``, and a line saying what it follows.  Inputs that disagree (or none of that
    quantity, or calibrated per band from an MTL file, as Landsat Level-1 is) give HLS's convention."""
    from .products import PRODUCTS_BY_KEY

    same = [s for s in sources if s.band.is_thermal == cls.is_thermal and s.thermal_k1k2 is None
            and not (s.product and PRODUCTS_BY_KEY[s.product].calibration == "MTL" and not s.stated_scale)]
    kinds: Dict[Tuple, List] = {}
    for s in same:
        dtype = {"float64": "float32"}.get(s.dtype, s.dtype)
        if dtype not in _DTYPES:
            continue
        nodata = s.nodata if s.nodata is not None else default_nodata(dtype)
        kinds.setdefault((dtype, float(nodata), s.scale, s.offset, s.stated_scale), []).append(s)
    if not kinds:
        return hls_encoding(cls), f"no input band of its kind to follow: stored as HLS stores {cls.key}"
    if len(kinds) > 1:
        return hls_encoding(cls), (f"its input bands are stored in {len(kinds)} different ways: stored as HLS "
                                   f"stores {cls.key}")
    (dtype, nodata, scale, offset, stated), followed = next(iter(kinds.items()))
    if dtype == "float32" and not stated:
        scale, offset = 1.0, 0.0
    enc = Encoding(dtype, nodata, scale, offset, stated, _valid_range(cls))
    return enc, f"stored like its {len(followed)} input band(s) of its kind"


def reencode(src: str, dst: str, encodings: Sequence[Encoding], *, driver: str = "GTiff",
             options: Sequence[str] = (), overviews: bool = True,
             progress: Optional[Callable[[float], None]] = None,
             is_cancelled: Optional[Callable[[], bool]] = None) -> str:
    """Write ``src``, a physical float32 raster of this library, to ``dst`` with each band stored as
    ``encodings`` says (one data type for the file), keeping its grid, descriptions and metadata.
    Atomic like :class:`RasterWriter`: a failure or cancellation leaves ``dst`` as it was."""
    from .errors import CancelledError

    dtypes = {e.dtype for e in encodings}
    if len(dtypes) != 1 or len({e.nodata for e in encodings}) != 1:
        raise RasterWriteError(f"{dst}: bands stored as {', '.join(e.describe() for e in encodings)} cannot "
                               "share one file (one data type and nodata per file); write one file per band")
    try:
        reader = open_reader(src)
    except Exception as exc:  # noqa: BLE001 - the library's read errors, named
        raise RasterWriteError(f"cannot read {src}: {exc}") from None
    try:
        info = reader.info()
        if info.count != len(encodings):
            raise ValueError(f"{src} has {info.count} band(s), {len(encodings)} encodings given")
        grid = info.grid
        bands = []
        for i, enc in enumerate(encodings):
            md = dict(info.band_metadata[i])
            key, code = md.pop(BAND_CLASS_KEY, ""), md.pop(BAND_CODE_KEY, "")
            bands.append(enc.output_band(OutputBand(info.descriptions[i], _bands.band_class(key) if key else None,
                                                    code, metadata=md)))
        enc0 = encodings[0]
        rows = max(1, (4 << 20) // max(1, grid.width))
        with RasterWriter(dst, grid, bands, dtype=enc0.dtype, driver=driver, nodata=enc0.nodata,
                          overviews=overviews, metadata=dict(info.metadata), options=options) as w:
            for r0 in range(0, grid.height, rows):
                if is_cancelled is not None and is_cancelled():
                    raise CancelledError("cancelled: no output was written")
                n = min(rows, grid.height - r0)
                win = Window(0, r0, grid.width, n)
                values = np.stack([reader.read(k + 1, win) for k in range(len(bands))])
                valid = np.isfinite(values)
                for k, fill in enumerate(info.nodata):
                    if fill is not None:
                        valid[k] &= values[k] != fill
                w.write(win, values, valid)
                if progress is not None:
                    progress((r0 + n) / grid.height)
    finally:
        reader.close()
    return w.path
