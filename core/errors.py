"""One exception root for the library, with narrow subclasses.

Callers that only want to report a problem catch :class:`HLSTranslateError`; callers that can react
catch the narrow class.  Every message names what is wrong (the band, the file, the key).  The QGIS
layer turns these into ``QgsProcessingException`` at its boundary; the command line prints them
without a traceback.
"""

from __future__ import annotations


class HLSTranslateError(Exception):
    """Root of every error this library raises on purpose."""


# --- bands -----------------------------------------------------------------------------------------
class BandError(HLSTranslateError):
    """A problem with a band name or with the bands a scene has."""


class UnknownBandError(BandError, KeyError):
    """A band name that the catalogue does not know (the message lists the known ones)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AmbiguousBandError(BandError):
    """A band name that means different physical bands on different sensors (e.g. ``B05``)."""


class MissingBandError(BandError):
    """A band the caller needs that the scene (or model) does not have."""


# --- file names ------------------------------------------------------------------------------------
class FilenameError(HLSTranslateError, ValueError):
    """A file name that does not follow the convention it is parsed against."""


# --- rasters ---------------------------------------------------------------------------------------
class RasterError(HLSTranslateError):
    """A problem reading or writing a raster."""


class RasterNotFoundError(RasterError, FileNotFoundError):
    """The path does not exist."""


class NotARasterError(RasterError):
    """The path exists but GDAL cannot open it as a raster (unreadable, corrupt, or another format)."""


class GridMismatchError(RasterError):
    """Band sources on different grids (CRS, resolution or extent) where one grid is required."""


class CalibrationError(RasterError):
    """Stored numbers that cannot be turned into physical values (e.g. Landsat Level-1 digital numbers
    without the MTL file that calibrates them)."""


class RasterWriteError(RasterError):
    """An output raster could not be written (the message names the path)."""


class RasterBackendError(RasterError):
    """No raster library to read or write with: neither GDAL's Python bindings nor rasterio imports (the
    message says what to install)."""


# --- models ----------------------------------------------------------------------------------------
class ModelError(HLSTranslateError):
    """A problem with a model file or a model definition."""


class UnknownModelError(ModelError, KeyError):
    """A model name that the registry does not know (the message lists the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelMetadataError(ModelError):
    """A model file whose embedded metadata is missing, malformed or of an unsupported schema."""


# --- configuration -----------------------------------------------------------------------------------
class ConfigError(HLSTranslateError, ValueError):
    """A configuration value that is unknown, mistyped or out of range (the message names the key)."""


# --- runs ------------------------------------------------------------------------------------------
class CancelledError(HLSTranslateError):
    """The caller's cancellation callback asked to stop; nothing was left at the output path."""
