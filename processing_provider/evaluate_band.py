"""``hls_translate:evaluate_band``: a synthesized band against a real one (RMSE, MAE, bias, PSNR, SSIM)
and a difference raster, computed strip by strip so that whole HLS tiles fit in little memory.

The metrics are those of ``core.metrics`` (physical units: reflectance, degC), and equal
``core.metrics.score`` on the whole arrays: sums are accumulated per strip, and SSIM's mean over its
Gaussian windows is combined across strips weighted by the number of complete windows in each strip
(strips overlap by the window radius, so every window centre is counted exactly once).  The optional
PLOT output draws an evenly spaced sample of the pixel pairs (``core.comparison_plot``).
"""

from __future__ import annotations

import math
import os
from typing import List, Optional, Tuple

import numpy as np
from qgis.core import (QgsProcessingOutputNumber, QgsProcessingOutputString, QgsProcessingParameterBand,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination, QgsProcessingParameterRasterLayer)

from ..core import metrics
from ..core.backends import raster_info
from ..core.bands import band_label
from ..core.comparison_plot import PairSample, write_comparison_png
from ..core.errors import AmbiguousBandError, BandError, ConfigError, GridMismatchError, MissingBandError
from ..core.fileio import check_outputs_are_not_inputs, writable_output_path
from ..core.gdal_cache import bounded_gdal_cache
from ..core.grid import Window
from ..core.scene import Scene
from ..core.sources import BandSource, band_sources_of
from ..core.writer import OutputBand, RasterWriter
from .algorithm import HLSAlgorithm
from .common import raster_file, tr
from .parameters import ResamplingChoice
from .results import load_on_completion

RESAMPLING = ResamplingChoice()
#: SSIM window radius of core.metrics.ssim (sigma 1.5)
SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)
#: pixels read per strip (about 16 MB per float32 array); strips are at least 2 * SSIM_RADIUS + 1 rows
STRIP_PIXELS = 4 << 20


def _full_windows(valid: np.ndarray, radius: int) -> int:
    """How many (2r+1)^2 windows lie wholly on valid pixels (what ``metrics.ssim`` averages over)."""
    k = 2 * radius + 1
    h, w = valid.shape
    if h < k or w < k:
        return 0
    c = np.zeros((h + 1, w + 1), dtype=np.int64)
    c[1:, 1:] = np.cumsum(np.cumsum(valid.astype(np.int64), axis=0), axis=1)
    box = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return int((box == k * k).sum())


class _Accumulator:
    def __init__(self, data_range: float):
        self.data_range = data_range
        self.n = 0
        self.sum_d = self.sum_abs = self.sum_sq = 0.0
        self.ssim_sum = 0.0
        self.ssim_windows = 0

    def add(self, pred: np.ndarray, ref: np.ndarray, valid: np.ndarray, core_rows: slice) -> None:
        p, r, v = pred[core_rows], ref[core_rows], valid[core_rows]
        d = p[v].astype(np.float64) - r[v].astype(np.float64)
        self.n += int(d.size)
        self.sum_d += float(d.sum())
        self.sum_abs += float(np.abs(d).sum())
        self.sum_sq += float((d * d).sum())
        count = _full_windows(valid, SSIM_RADIUS)
        if count:
            s = metrics.ssim(pred, ref, valid, self.data_range, SSIM_SIGMA)
            if not math.isnan(s):
                self.ssim_sum += s * count
                self.ssim_windows += count

    def scores(self) -> metrics.BandScores:
        nan = float("nan")
        if self.n == 0:
            return metrics.BandScores(nan, nan, nan, nan, nan, 0, self.data_range)
        rmse = math.sqrt(self.sum_sq / self.n)
        psnr = float("inf") if rmse == 0 else 20 * math.log10(self.data_range / rmse)
        ssim = self.ssim_sum / self.ssim_windows if self.ssim_windows else nan
        return metrics.BandScores(rmse=rmse, mae=self.sum_abs / self.n, bias=self.sum_d / self.n, psnr=psnr,
                                  ssim=ssim, n_pixels=self.n, data_range=self.data_range)


def _identified(path: str, sensor: Optional[str], cls=None) -> List[BandSource]:
    """The bands ``path`` identifies itself.  A band code that differs between the Sentinel-2 and Landsat
    numberings (B10) is read on ``sensor``; without one, on the numbering under which it is ``cls``."""
    try:
        return band_sources_of(path, sensor or None)
    except AmbiguousBandError:
        if cls is None:
            raise
        for s in ("S2", "LANDSAT"):
            found = band_sources_of(path, s)
            if any(src.band == cls for src in found):
                return found
        raise


