"""``hls-translate predict``: synthesize band(s) of a raster with an exported ONNX model.

    hls-translate predict --model MODEL.onnx --input FILE_OR_FOLDER... --target BAND [--target BAND ...]
        --out OUT.tif [--tile N --overlap N --blend cosine|gaussian|mean|crop --batch N
        --device auto|cpu|cuda --threads N --gap-fill --dtype float32|int16 --format GTiff|COG
        --sensor S --band-map 1=B04 ... --resampling M --sources BAND ... --mask-qa]

Input: an HLS granule folder (or any folder of ``*_B05.tif``-style per-band files of one scene),
per-band files, or one multi-band file.  Several ``--target`` with one ``--out`` give one multi-band
file (one band per target, in order); ``{target}`` in ``--out`` gives one file per target.

Everything (inputs and their grids, the model file and metadata, targets, input bands, output paths) is
checked before any tile is computed.  A progress bar with ETA goes to stderr.  Only numpy, GDAL and
ONNX Runtime are used (no torch).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Dict, Optional, TextIO

from .engine import DRIVERS, DTYPES, PredictOptions, predict
from .errors import ConfigError
from .tiling import BLEND_MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  hls-translate predict --model m.onnx --input HLS.S30.T31TCJ.2023150T103631.v2.0/ --target B10 --out cirrus.tif\n"
        "  hls-translate predict --model m.onnx --input scene.tif --target B05 --target B06 --out re.tif --dtype int16\n"
        "  hls-translate predict --model m.onnx --input B*.tif --target B10 --target B09 --out 'out_{target}.tif'")
    parser.add_argument("--model", required=True, metavar="MODEL.onnx", help="model exported with `hls-translate export`")
    parser.add_argument("--input", required=True, nargs="+", metavar="FILE_OR_FOLDER",
                        help="an HLS granule folder, per-band files, or one multi-band file")
    parser.add_argument("--target", required=True, action="append", metavar="BAND",
                        help="band to synthesize (B10, S30:B10, cirrus, ...); repeat for several")
    parser.add_argument("--out", required=True, metavar="OUT.tif",
                        help="output raster; '{target}' in the name writes one file per target")
    g = parser.add_argument_group("tiling")
    g.add_argument("--tile", type=int, default=None, metavar="N", help="tile size in pixels (default: the model's)")
    g.add_argument("--overlap", type=int, default=None, metavar="N", help="tile overlap in pixels (default: the model's)")
    g.add_argument("--blend", choices=BLEND_MODES, default="cosine", help="how overlapping tiles are combined (default cosine)")
    g.add_argument("--batch", type=int, default=4, metavar="N", help="tiles per model run (default 4)")
    g = parser.add_argument_group("execution")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CUDA when it loads, else CPU; cuda: CUDA or an error (default auto)")
    g.add_argument("--threads", type=int, default=0, metavar="N", help="ONNX Runtime threads (default 0: one per core)")
    g = parser.add_argument_group("bands")
    g.add_argument("--gap-fill", action="store_true",
                   help="keep the target band's valid pixels and synthesize only its nodata pixels")
    g.add_argument("--sources", nargs="+", default=None, metavar="BAND",
                   help="input bands to use (default: every band of the input the model accepts)")
    g.add_argument("--sensor", default=None, metavar="S", help="sensor of the input: S30, L30, S2 or LANDSAT "
                   "(default: from the file names/descriptions); decides what B05 means")
    g.add_argument("--band-map", nargs="+", default=None, metavar="K=BAND",
                   help="name the bands of the input: 1=B04 2=B03 ... for a multi-band file, "
                        "FILE=B05 for per-band files")
    g.add_argument("--resampling", default=None, metavar="M",
                   help="bring bands on different grids onto the finest one with this method "
                        "(nearest, bilinear, cubic, average, ...); default: refuse mixed grids")
    g.add_argument("--mask-qa", action="store_true",
                   help="treat pixels the Fmask/SCL layer flags (cloud, shadow, ...) as nodata")
    g = parser.add_argument_group("output")
    g.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="float32 (physical values) or int16 (HLS scaling: 1e-4 reflectance, 0.01 degC)")
    g.add_argument("--format", choices=DRIVERS, default="GTiff", help="GTiff (tiled, DEFLATE, overviews) or COG")
    g.add_argument("--no-overviews", action="store_true", help="do not build overviews")
    g.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def parse_band_map(items) -> Optional[Dict]:
    """``["1=B04", "x_B05.tif=B05"]`` -> ``{1: "B04", "x_B05.tif": "B05"}``."""
    if not items:
        return None
    out: Dict = {}
    for item in items:
        key, sep, band = item.rpartition("=")
        if not sep or not key or not band:
            raise ConfigError(f"--band-map: {item!r} is not KEY=BAND (e.g. 1=B04, or file.tif=B05)")
        out[int(key) if key.isdigit() else key] = band
    return out


def output_paths(out: str, targets):
    """One path, or ``{target: path}`` when ``out`` contains ``{target}``."""
    if "{target}" not in out:
        return out
    paths = {}
    for t in targets:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(t)).strip("_") or "band"
        paths[t] = out.replace("{target}", safe)
    if len(set(paths.values())) != len(paths):
        raise ConfigError(f"--out {out}: two targets give the same file name ({', '.join(paths.values())})")
    return paths


def gdal_cache_bytes(scene, n_outputs: int) -> int:
    """A GDAL block-cache size for one streaming run: room for two rows of 512-pixel blocks of every
    input band and output band (what the tile loop touches at a time), at least 256 MB.  It grows with
    the raster's width, never with its area."""
    import numpy as np

    row = sum(s.grid.width * np.dtype(s.dtype).itemsize for s in scene.sources.values())
    row += scene.grid.width * 4 * max(1, n_outputs)
    return max(256 << 20, 2 * 512 * row)


