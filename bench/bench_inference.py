"""Inference engine benchmark: throughput, engine overhead over ONNX Runtime alone, peak memory vs area.

    .venv/bin/python bench/bench_inference.py [--model M.onnx] [--arch small|default] [--sizes 2048 8192]
                                              [--threads 0] [--quick] [--keep DIR]

Model: ``--model``, else the first bundled ``resources/models/*.onnx``, else the seeded fixture
``adain_unet`` of ``tests/support/adain_fixture.py`` (``--arch small``: the test fixture, w8 d2, tile 64;
``--arch default``: the default architecture, w16 d3, tile 256; untrained weights cost the same as
trained ones).  Exporting a fixture needs torch; the measured runs do not import it.

Rasters: 13-band int16 GeoTIFFs (tiled 512, DEFLATE) made by mirror-tiling the real Spain Sentinel-2
L1C scene (512 x 512) to N x N pixels, written to a temporary folder (``--keep`` keeps them).

1. Throughput and overhead (one process, model loaded once, target B10 cirrus from the 12 other bands):
   ``total`` = wall time of ``engine.predict`` (read, fill, pad, run, blend, write GTiff + overviews);
   ``ORT alone`` = the sum of ``session.run`` times over exactly the same batches, each prepared
   beforehand and timed alone (no I/O or other work in flight); overhead = total / ORT alone.
2. Peak resident memory, with GDAL's block cache fixed at 64 MB (the engine's own memory), capped as
   ``hls-translate predict`` caps it, and at GDAL's default (5 % of RAM): each size runs ``predict`` in a
   fresh subprocess that reports its own peak RSS (``VmHWM``; ``ru_maxrss`` would carry the parent's
   peak over ``fork``+``exec``) and its RSS once the model is loaded, before the first tile.

Prints a markdown report (copied into bench/RESULTS.md, section "Inference").
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

ARCHS = {"small": {}, "default": {"width": 16, "depth": 3, "embed_dim": 32, "tile_size": 256}}
TARGET = "B10"


def _rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it is not inherited across fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- inputs ------------------------------------------------------------------------------------------
def make_raster(path: str, size: int) -> str:
    """A ``size x size`` 13-band int16 GeoTIFF mirror-tiled from the real Spain scene, written strip by strip."""
    from hls_translate.core.grid import Grid, Window
    from hls_translate.core.scene import open_scene
    from hls_translate.core.writer import OutputBand, RasterWriter
    from support.data import SPAIN

    with open_scene(str(SPAIN)) as scene:
        values, valid = scene.read_stack(scene.bands)
        bands = list(scene.bands)
        codes = [scene.sources[b.id].code for b in bands]
        g = scene.grid
    v2 = np.concatenate([values, values[:, ::-1]], axis=1)
    v2 = np.concatenate([v2, v2[:, :, ::-1]], axis=2)  # 1024 x 1024 period, continuous at the joins
    p = v2.shape[1]
    x0, dx, _, y0, _, dy = g.transform
    grid = Grid(g.crs_wkt, (x0, dx, 0.0, y0, 0.0, dy), size, size)
    obands = [OutputBand(c, band=b, code=c) for b, c in zip(bands, codes)]
    cols = np.arange(size) % p
    with RasterWriter(path, grid, obands, dtype="int16", overviews=False, blocksize=512) as w:
        for r0 in range(0, size, 512):
            rows = np.arange(r0, min(r0 + 512, size)) % p
            w.write(Window(0, r0, size, len(rows)), v2[:, rows][:, :, cols])
    return path


# --- measurements ------------------------------------------------------------------------------------
def throughput(model_path: str, raster: str, out_dir: str, threads: int, batch: int, repeats: int) -> dict:
    from hls_translate.core import engine
    from hls_translate.core.engine import PredictOptions
    from hls_translate.core.engine.runner import SceneReader, TileRunner
    from hls_translate.core.scene import open_scene
    from hls_translate.core.runtime import OnnxModel

    m = OnnxModel(model_path, device="auto", threads=threads)
    opts = PredictOptions(batch_size=batch, threads=threads)
    totals, in_engine, alone_runs = [], [], []
    with open_scene(raster) as scene:
        # warm-up (session allocations) on a window of the same shapes
        engine.predict_array(m, *scene.read_stack(scene.bands, _corner(scene)), [b.id for b in scene.bands],
                             [TARGET], opts, sensor=scene.sensor)
        p = engine.plan(m.metadata, [b.id for b in scene.bands], scene.grid.height, scene.grid.width, [TARGET],
                        opts, sensor=scene.sensor)
        out = os.path.join(out_dir, "bench_out.tif")
        for _ in range(repeats):  # interleaved, minimum of each: the machine is shared
            m.run_seconds = 0.0
            res = engine.predict(m, scene, [TARGET], out, opts)
            totals.append(res.seconds)
            in_engine.append(m.run_seconds)
            # ORT alone on exactly the same batches: prepare each (untimed), then time session.run alone
            runner = TileRunner(m, p, SceneReader(scene, False), batch)
            alone, batches = 0.0, 0
            for args in runner.batches():
                b = runner.prepare(*args)
                if b.feeds is None:
                    continue
                feeds = {m.input_name(k): v for k, v in b.feeds.items()}
                t0 = time.perf_counter()
                m.session.run([m.metadata.output.name], feeds)
                alone += time.perf_counter() - t0
                batches += 1
            alone_runs.append(alone)
        mp = scene.grid.width * scene.grid.height / 1e6
        g = p.grid
    total, alone = min(totals), min(alone_runs)
    return {"raster": os.path.basename(raster), "mp": mp, "tiles": res.tiles_total, "tiles_run": res.tiles_run,
            "batches": batches, "tile": g.tile_size, "overlap": g.overlap, "provider": res.provider,
            "total_s": total, "in_engine_ort_s": min(in_engine), "ort_alone_s": alone,
            "overhead": total / alone, "mp_per_s": mp / total, "totals": totals, "alone": alone_runs}


def _corner(scene):
    from hls_translate.core.grid import Window

    s = min(scene.grid.width, scene.grid.height, 512)
    return Window(0, 0, s, s)


def child_rss(model_path: str, raster: str, out: str, threads: int, batch: int, cache: str) -> None:
    """Run in a fresh process: load, predict, print JSON with RSS figures.  ``cache``: ``cli`` caps GDAL's
    block cache as ``hls-translate predict`` does, ``default`` leaves GDAL's default (5 % of RAM)."""
    import contextlib

    from hls_translate.core.engine import PredictOptions, predict
    from hls_translate.core.gdal_cache import bounded_gdal_cache
    from hls_translate.core.scene import open_scene
    from hls_translate.core.runtime import OnnxModel

    m = OnnxModel(model_path, device="auto", threads=threads)
    with open_scene(raster) as scene:
        from osgeo import gdal

        if cache.startswith("fixed"):
            gdal.SetCacheMax(int(cache[5:]) << 20)
        with bounded_gdal_cache([scene], 1) if cache == "cli" else contextlib.nullcontext():
            cache_mb = gdal.GetCacheMax() >> 20
            before = _rss_now_mb()
            res = predict(m, scene, [TARGET], out, PredictOptions(batch_size=batch, threads=threads))
        mp = scene.grid.width * scene.grid.height / 1e6
    print(json.dumps({"rss_before_mb": before, "peak_rss_mb": _peak_rss_mb(), "seconds": res.seconds,
                      "cache": cache, "gdal_cache_mb": cache_mb,
                      "mp": mp, "tiles": res.tiles_total, "torch_loaded": "torch" in sys.modules}))