def _source(path: str, index: int, sensor: Optional[str] = None, cls=None) -> Optional[BandSource]:
    """Band ``index`` of ``path`` as the file identifies it (or taken to be ``cls`` when it does not)."""
    info = raster_info(path)
    if not 1 <= index <= info.count:
        raise BandError(f"{os.path.basename(path)} has {info.count} band(s); band {index} does not exist")
    found = next((s for s in _identified(path, sensor, cls) if s.index == index), None)
    if found is None and cls is not None:
        found = next(s for s in band_sources_of(path, sensor or None, {index: cls.key}, info=info) if s.index == index)
    return found


def _written_sensor(path: str) -> str:
    """The sensor an hls_translate output was made for (dataset metadata HLS_TRANSLATE_SENSOR), or ""."""
    return str(raster_info(path).metadata.get("HLS_TRANSLATE_SENSOR", "") or "")


class EvaluateBand(HLSAlgorithm):
    NAME = "evaluate_band"
    GROUP_ID = "evaluation"
    TAGS = ("rmse", "psnr", "ssim", "accuracy", "validation", "scatter plot", "histogram")

    SYNTHESIZED = "SYNTHESIZED"
    SYNTHESIZED_BAND = "SYNTHESIZED_BAND"
    REFERENCE = "REFERENCE"
    REFERENCE_BAND = "REFERENCE_BAND"
    RESAMPLING = "RESAMPLING"
    DATA_RANGE = "DATA_RANGE"
    DIFFERENCE = "DIFFERENCE"
    PLOT = "PLOT"

    def displayName(self):  # noqa: N802
        return tr("Evaluate a synthesized band")

    def shortDescription(self):  # noqa: N802
        return tr("Scores a synthesized band against the real one (RMSE, MAE, bias, PSNR, SSIM), with a "
                  "difference raster and a scatter/histogram plot.")

    def summary(self):
        return tr("Compares a synthesized band with a real one of the same band class, pixel by pixel in physical "
                  "units (reflectance, or degC for thermal bands): RMSE, MAE, bias, PSNR and SSIM over the pixels "
                  "valid in both, a difference raster (synthesized minus reference) and a PNG with a density "
                  "scatter of synthesized against real values and their histograms. Stored numbers are scaled to "
                  "physical values first (HLS/Sentinel-2 DN x 1e-4), so an int16 reference and a float32 "
                  "synthesized band compare correctly.")

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add(QgsProcessingParameterRasterLayer(self.SYNTHESIZED, tr("Synthesized raster")),
                 tr("The raster written by 'Synthesize HLS band' (or any raster holding the band to check)."))
        self.add(QgsProcessingParameterBand(self.SYNTHESIZED_BAND, tr("Synthesized band"), defaultValue=1,
                                            parentLayerParameterName=self.SYNTHESIZED, optional=True),
                 tr("Band number of the synthesized raster to evaluate (default: 1)."))
        self.add(QgsProcessingParameterRasterLayer(self.REFERENCE, tr("Reference (real) raster")),
                 tr("A raster holding the real band: a single-band file (HLS granule band) or a multi-band stack."))
        self.add(QgsProcessingParameterBand(self.REFERENCE_BAND, tr("Reference band"), optional=True,
                                            parentLayerParameterName=self.REFERENCE),
                 tr("Band number of the reference raster. Empty: the reference band of the same band class as the "
                    "synthesized band, found from band descriptions or file names."))
        self.add(RESAMPLING.parameter(self.RESAMPLING, tr("Resample the reference onto the synthesized grid"),
                                      tr("none: the rasters must be on one grid")),
                 tr("If the two rasters are on different grids: 'none' refuses (the safe default), the others warp "
                    "the reference onto the synthesized raster's grid with that method ('average' to compare with "
                    "a finer reference)."), advanced=True)
        self.add(QgsProcessingParameterNumber(self.DATA_RANGE, tr("Data range for PSNR and SSIM"),
                                              QgsProcessingParameterNumber.Double, defaultValue=1.0, minValue=1e-9),
                 tr("Dynamic range of the physical values: 1.0 for reflectance (comparable across bands and "
                    "scenes); e.g. 100 for brightness temperature in degC."), advanced=True)
        self.add(QgsProcessingParameterRasterDestination(self.DIFFERENCE,
                                                         tr("Difference (synthesized minus reference)"),
                                                         optional=True, createByDefault=True),
                 tr("Float32 raster on the synthesized grid: synthesized minus reference in physical units; nodata "
                    "where either is invalid."))
        self.add(QgsProcessingParameterFileDestination(self.PLOT, tr("Scatter and histogram plot (PNG)"),
                                                       fileFilter="PNG files (*.png)", optional=True,
                                                       createByDefault=True),
                 tr("A PNG: density scatter of synthesized against real values with the 1:1 line, both value "
                    "histograms and the histogram of the difference (from an evenly spaced sample of at most "
                    "200,000 valid pixels)."))
        for key, desc in (("RMSE", tr("Root mean square error (physical units)")),
                          ("MAE", tr("Mean absolute error (physical units)")),
                          ("BIAS", tr("Mean of synthesized minus reference (physical units)")),
                          ("PSNR", tr("Peak signal-to-noise ratio in dB (for DATA_RANGE)")),
                          ("SSIM", tr("Mean structural similarity (Gaussian window, sigma 1.5)")),
                          ("N_PIXELS", tr("Pixels valid in both rasters"))):
            self.addOutput(QgsProcessingOutputNumber(key, desc))
        self.addOutput(QgsProcessingOutputString("BAND", tr("Band class compared")))
        self.addOutput(QgsProcessingOutputString("REPORT", tr("The metrics as text")))

    def process(self, parameters, context, run):
        syn_path = raster_file(self.parameterAsRasterLayer(parameters, self.SYNTHESIZED, context), self.SYNTHESIZED)
        ref_path = raster_file(self.parameterAsRasterLayer(parameters, self.REFERENCE, context), self.REFERENCE)
        syn_band = self.parameterAsInt(parameters, self.SYNTHESIZED_BAND, context) or 1
        ref_band = self.parameterAsInt(parameters, self.REFERENCE_BAND, context)
        resampling = RESAMPLING.value(self, parameters, self.RESAMPLING, context)
        data_range = self.parameterAsDouble(parameters, self.DATA_RANGE, context)

        syn, ref = self._sources(syn_path, syn_band, ref_path, ref_band)
        cls = syn.band
        label = band_label(cls, ref.sensor or syn.sensor)
        run.log(f"synthesized: {syn.label}")
        run.log(f"reference:   {ref.label}")
        grid = syn.grid
        if not ref.grid.matches(grid):
            if resampling is None:
                raise GridMismatchError(
                    "the synthesized and reference rasters are on different grids:\n"
                    f"  synthesized {os.path.basename(syn_path)}: {grid.describe()}\n"
                    f"  reference   {os.path.basename(ref_path)}: {ref.grid.describe()}\n"
                    "choose a resampling method (advanced parameter) to warp the reference onto the synthesized grid")
            if not (ref.grid.crs_wkt and grid.crs_wkt):
                raise GridMismatchError(f"{ref_path} or {syn_path} has no CRS; cannot resample one onto the other")
            run.log(f"resampling the reference onto {grid.describe()} ({resampling})")
        syn_scene = Scene([syn], grid, name="synthesized")
        ref_scene = Scene([ref], grid, resampling=resampling or "nearest", name="reference")

        out_path = self.parameterAsOutputLayer(parameters, self.DIFFERENCE, context) if (
            parameters.get(self.DIFFERENCE) is not None) else ""
        plot_path = self.parameterAsFileOutput(parameters, self.PLOT, context) if (
            parameters.get(self.PLOT) not in (None, "")) else ""
        if plot_path:
            writable_output_path(plot_path, ConfigError)
        check_outputs_are_not_inputs([p for p in (out_path, plot_path) if p],
                                     {syn_path: "the synthesized raster", ref_path: "the reference raster"}, ConfigError)
        sample = PairSample(grid.height, grid.width) if plot_path else None
        writer = None
        if out_path:
            writer = RasterWriter(out_path, grid, [OutputBand(
                f"{label} synthesized minus reference", metadata={"units": cls.units, "HLS_TRANSLATE_KIND": "difference"})],
                dtype="float32", metadata={"SYNTHESIZED": syn_path, "REFERENCE": ref_path})
        acc = _Accumulator(data_range)
        strip = max(2 * SSIM_RADIUS + 1, min(grid.height, STRIP_PIXELS // max(1, grid.width)))
        try:
            run.step(f"comparing {grid.height} rows in strips of {strip}", until=0.9 if writer is not None else 1.0)
            with bounded_gdal_cache([syn_scene, ref_scene], 1):
                for r0 in range(0, grid.height, strip):
                    run.check_cancelled()
                    r1 = min(grid.height, r0 + strip)
                    self._compare_strip(syn_scene, ref_scene, cls, r0, r1, acc, writer, sample)
                    run.progress(r1 / grid.height)
            if writer is not None:
                run.step("writing the difference raster", until=1.0)
                writer.commit()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            syn_scene.close()
            ref_scene.close()
        s = acc.scores()
        if s.n_pixels == 0:
            raise MissingBandError(f"no pixel is valid in both {os.path.basename(syn_path)} and "
                                   f"{os.path.basename(ref_path)} (nodata everywhere, or the rasters do not overlap)")
        units = "reflectance" if cls.units == "1" else cls.units
        report = (f"{label}: RMSE {s.rmse:.6g}, MAE {s.mae:.6g}, bias {s.bias:+.6g} ({units}); "
                  f"PSNR {s.psnr:.3f} dB, SSIM {s.ssim:.4f} (data range {data_range:g}); {s.n_pixels} valid pixels")
        run.log(report)
        results = {"RMSE": s.rmse, "MAE": s.mae, "BIAS": s.bias, "PSNR": s.psnr, "SSIM": s.ssim,
                   "N_PIXELS": int(s.n_pixels), "BAND": cls.key, "REPORT": report}
        if plot_path:
            write_comparison_png(plot_path, sample, label, units,
                                 f"{label}: RMSE {s.rmse:.4g}, bias {s.bias:+.4g}, SSIM {s.ssim:.3f} "
                                 f"({s.n_pixels} pixels)")
            run.log(f"plot written to {plot_path}")
            results[self.PLOT] = plot_path
        if out_path:
            load_on_completion(context, out_path, f"{os.path.splitext(os.path.basename(syn_path))[0]}: {label} "
                               "difference (synthesized - reference)", self.DIFFERENCE)
            results[self.DIFFERENCE] = out_path
        return results

    @staticmethod
    def _compare_strip(syn_scene: Scene, ref_scene: Scene, cls, r0: int, r1: int, acc: "_Accumulator",
                       writer: Optional[RasterWriter], sample: Optional[PairSample] = None) -> None:
        """Rows r0..r1 into the sums (read with SSIM_RADIUS rows of context each side) and the difference."""
        grid = syn_scene.grid
        a0, a1 = max(0, r0 - SSIM_RADIUS), min(grid.height, r1 + SSIM_RADIUS)
        win = Window(0, a0, grid.width, a1 - a0)
        pred, pred_valid = syn_scene.read(cls, win)
        ref, ref_valid = ref_scene.read(cls, win)
        valid = pred_valid & ref_valid & np.isfinite(pred) & np.isfinite(ref)
        core = slice(r0 - a0, r1 - a0)
        acc.add(pred, ref, valid, core)
        if sample is not None:
            sample.add(r0, ref[core], pred[core], valid[core])
        if writer is not None:
            writer.write(Window(0, r0, grid.width, r1 - r0), (pred - ref)[core], valid[core])

    def _sources(self, syn_path: str, syn_band: int, ref_path: str, ref_band: int) -> Tuple[BandSource, BandSource]:
        sensor = _written_sensor(syn_path)
        syn = _source(syn_path, syn_band, sensor)
        cls = syn.band if syn is not None else None
        ref = _source(ref_path, ref_band, sensor, cls) if ref_band else None
        if syn is not None and ref is not None and syn.band != ref.band:
            raise BandError(
                f"the synthesized band is {syn.band.key} ({syn.label}) but the reference band is {ref.band.key} "
                f"({ref.label}); choose the reference band of the same class")
        if cls is None and ref is not None:
            cls = ref.band
        if not ref_band:
            if cls is None:
                raise BandError(f"{os.path.basename(syn_path)} band {syn_band} does not say which band class it "
                                "holds (no hls_translate metadata or band description); choose the reference band "
                                "number explicitly")
            found = _identified(ref_path, sensor, cls)
            match = [s for s in found if s.band == cls]
            if not match:
                have = ", ".join(f"{s.index}: {s.band.key}" for s in found) or "none identified"
                raise MissingBandError(f"{os.path.basename(ref_path)} has no {cls.key} band ({cls.name}) to compare "
                                       f"with (its bands: {have}); choose the reference band number")
            ref = match[0]
        if cls is None:
            raise BandError(f"neither {os.path.basename(syn_path)} band {syn_band} nor {os.path.basename(ref_path)} "
                            f"band {ref_band} says which band class it holds, so their values cannot be scaled to "
                            "physical units; write band descriptions (e.g. 'B10') into one of them")
        if syn is None:
            syn = _source(syn_path, syn_band, sensor, cls)
        if ref is None:
            ref = _source(ref_path, ref_band, sensor, cls)
        return syn, ref
