"""``hls-translate predict``: synthesize band(s) of a raster with an exported ONNX model.

    hls-translate predict --model MODEL.onnx --input FILE_OR_FOLDER... --target BAND [--target BAND ...]
        --out OUT.tif [--tile N --overlap N --blend cosine|gaussian|mean|crop --batch N
        --device auto|cpu|cuda --threads N --gap-fill --dtype float32|int16|input --format GTiff|COG
        --co KEY=VALUE ... --sensor S --band-map 1=B04 ... --resampling M --sources BAND ... --mask-qa
        --labels LABELS.tif --seed N]

Input: an HLS granule folder (or any folder of ``*_B05.tif``-style per-band files of one scene),
per-band files, or one multi-band file.  Several ``--target`` with one ``--out`` give one multi-band
file (one band per target, in order); ``{target}`` in ``--out`` gives one file per target.  A label-map
model (SPADE) synthesizes from ``--labels`` (a categorical raster, read by nearest neighbour onto the grid
of ``--input``, whose bands it does not read); ``--seed`` seeds its style vector when it has one.

Everything (inputs and their grids, the model file and metadata, targets, input bands, output paths) is
checked before any tile is computed.  A progress bar with ETA goes to stderr.  Only numpy, GDAL and
ONNX Runtime are used (no torch).
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Tuple

from ..core.bands import SENSORS
from ..core.delivery import StorageOptions, predict_stored
from ..core.engine import DRIVERS, PredictOptions
from ..core.errors import ConfigError
from ..core.gdal_cache import bounded_gdal_cache
from ..core.output_naming import TARGET_PLACEHOLDER, output_paths
from ..core.progress import ProgressBar
from ..core.scene import RESAMPLING_METHODS, InputHints, open_scene
from ..core.runtime import DEVICES
from ..core.tiling import BLEND_MODES
from ..core.writer import ENCODINGS

#: the engine's defaults, which the options default to
DEFAULTS = PredictOptions()
#: the library's remedies in this command's terms
HINTS = InputHints(band_map="give --band-map, e.g. --band-map 1=B04", resampling="pass --resampling bilinear "
                   "(or average, ...) to resample onto the finest band's grid", sensor="or pass --sensor S2 / LANDSAT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_examples_and_model(parser, [
        "hls-translate predict --model m.onnx --input HLS.S30.T31TCJ.2023150T103631.v2.0/ --target B10 --out cirrus.tif",
        "hls-translate predict --model m.onnx --input scene.tif --target B05 --target B06 --out re.tif --dtype int16",
        "hls-translate predict --model m.onnx --input B*.tif --target B10 --target B09 --out 'out_{target}.tif'",
        "hls-translate predict --model spade.onnx --input B04.tif --labels SCL.tif --target red --out red.tif --seed 3"])
    parser.add_argument("--input", required=True, nargs="+", metavar="FILE_OR_FOLDER",
                        help="an HLS granule folder, per-band files, or one multi-band file")
    parser.add_argument("--target", required=True, action="append", metavar="BAND",
                        help="band to synthesize (B10, S30:B10, cirrus, ...); repeat for several")
    parser.add_argument("--out", required=True, metavar="OUT.tif",
                        help=f"output raster; '{TARGET_PLACEHOLDER}' in the name writes one file per target")
    add_label_arguments(parser, "LABELS.tif", "categorical label raster a label-map model synthesizes from (read "
                        "onto the grid of --input by nearest neighbour; the input's bands are not read)")
    add_tiling_arguments(parser)
    group = parser.add_argument_group("execution")
    add_device_argument(group)
    group.add_argument("--threads", type=int, default=DEFAULTS.threads, metavar="N",
                       help="ONNX Runtime threads (default 0: one per core)")
    group = add_band_arguments(parser)
    group.add_argument("--band-map", nargs="+", default=None, metavar="K=BAND",
                       help="name the bands of the input: 1=B04 2=B03 ... for a multi-band file, "
                            "FILE=B05 for per-band files")
    add_output_arguments(parser).add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def add_examples_and_model(parser: argparse.ArgumentParser, examples, footer: str = "") -> None:
    """The help's examples (and a closing paragraph), and --model (predict and batch)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "examples:\n" + "".join(f"  {e}\n" for e in examples) + (f"\n{footer}" if footer else "")
    parser.add_argument("--model", required=True, metavar="MODEL.onnx", help="model exported with `hls-translate export`")


def add_label_arguments(parser: argparse.ArgumentParser, metavar: str, labels_help: str) -> None:
    """--labels (what it names: ``labels_help``) and --seed, for label-map models (predict and batch)."""
    group = parser.add_argument_group("label-map models (SPADE)")
    group.add_argument("--labels", default=None, metavar=metavar, help=labels_help)
    group.add_argument("--seed", type=int, default=DEFAULTS.seed, metavar="N",
                       help=f"seed of the style vector of a label-map model with a style input (default {DEFAULTS.seed})")


def add_tiling_arguments(parser: argparse.ArgumentParser) -> None:
    """--tile, --overlap, --blend, --batch (predict and batch)."""
    group = parser.add_argument_group("tiling")
    group.add_argument("--tile", type=int, default=None, metavar="N", help="tile size in pixels (default: the model's)")
    group.add_argument("--overlap", type=int, default=None, metavar="N", help="tile overlap in pixels (default: the model's)")
    group.add_argument("--blend", choices=BLEND_MODES, default=DEFAULTS.blend,
                       help=f"how overlapping tiles are combined (default {DEFAULTS.blend})")
    group.add_argument("--batch", type=int, default=DEFAULTS.batch_size, metavar="N",
                       help=f"tiles per model run (default {DEFAULTS.batch_size})")