def memory(model_path: str, raster: str, out_dir: str, threads: int, batch: int, cache: str) -> dict:
    out = os.path.join(out_dir, "rss_out.tif")
    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-rss", raster, "--model", model_path,
                        "--threads", str(threads), "--batch", str(batch), "--out", out, "--cache", cache],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["raster"] = os.path.basename(raster)
    os.remove(out)
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="ONNX model (default: bundled model, else the fixture)")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="small", help="fixture architecture when no model")
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192], help="raster sizes for the memory test")
    ap.add_argument("--throughput-size", type=int, default=2048, help="raster size for throughput/overhead")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: one per core)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="throughput runs (minimum reported)")
    ap.add_argument("--skip-memory", action="store_true", help="throughput and overhead only")
    ap.add_argument("--quick", action="store_true", help="small rasters only (1024 and 4096)")
    ap.add_argument("--keep", default=None, help="folder for the generated rasters (kept)")
    ap.add_argument("--child-rss", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cache", default="cli", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_rss:
        child_rss(args.model, args.child_rss, args.out, args.threads, args.batch, args.cache)
        return 0
    if args.quick:
        args.sizes, args.throughput_size = [1024, 4096], 1024

    work = args.keep or tempfile.mkdtemp(prefix="hls_bench_")
    os.makedirs(work, exist_ok=True)
    bundled = sorted(glob.glob(os.path.join(REPO, "resources", "models", "*.onnx")))
    if args.model:
        model, which = args.model, f"given model {os.path.basename(args.model)}"
    elif bundled:
        model, which = bundled[0], f"bundled model {os.path.basename(bundled[0])}"
    else:
        model = os.path.join(work, f"fixture_{args.arch}.onnx")
        from support.adain_fixture import small_adain_onnx

        small_adain_onnx(model, **ARCHS[args.arch])
        which = f"fixture adain_unet ({args.arch} architecture, seeded untrained weights; no bundled model yet)"
    from hls_translate.core.metadata import read_metadata

    md = read_metadata(model)
    rasters = {}
    for size in sorted(set(([] if args.skip_memory else args.sizes) + [args.throughput_size])):
        path = os.path.join(work, f"spain_mirror_{size}.tif")
        if not os.path.exists(path):
            t0 = time.perf_counter()
            make_raster(path, size)
            print(f"made {path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rasters[size] = path

    from support.data import SPAIN

    tp = [throughput(model, str(SPAIN), work, args.threads, args.batch, args.repeats),
          throughput(model, rasters[args.throughput_size], work, args.threads, args.batch, args.repeats)]
    mem = [] if args.skip_memory else [memory(model, rasters[s], work, args.threads, args.batch, c)
                                       for c in ("fixed64", "cli", "default") for s in args.sizes]

    import onnxruntime

    load = os.getloadavg()
    print(f"\nmodel: {which}; {md.family}/{md.architecture}, tile {md.tiling.tile_size}, overlap "
          f"{md.tiling.overlap}, stride {md.tiling.stride}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, onnxruntime "
          f"{onnxruntime.__version__}, threads {args.threads or 'default'}, batch {args.batch}, load average "
          f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} after the run")
    print(f"\nthroughput: minimum of {args.repeats} interleaved runs each; GDAL_CACHEMAX "
          f"{os.environ.get('GDAL_CACHEMAX', 'unset (GDAL default: 5% of RAM)')}")
    print("\n| raster | MP | tiles (run) | provider | total s | MP/s | ORT alone s | ORT in engine s | overhead |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in tp:
        print(f"<!-- {r['raster']}: totals {[round(x, 2) for x in r['totals']]}, ORT alone {[round(x, 2) for x in r['alone']]} -->")
    for r in tp:
        print(f"| {r['raster']} | {r['mp']:.2f} | {r['tiles']} ({r['tiles_run']}) | {r['provider'].replace('ExecutionProvider', '')} "
              f"| {r['total_s']:.2f} | {r['mp_per_s']:.3f} | {r['ort_alone_s']:.2f} | {r['in_engine_ort_s']:.2f} "
              f"| {r['overhead']:.3f}x |")
    print("\n| GDAL cache | raster | MP | tiles | seconds | RSS after model load (MB) | peak RSS (MB) | torch imported |")
    print("|---|---|---|---|---|---|---|---|")
    for r in mem:
        what = {"cli": "as the CLI", "default": "GDAL default"}.get(r["cache"], "fixed") + f": {r['gdal_cache_mb']} MB"
        print(f"| {what} | {r['raster']} | {r['mp']:.1f} | {r['tiles']} | {r['seconds']:.1f} | {r['rss_before_mb']:.0f} "
              f"| {r['peak_rss_mb']:.0f} | {r['torch_loaded']} |")
    for c in ("fixed64", "cli", "default"):
        rs = [r for r in mem if r["cache"] == c]
        if len(rs) >= 2:
            a, b = rs[0], rs[-1]
            print(f"\n{c} cache: area x{b['mp'] / a['mp']:.0f} -> peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f} "
                  f"({a['peak_rss_mb']:.0f} -> {b['peak_rss_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
