"""The figures of docs/families/: an exported fixed-band model run on a real scene, as one small PNG.

    python scripts/family_figure.py --model pix2pix.onnx --input SCENE --band red_edge_2 --out fig.png
        real band | synthesized band (one stretch: 2-98 % of the real band)
    python scripts/family_figure.py --model toa_to_surface.onnx --input SCENE --rgb red green blue --out fig.png
        the model's input as true colour | its output as true colour (each 2-98 % of the input, so that a
        brightness or colour change shows); for a model whose outputs have no truth in the scene

    python scripts/family_figure.py --model spade.onnx --input SCENE --labels SCL.tif --rgb red green blue \
        --out fig.png
        a label-map model: the label raster (read onto the scene's grid by nearest neighbour; one colour
        per class) | the scene's real bands as true colour | the bands synthesized from the labels as true
        colour, one stretch (2-98 % of the real bands); ``--band`` instead of ``--rgb`` compares one band
        (without the label panel); ``--origin COL ROW`` places the crop

The scene is cropped to a centred square of ``--size`` pixels (a multiple of the model's stride) and run
through the engine exactly as ``hls-translate predict`` runs it (the model's tiling and blending).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from hls_translate.core.bands import resolve_band
from hls_translate.core.engine import PredictOptions, predict_array
from hls_translate.core.grid import Window
from hls_translate.core.metadata import read_metadata
from hls_translate.core.scene import open_scene


def _byte(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.nan_to_num(np.clip((a - lo) / max(hi - lo, 1e-9) * 255, 0, 255), nan=0).astype(np.uint8)


def _write_png(panel: np.ndarray, path: str) -> None:
    from osgeo import gdal

    mem = gdal.GetDriverByName("MEM").Create("", panel.shape[2], panel.shape[1], panel.shape[0], gdal.GDT_Byte)
    for i, plane in enumerate(panel):
        mem.GetRasterBand(i + 1).WriteArray(plane)
    gdal.GetDriverByName("PNG").CreateCopy(path, mem)
    if os.path.exists(path + ".aux.xml"):
        os.remove(path + ".aux.xml")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, nargs="+",
                   help="a real scene (file, folder or per-band files) the model was not trained on")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--band", help="compare this output band with the scene's real one")
    p.add_argument("--rgb", nargs=3, metavar="BAND", help="show input and output as true colour with these bands")
    p.add_argument("--labels", help="a label-map model: the label raster it synthesizes from")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--origin", type=int, nargs=2, metavar=("COL", "ROW"),
                   help="top-left pixel of the crop (default: a centred crop)")
    p.add_argument("--tile", type=int, default=None, help="tile size (default: the model's)")
    p.add_argument("--overlap", type=int, default=None, help="tile overlap (default: the model's)")
    args = p.parse_args(argv)
    md = read_metadata(args.model)
    args.input = args.input[0] if len(args.input) == 1 else args.input
    if md.kind == "label_map":
        return _label_map_figure(args, md)
    sources = list(md.input("bands").bands)
    with open_scene(args.input) as scene:
        h, w = scene.grid.height, scene.grid.width
        n = min(args.size, h, w)
        win = Window((w - n) // 2, (h - n) // 2, n, n)
        shown = [resolve_band(b).id for b in (args.rgb or [args.band])]
        ids = sorted(set(sources) | ({shown[0]} if args.band else set()))
        values, valid = scene.read_stack(ids, win)
    idx = [ids.index(c) for c in sources]
    out, ok = predict_array(args.model, values[idx], valid[idx], sources, shown,
                            PredictOptions(tile_size=args.tile, overlap=args.overlap))
    gap = np.full((3 if args.rgb else 1, n, 4), 255, np.uint8)
    if args.band:
        real = np.where(valid[ids.index(shown[0])], values[ids.index(shown[0])], np.nan)
        lo, hi = np.nanpercentile(real, [2, 98])
        panel = np.concatenate([_byte(real, lo, hi)[None], gap, _byte(out[0], lo, hi)[None]], axis=2)
        rmse = float(np.sqrt(np.nanmean((out[0] - real) ** 2)))
        print(f"{args.out}: real | synthesized {args.band} (stretch {lo:.4f}..{hi:.4f}); RMSE {rmse:.4f} over the crop")
    else:
        rgb_in = np.stack([values[ids.index(c)] for c in shown])
        lo, hi = np.nanpercentile(rgb_in, [2, 98])
        panel = np.concatenate([_byte(rgb_in, lo, hi), gap, _byte(out, lo, hi)], axis=2)
        print(f"{args.out}: input | output as true colour (stretch {lo:.4f}..{hi:.4f}); mean input "
              f"{np.nanmean(rgb_in, axis=(1, 2)).round(4).tolist()}, mean output {np.nanmean(out, axis=(1, 2)).round(4).tolist()}")
    _write_png(panel, args.out)
    return 0


#: class colours of the label panel (class index order, repeating)
LABEL_COLOURS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                          [140, 86, 75], [227, 119, 194], [188, 189, 34], [23, 190, 207], [0, 0, 0],
                          [255, 255, 255], [174, 199, 232]], dtype=np.uint8)


def _label_map_figure(args, md) -> int:
    """(With --rgb: the labels |) real bands | bands synthesized from the label raster, one stretch (the
    real bands' 2-98 %)."""
    from hls_translate.core.labels import LabelRaster

    if not args.labels:
        print(f"{args.model} is a label-map model: give --labels", file=sys.stderr)
        return 2
    shown = [resolve_band(b).id for b in (args.rgb or [args.band])]
    with open_scene(args.input) as scene:
        h, w = scene.grid.height, scene.grid.width
        s = md.tiling.stride
        n = min(args.size, h, w) // s * s
        col, row = args.origin if args.origin else ((w - n) // 2, (h - n) // 2)
        win = Window(col, row, n, n)
        values, valid = scene.read_stack(shown, win)
        with LabelRaster(args.labels, scene.grid) as labels:
            raw, raw_ok = labels.read(win)
    out, ok = predict_array(args.model, None, None, (), shown, PredictOptions(tile_size=args.tile, overlap=args.overlap),
                            labels=raw, label_valid=raw_ok)
    real = np.where(valid, values, np.nan)
    lo, hi = np.nanpercentile(real, [2, 98])
    gap = np.full((len(shown), n, 4), 255, np.uint8)
    panel = np.concatenate([_byte(real, lo, hi), gap, _byte(out, lo, hi)], axis=2)
    if len(shown) == 3:  # the label map first, one colour per class (grey: no class)
        from hls_translate.core.labels import LabelEncoding

        index, _ = LabelEncoding(md.label_classes).encode(raw, raw_ok)
        colours = np.vstack([LABEL_COLOURS[np.arange(len(md.label_classes)) % len(LABEL_COLOURS)], [[128, 128, 128]]])
        classes = colours[np.where(index >= 0, index, len(md.label_classes))].transpose(2, 0, 1).astype(np.uint8)
        panel = np.concatenate([classes, gap, panel], axis=2)
    rmse = np.sqrt(np.nanmean((out - real) ** 2, axis=(1, 2)))
    print(f"{args.out}: real | synthesized from {os.path.basename(args.labels)} (stretch {lo:.4f}..{hi:.4f}); "
          f"RMSE per band {rmse.round(4).tolist()}, mean real {np.nanmean(real, axis=(1, 2)).round(4).tolist()}, "
          f"mean synthesized {np.nanmean(out, axis=(1, 2)).round(4).tolist()}")
    _write_png(panel, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