def limit_gdal_cache(scene, n_outputs: int, log=None) -> None:
    """Cap GDAL's block cache (default: 5 % of RAM, which a large raster fills) unless GDAL_CACHEMAX is
    set: the command's memory then does not grow with the raster's area."""
    if os.environ.get("GDAL_CACHEMAX"):
        return
    try:
        from osgeo import gdal
    except ImportError:  # reads through rasterio: its own GDAL, its own cache settings
        return

    size = gdal_cache_bytes(scene, n_outputs)
    if size < gdal.GetCacheMax():
        gdal.SetCacheMax(size)
        if log:
            log(f"GDAL block cache limited to {size >> 20} MB (set GDAL_CACHEMAX to choose)")


class ProgressBar:
    """A plain-text progress bar with ETA on a stream: redrawn in place on a terminal, a line per 10 %
    otherwise (logs of batch jobs stay readable)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, label: str = "predict"):
        self.stream, self.width, self.label = stream, width, label
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last_decile = -1
        self.open = False

    @staticmethod
    def _fmt(seconds: float) -> str:
        seconds = int(round(seconds))
        h, rem = divmod(seconds, 3600)
        m, s = divmod(rem, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"

    def __call__(self, fraction: float) -> None:
        f = min(max(float(fraction), 0.0), 1.0)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed * (1 - f) / f if f > 0 else float("nan")
        eta_text = self._fmt(eta) if f > 0 else "--:--"
        text = f"{self.label} {100 * f:5.1f}% elapsed {self._fmt(elapsed)} ETA {eta_text}"
        if self.tty:
            filled = int(round(self.width * f))
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {text[len(self.label) + 1:]}")
            self.open = True
            if f >= 1.0:
                self.stream.write("\n")
                self.open = False
        else:
            decile = int(f * 10)
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(text + "\n")
        self.stream.flush()

    def log(self, message: str) -> None:
        if self.open:
            self.stream.write("\n")
            self.open = False
        self.stream.write(message + "\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    from .scene import open_scene

    targets = list(args.target)
    outputs = output_paths(args.out, targets)
    options = PredictOptions(
        tile_size=args.tile, overlap=args.overlap, blend=args.blend, batch_size=args.batch, device=args.device,
        threads=args.threads, gap_fill=args.gap_fill, dtype=args.dtype, driver=args.format,
        sources=tuple(args.sources) if args.sources else None, mask_qa=args.mask_qa,
        overviews=not args.no_overviews)
    bar = None if args.quiet else ProgressBar(sys.stderr)
    log = None if args.quiet else bar.log
    inputs = args.input[0] if len(args.input) == 1 else args.input
    with open_scene(inputs, sensor=args.sensor, band_map=parse_band_map(args.band_map),
                    resampling=args.resampling) as scene:
        if log:
            log(f"input {scene.name}: {', '.join(b.key for b in scene.bands)} on {scene.grid.describe()}")
        limit_gdal_cache(scene, len(targets), log)
        result = predict(args.model, scene, targets, outputs, options, progress=bar, log=log)
        mp = scene.grid.width * scene.grid.height / 1e6
    written = list(dict.fromkeys(result.outputs.values()))
    print(f"wrote {', '.join(written)}")
    if not args.quiet:
        print(f"{result.tiles_run}/{result.tiles_total} tiles run ({result.tiles_skipped} skipped) on "
              f"{result.provider} in {result.seconds:.1f} s ({mp / max(result.seconds, 1e-9):.2f} MP/s)")
    return 0