def add_device_argument(group) -> None:
    group.add_argument("--device", choices=DEVICES, default=DEFAULTS.device,
                       help=f"auto: CUDA when it loads, else CPU; cuda: CUDA or an error (default {DEFAULTS.device})")


def add_band_arguments(parser: argparse.ArgumentParser):
    """--gap-fill, --sources, --sensor, --resampling, --mask-qa; returns the group (predict adds --band-map)."""
    group = parser.add_argument_group("bands")
    group.add_argument("--gap-fill", action="store_true",
                       help="keep the target band's valid pixels and synthesize only its nodata pixels")
    group.add_argument("--sources", nargs="+", default=None, metavar="BAND",
                       help="input bands to use (default: every band of the input the model accepts)")
    group.add_argument("--without", nargs="+", default=None, metavar="BAND",
                       help="bands declared absent: never used as input (e.g. a band the input checks call garbage)")
    group.add_argument("--no-input-checks", action="store_true",
                       help="skip the look at the input bands before the run (stuck, noise, unrelated, off-scale)")
    group.add_argument("--sensor", default=None, metavar="S",
                       help=f"sensor of the input: {', '.join(SENSORS)} (default: from the file names/descriptions); "
                            "decides what B05 means")
    group.add_argument("--resampling", default=None, metavar="M",
                       help="bring bands on different grids onto the finest one with this method "
                            f"({', '.join(RESAMPLING_METHODS)}); default: refuse mixed grids")
    group.add_argument("--mask-qa", action="store_true",
                       help="treat pixels the Fmask/SCL layer flags (cloud, shadow, ...) as nodata")
    return group


def add_output_arguments(parser: argparse.ArgumentParser):
    """--dtype, --co, --format, --no-overviews; returns the group."""
    group = parser.add_argument_group("output")
    group.add_argument("--dtype", choices=ENCODINGS, default=DEFAULTS.dtype,
                       help="float32 (physical values), int16 (HLS scaling: 1e-4 reflectance, 0.01 degC) or input "
                            "(the input bands' data type, scale, offset and nodata; clipped to the valid range)")
    group.add_argument("--co", action="append", default=[], metavar="KEY=VALUE",
                       help="GDAL creation option of the output format (repeatable), e.g. --co COMPRESS=ZSTD")
    group.add_argument("--format", choices=DRIVERS, default=DEFAULTS.driver, help="GTiff (tiled, DEFLATE, overviews) or COG")
    group.add_argument("--no-overviews", action="store_true", help="do not build overviews")
    return group


def predict_options(args: argparse.Namespace, threads: int) -> Tuple[PredictOptions, StorageOptions]:
    """The engine's options and the storage of the outputs, from the arguments of
    :func:`add_tiling_arguments`, :func:`add_band_arguments`, :func:`add_output_arguments` and ``--device``."""
    return PredictOptions(
        tile_size=args.tile, overlap=args.overlap, blend=args.blend, batch_size=args.batch, device=args.device,
        threads=threads, gap_fill=args.gap_fill, driver=args.format,
        sources=tuple(args.sources) if args.sources else None, mask_qa=args.mask_qa,
        without=tuple(getattr(args, "without", None) or ()), check_inputs=not getattr(args, "no_input_checks", False),
        overviews=not args.no_overviews, seed=getattr(args, "seed", DEFAULTS.seed)), StorageOptions(args.dtype, tuple(args.co))


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


def run(args: argparse.Namespace) -> int:
    targets = list(args.target)
    outputs = output_paths(args.out, targets)
    options, storage = predict_options(args, args.threads)
    bar = ProgressBar("predict", enabled=not args.quiet)
    log = None if args.quiet else bar.log
    inputs = args.input[0] if len(args.input) == 1 else args.input
    with open_scene(inputs, sensor=args.sensor, band_map=parse_band_map(args.band_map),
                    resampling=args.resampling, hints=HINTS) as scene:
        if log:
            log(f"input {scene.name}: {', '.join(b.key for b in scene.bands)} on {scene.grid.describe()}")
        with bounded_gdal_cache([scene], len(targets), log):
            classes = [scene.band_class(t) for t in targets]
            keyed = outputs if isinstance(outputs, str) else {scene.band_class(t).key: p for t, p in outputs.items()}
            result = predict_stored(args.model, scene, classes, keyed, options, storage, progress=bar, log=log,
                                    labels=args.labels)
        megapixels = scene.grid.width * scene.grid.height / 1e6
        masked = scene.describe_out_of_range()
    if masked:
        print(f"warning: {masked}", file=sys.stderr)
    written = list(dict.fromkeys(result.outputs.values()))
    print(f"wrote {', '.join(written)}")
    if not args.quiet:
        print(f"{result.tiles_run}/{result.tiles_total} tiles run ({result.tiles_skipped} skipped) on "
              f"{result.provider} in {result.seconds:.1f} s ({megapixels / max(result.seconds, 1e-9):.2f} MP/s)")
    return 0
