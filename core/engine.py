"""Streaming tiled inference: run an exported model over a raster of any size (numpy + onnxruntime).

:func:`predict` reads a :class:`~.scene.Scene` tile row by tile row, runs the model on batches of
tiles, blends overlapping predictions (:mod:`.tiling`) in a strip buffer one tile high and as wide as
the raster, and writes every finished strip to the output GeoTIFF/COG
(:class:`~.writer.RasterWriter`, temp file + rename).  Memory therefore grows with the raster's width
and the tile size, never with its area.  :func:`predict_array` runs the same tiling and blending on
arrays in memory (tests, evaluation).

Everything is driven by the model's :class:`~.metadata.ModelMetadata`: tensor names and roles, the band
order of the ``bands`` input, the stride (tiles are reflect-padded to a multiple of it), the recommended
tile size and overlap, and the normalization means (invalid input pixels are filled with the band's
mean before the model sees them).  Both model kinds run:

* conditional models (``bands`` [N, 15, H, W], ``presence`` [N, 15], ``target`` [N]): one batch item per
  (tile, target); a target's inputs are the source bands minus the target itself;
* fixed-band models (``bands`` [N, C_in, H, W] -> ``output`` [N, C_out, H, W]): one item per tile; the
  requested targets are picked from the output channels.

Nodata: an output pixel is nodata where any input band it was computed from is nodata (fill value,
not finite, or flagged by the QA layer when ``mask_qa``); a tile where every output pixel would be
nodata is skipped without running the model.  With ``gap_fill`` the target band must be in the scene:
its valid pixels are kept and only its nodata pixels are synthesized (tiles without any are skipped).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .. import __version__
from . import bands as _bands
from .bands import BandClass
from .errors import BandError, CancelledError, ConfigError, MissingBandError, RasterWriteError
from .metadata import ModelMetadata, read_metadata
from .grid import Window
from .scene import Scene
from .writer import OutputBand, RasterWriter, check_writable
from .tiling import BLEND_MODES, DEFAULT_FLOOR, TileGrid, describe as describe_grid, pad_to

DTYPES = ("float32", "int16")
DRIVERS = ("GTiff", "COG")
ProgressFn = Optional[Callable[[float], None]]
CancelFn = Optional[Callable[[], bool]]
LogFn = Optional[Callable[[str], None]]
TargetSpec = Union[str, int, BandClass]


# --- value types -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PredictOptions:
    """How to run a prediction.  ``None`` for ``tile_size``/``overlap`` means: the model's recommendation.

    * ``blend``: ``cosine`` | ``gaussian`` | ``mean`` | ``crop`` (see :mod:`.tiling`);
    * ``batch_size``: tiles per model run (a conditional model runs one item per tile and target);
    * ``device``: ``auto`` | ``cpu`` | ``cuda``; ``threads``: ONNX Runtime intra-op threads (0: default);
      both apply when ``predict`` loads the model from a path;
    * ``gap_fill``: keep the target band's valid pixels, synthesize only its nodata pixels;
    * ``dtype``: ``float32`` (physical values) or ``int16`` (scaled by the band class's storage scale,
      1e-4 for reflectance, 0.01 for brightness temperature, as HLS stores them);
    * ``driver``: ``GTiff`` (tiled, DEFLATE, overviews) or ``COG``;
    * ``sources``: the input bands to use; ``None``: every band of the scene the model accepts (minus the
      target itself);
    * ``mask_qa``: also treat pixels the scene's QA layer (Fmask/SCL) flags as nodata;
    * ``blend_floor``: smallest weight of the cosine/gaussian windows (> 0).
    """

    tile_size: Optional[int] = None
    overlap: Optional[int] = None
    blend: str = "cosine"
    batch_size: int = 4
    device: str = "auto"
    threads: int = 0
    gap_fill: bool = False
    dtype: str = "float32"
    driver: str = "GTiff"
    sources: Optional[Tuple[TargetSpec, ...]] = None
    mask_qa: bool = False
    overviews: bool = True
    blend_floor: float = DEFAULT_FLOOR

    def __post_init__(self):
        def bad(name, why):
            raise ConfigError(f"predict option {name}: {why}")

        if self.tile_size is not None and (not isinstance(self.tile_size, int) or self.tile_size <= 0):
            bad("tile_size", f"must be a positive integer, got {self.tile_size!r}")
        if self.overlap is not None and (not isinstance(self.overlap, int) or self.overlap < 0):
            bad("overlap", f"must be a non-negative integer, got {self.overlap!r}")
        if self.blend not in BLEND_MODES:
            bad("blend", f"{self.blend!r} is not one of {', '.join(BLEND_MODES)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", f"must be an integer >= 1, got {self.batch_size!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            bad("device", f"{self.device!r} is not one of auto, cpu, cuda")
        if not isinstance(self.threads, int) or self.threads < 0:
            bad("threads", f"must be an integer >= 0 (0: ONNX Runtime's default), got {self.threads!r}")
        if self.dtype not in DTYPES:
            bad("dtype", f"{self.dtype!r} is not one of {', '.join(DTYPES)}")
        drv = {"GTIFF": "GTiff", "COG": "COG"}.get(str(self.driver).upper())
        if drv is None:
            bad("driver", f"{self.driver!r} is not one of {', '.join(DRIVERS)}")
        object.__setattr__(self, "driver", drv)
        if self.sources is not None:
            if isinstance(self.sources, (str, int, BandClass)):
                object.__setattr__(self, "sources", (self.sources,))
            else:
                object.__setattr__(self, "sources", tuple(self.sources))
            if not self.sources:
                bad("sources", "an empty list of source bands (use None for: every band the model accepts)")
        if not 0.0 < float(self.blend_floor) <= 1.0:
            bad("blend_floor", f"must be in (0, 1], got {self.blend_floor!r}")


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict` did.  ``outputs`` maps each target's band class key to the file holding it.

    ``tiles_total`` counts tile positions; ``tiles_run`` those where the model ran (for at least one
    target); ``tiles_skipped`` those where no target needed it (all nodata, or nothing to gap-fill).
    """

    outputs: Mapping[str, str]
    provider: str
    tiles_total: int
    tiles_run: int
    tiles_skipped: int
    seconds: float
    model_seconds: float = 0.0  # of which inside ONNX Runtime


@dataclass(frozen=True)
class PredictPlan:
    """Everything :func:`predict` decided before computing (targets, inputs, tiles); see :func:`plan`."""

    targets: Tuple[BandClass, ...]
    sources: Tuple[BandClass, ...]  # union of the input bands used
    target_sources: Tuple[Tuple[BandClass, ...], ...]  # per target: the bands its pixels depend on
    gap_fill: Tuple[bool, ...]  # per target
    grid: TileGrid
    blend: str
    fill_values: Mapping[int, Optional[float]]  # class id -> value for invalid input pixels (None: tile mean)
    conditional: bool
    sensor: str = ""
    blend_floor: float = DEFAULT_FLOOR

    @property
    def read_bands(self) -> Tuple[BandClass, ...]:
        """Bands read from the scene: the sources, then gap-filled targets not among them."""
        extra = [t for t, g in zip(self.targets, self.gap_fill) if g and t not in self.sources]
        return self.sources + tuple(dict.fromkeys(extra))

    def summary(self) -> str:
        lines = []
        for t, srcs, g in zip(self.targets, self.target_sources, self.gap_fill):
            lines.append(f"{_label(t, self.sensor)}{' (gap-fill)' if g else ''} <- "
                         + ", ".join(_label(s, self.sensor) for s in srcs))
        lines.append(f"{describe_grid(self.grid)}, blend {self.blend}")
        return "\n".join(lines)


def _label(cls: BandClass, sensor: str) -> str:
    return _bands.band_label(cls, sensor)


# --- planning ----------------------------------------------------------------------------------------
def _resolve(spec: TargetSpec, sensor: str) -> BandClass:
    if isinstance(spec, (BandClass, int)) and not isinstance(spec, bool):
        return _bands.band_class(spec)
    return _bands.resolve_band(str(spec), sensor or None)


def _names(classes, sensor) -> str:
    return ", ".join(_label(_bands.band_class(c), sensor) for c in classes) or "none"


def plan(metadata: ModelMetadata, available: Sequence[int], height: int, width: int,
         targets: Sequence[TargetSpec], options: PredictOptions = PredictOptions(), sensor: str = "",
         where: str = "the input", model_name: str = "the model") -> PredictPlan:
    """Check a request against a model and the bands at hand, and decide targets, inputs and tiles.

    ``available``: band class ids the input has.  Raises (before any compute) :class:`MissingBandError`
    for a target the model cannot synthesize or an input band it needs that the input lacks,
    :class:`BandError` for unknown or duplicated bands, :class:`ConfigError` for tile/overlap values that
    do not fit the model.
    """
    md = metadata
    have = [int(c) for c in available]
    if isinstance(targets, (str, int, BandClass)):
        targets = [targets]
    if not targets:
        raise ConfigError("no target band given: name at least one band to synthesize")
    tcls: List[BandClass] = []
    for spec in targets:
        c = _resolve(spec, sensor)
        if c in tcls:
            raise BandError(f"target band {_label(c, sensor)} is given twice")
        tcls.append(c)
    if md.conditional:
        can = set(md.target_bands)
        accepted = [c for c in md.input("bands").bands if c in set(md.source_bands)]
    else:
        can = set(md.output.bands)
        accepted = list(md.input("bands").bands)
    for c in tcls:
        if c.id not in can:
            raise MissingBandError(f"{model_name} cannot synthesize {_label(c, sensor)} ({c.key}); it synthesizes: "
                                   f"{_names(sorted(can), sensor)}")
    gap = tuple(bool(options.gap_fill) for _ in tcls)
    if options.gap_fill:
        lacking = [c for c in tcls if c.id not in have]
        if lacking:
            raise MissingBandError(f"gap-fill keeps the real pixels of the target band, but {where} has no "
                                   f"{_names(lacking, sensor)} band; without --gap-fill the band is synthesized whole")
    if md.conditional:
        if options.sources is not None:
            src = []
            for spec in options.sources:
                c = _resolve(spec, sensor)
                if c.id not in have:
                    raise MissingBandError(f"source band {_label(c, sensor)} is not in {where} (it has: {_names(have, sensor)})")
                if c.id not in accepted:
                    raise BandError(f"{model_name} does not take {_label(c, sensor)} as input; it accepts: "
                                    f"{_names(accepted, sensor)}")
                if c not in src:
                    src.append(c)
        else:
            src = [_bands.band_class(c) for c in accepted if c in have]
        per_target = []
        for t in tcls:
            s = tuple(c for c in src if c != t)
            if not s:
                raise MissingBandError(
                    f"no input band to synthesize {_label(t, sensor)} from: {model_name} accepts "
                    f"{_names(accepted, sensor)}; {where} has {_names(have, sensor)}")
            per_target.append(s)
        sources = tuple(c for c in src if any(c in s for s in per_target))
    else:
        missing = [c for c in accepted if c not in have]
        if missing:
            raise MissingBandError(f"{model_name} needs input band(s) {_names(missing, sensor)} that {where} lacks "
                                   f"(it has: {_names(have, sensor)})")
        sources = tuple(_bands.band_class(c) for c in accepted)
        if options.sources is not None:
            given = {_resolve(s, sensor) for s in options.sources}
            if not set(sources) <= given:
                raise BandError(f"{model_name} is a fixed-band model: it always takes exactly "
                                f"{_names(accepted, sensor)}; the given sources lack "
                                f"{_names([c for c in sources if c not in given], sensor)}")
        per_target = [sources for _ in tcls]
    hint = md.tiling
    stride = max(1, int(hint.stride))
    tile = options.tile_size if options.tile_size is not None else int(hint.tile_size)
    if tile % stride:
        raise ConfigError(f"tile size {tile} is not a multiple of the model's stride {stride}")
    if options.overlap is not None:
        overlap = options.overlap
        if overlap >= tile:
            raise ConfigError(f"overlap {overlap} must be smaller than the tile size {tile}")
    else:  # the model's recommendation, kept below half a tile when a smaller tile was asked for
        overlap = min(int(hint.overlap), tile // 2)
        overlap = min(overlap, tile - 1)
    grid = TileGrid(int(height), int(width), int(tile), int(overlap), stride)
    fills = {c.id: (float(md.normalization[c.id].mean) if c.id in md.normalization else None) for c in sources}
    return PredictPlan(targets=tuple(tcls), sources=sources, target_sources=tuple(per_target), gap_fill=gap,
                       grid=grid, blend=options.blend, fill_values=fills, conditional=md.conditional,
                       sensor=sensor, blend_floor=float(options.blend_floor))


# --- the tile loop -----------------------------------------------------------------------------------
class _Reader:
    """Reads ``[C, h, w]`` physical values and validity of some band classes in a window."""

    def read(self, classes: Sequence[BandClass], window: Window) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class _SceneReader(_Reader):
    def __init__(self, scene: Scene, use_qa: bool):
        self.scene, self.use_qa = scene, use_qa

    def read(self, classes, window):
        return self.scene.read_stack(list(classes), window, use_qa=self.use_qa)


class _ArrayReader(_Reader):
    def __init__(self, values: np.ndarray, valid: np.ndarray, band_ids: Sequence[int]):
        self.values, self.valid = values, valid
        self.index = {int(b): i for i, b in enumerate(band_ids)}

    def read(self, classes, window):
        idx = [self.index[c.id] for c in classes]
        ys, xs = window.slices
        return (np.asarray(self.values[idx, ys, xs], dtype=np.float32), np.asarray(self.valid[idx, ys, xs], dtype=bool))


def _check_cancel(is_cancelled: CancelFn) -> None:
    if is_cancelled is not None and is_cancelled():
        raise CancelledError("cancelled: no output was written")


def _fill_invalid(vals: np.ndarray, valid: np.ndarray, fills: Sequence[Optional[float]]) -> np.ndarray:
    """Replace invalid pixels of each band by the band's fill value (its mean), in place."""
    for i, f in enumerate(fills):
        bad = ~valid[i]
        if bad.any():
            if f is None:  # no statistics in the model: the mean of the valid pixels around
                ok = valid[i]
                f = float(vals[i][ok].mean()) if ok.any() else 0.0
            vals[i][bad] = f
    return vals


@dataclass
class _Batch:
    """One batch of tiles, read and turned into model feeds (on the prefetch thread)."""

    row: int
    n_tiles: int
    items: list  # [(tile, [(target index, output mask or None)], window columns)]: tiles that need the model
    feeds: Optional[Dict[str, np.ndarray]]  # None: every tile of the batch is skipped
    picks: list  # per use of a model output: (batch item, tile, target index, output channel, output mask)
    last_in_row: bool
    real: Optional[Tuple[np.ndarray, np.ndarray]] = None  # gap-fill: the targets' real pixels of the strip


class _TileRunner:
    """The tile loop of one prediction: batches are prepared one ahead on a worker thread (reading,
    masks, filling, padding, feeds: I/O and numpy that overlap with ONNX Runtime), then run, blended
    into the strip buffer, and every finished strip goes to ``sink(y0, values [T, n, W], valid)``."""

    def __init__(self, model, plan_: PredictPlan, reader: _Reader, batch_size: int):
        self.model, self.plan, self.reader, self.batch_size = model, plan_, reader, batch_size
        md: ModelMetadata = model.metadata
        g = plan_.grid
        self.grid = g
        self.T = len(plan_.targets)
        self.read_bands = plan_.read_bands
        ridx = {c.id: i for i, c in enumerate(self.read_bands)}
        self.n_src = len(plan_.sources)
        self.fills = [plan_.fill_values.get(c.id) for c in plan_.sources]
        self.src_idx = [np.array([ridx[c.id] for c in s]) for s in plan_.target_sources]
        self.tgt_idx = [ridx.get(t.id) for t in plan_.targets]
        self.gap_k = [k for k in range(self.T) if plan_.gap_fill[k]]
        spec = md.input("bands")
        chan = {c: i for i, c in enumerate(spec.bands)}
        self.n_chan = len(spec.bands)
        if plan_.conditional:
            self.src_chan = [np.array([chan[c.id] for c in s]) for s in plan_.target_sources]
            self.presence = np.zeros((self.T, self.n_chan), dtype=np.float32)
            for k, sc in enumerate(self.src_chan):
                self.presence[k, sc] = 1.0
            self.target_ids = np.array([t.id for t in plan_.targets], dtype=np.int64)
        else:
            self.in_pos = np.array([ridx[c] for c in spec.bands])
            self.out_chan = [list(md.output.bands).index(t.id) for t in plan_.targets]

    def batches(self):
        g = self.grid
        for r in range(g.rows):
            tiles = g.row_tiles(r)
            starts = list(range(0, len(tiles), self.batch_size))
            for b0 in starts:
                yield r, tiles[b0:b0 + self.batch_size], b0 == starts[-1]

    def prepare(self, row: int, batch, last_in_row: bool) -> _Batch:
        g, p = self.grid, self.plan
        th, tw = g.tile_height, g.tile_width
        mh, mw = g.model_shape
        y, x0 = g.row_starts[row], batch[0].x
        vals, valid = self.reader.read(self.read_bands, Window(x0, y, batch[-1].x + tw - x0, th))
        all_valid = bool(valid.all())
        items = []  # (tile, [(target index, output mask or None: every pixel)], columns in the window)
        for t in batch:
            xs = slice(t.x - x0, t.x - x0 + tw)
            if all_valid:  # the common case: no masks; gap-fill targets have nothing to fill
                needs = [(k, None) for k in range(self.T) if not p.gap_fill[k]]
            else:
                needs = []
                tvalid = valid[:, :, xs]
                for k in range(self.T):
                    m = tvalid[self.src_idx[k]].all(axis=0)
                    if p.gap_fill[k]:
                        m &= ~tvalid[self.tgt_idx[k]]
                    if m.any():
                        needs.append((k, m))
            if needs:
                items.append((t, needs, xs))
        feeds, picks = None, []
        if items:
            if not all_valid:  # the model sees each band's mean where the band is nodata
                _fill_invalid(vals[:self.n_src], valid[:self.n_src], self.fills)
            pad = (mh, mw) != (th, tw)
            if p.conditional:
                pairs = [(i, k, m) for i, (_, needs, _) in enumerate(items) for k, m in needs]
                bands = np.zeros((len(pairs), self.n_chan, mh, mw), dtype=np.float32)
                for j, (i, k, _) in enumerate(pairs):
                    xs = items[i][2]
                    if pad:
                        bands[j, self.src_chan[k]] = pad_to(vals[self.src_idx[k], :, xs], mh, mw)
                    else:  # channel by channel: no temporary stack
                        for ch, si in zip(self.src_chan[k], self.src_idx[k]):
                            bands[j, ch] = vals[si, :, xs]
                ks = [k for _, k, _ in pairs]
                feeds = {"bands": bands, "presence": self.presence[ks], "target": self.target_ids[ks]}
                picks = [(j, items[i][0], k, 0, m) for j, (i, k, m) in enumerate(pairs)]
            else:
                bands = np.empty((len(items), len(self.in_pos), mh, mw), dtype=np.float32)
                for i, (_, _, xs) in enumerate(items):
                    src = vals[self.in_pos, :, xs]
                    bands[i] = pad_to(src, mh, mw) if pad else src
                feeds = {"bands": bands}
                picks = [(i, t, k, self.out_chan[k], m) for i, (t, needs, _) in enumerate(items) for k, m in needs]
        real = None
        if last_in_row and self.gap_k:
            n = g.rows_final_after(row) - y
            real = self.reader.read([p.targets[k] for k in self.gap_k], Window(0, y, g.width, n))
        return _Batch(row, len(batch), items, feeds, picks, last_in_row, real)

    def _prepare_when(self, start: "threading.Event", args) -> _Batch:
        start.wait()
        return self.prepare(*args)

    def run(self, sink, progress: ProgressFn, is_cancelled: CancelFn, progress_span: float = 1.0) -> Tuple[int, int]:
        """Returns (tiles run, tiles skipped)."""
        from concurrent.futures import ThreadPoolExecutor

        g, p, T = self.grid, self.plan, self.T
        th, tw = g.tile_height, g.tile_width
        acc = np.zeros((T, th, g.width), dtype=np.float32)
        wsum = np.zeros((T, th, g.width), dtype=np.float32)
        total, done, run, skipped = len(g), 0, 0, 0
        todo = iter(self.batches())  # lazily: the list of tiles grows with the area
        nxt = next(todo)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hls_translate-prefetch") as pool:
            pending = pool.submit(self.prepare, *nxt)
            start = threading.Event()
            try:
                while nxt is not None:
                    _check_cancel(is_cancelled)
                    b = pending.result()
                    start = threading.Event()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending = pool.submit(self._prepare_when, start, nxt)
                    # the next batch is prepared while ONNX Runtime runs this one (it releases the GIL);
                    # starting it only now keeps the worker from holding the GIL as this thread enters ORT
                    start.set()
                    if b.feeds is not None:
                        out = self.model.run(b.feeds)
                        for j, t, k, ch, m in b.picks:
                            w = g.weights(t, p.blend, p.blend_floor)
                            wk = w if m is None else w * m
                            xs = slice(t.x, t.x + tw)
                            acc[k, :, xs] += out[j, ch, :th, :tw] * wk
                            wsum[k, :, xs] += wk
                    run += len(b.items)
                    skipped += b.n_tiles - len(b.items)
                    done += b.n_tiles
                    if progress is not None:
                        progress(progress_span * done / total)
                    if b.last_in_row:
                        self._flush(b, acc, wsum, sink)
            except BaseException:
                start.set()
                pending.cancel()
                raise
        return run, skipped

    def _flush(self, b: _Batch, acc: np.ndarray, wsum: np.ndarray, sink) -> None:
        """Hand the rows no later tile row touches to ``sink``; keep the overlap rows for the next."""
        g = self.grid
        th = g.tile_height
        y = g.row_starts[b.row]
        n = g.rows_final_after(b.row) - y
        ok = wsum[:, :n] > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            strip = acc[:, :n] / wsum[:, :n]
        strip[~ok] = np.nan
        if b.real is not None:  # gap-fill: the target's real pixels win
            real, real_ok = b.real
            for j, k in enumerate(self.gap_k):
                strip[k] = np.where(real_ok[j], real[j], strip[k])
                ok[k] |= real_ok[j]
        ok &= np.isfinite(strip)
        sink(y, strip, ok)
        if n < th:
            acc[:, :th - n] = acc[:, n:].copy()
            wsum[:, :th - n] = wsum[:, n:].copy()
        acc[:, th - n:] = 0.0
        wsum[:, th - n:] = 0.0


def _run_tiles(model, plan_: PredictPlan, reader: _Reader, sink, batch_size: int, progress: ProgressFn,
               is_cancelled: CancelFn, progress_span: float = 1.0) -> Tuple[int, int]:
    return _TileRunner(model, plan_, reader, batch_size).run(sink, progress, is_cancelled, progress_span)


# --- public API --------------------------------------------------------------------------------------
def predict_array(model, values: np.ndarray, valid: Optional[np.ndarray], band_ids: Sequence[TargetSpec],
                  targets: Sequence[TargetSpec], options: PredictOptions = PredictOptions(), *,
                  sensor: str = "", progress: ProgressFn = None, is_cancelled: CancelFn = None,
                  log: LogFn = None) -> Tuple[np.ndarray, np.ndarray]:
    """Tiled, blended inference on arrays in memory.

    ``values``: ``[C, H, W]`` physical values of the bands ``band_ids`` (class ids, keys or names);
    ``valid``: ``[C, H, W]`` bool (None: all valid).  Returns ``(out [T, H, W] float32, valid [T, H, W]
    bool)`` for ``targets``, in order; invalid output pixels hold NaN.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3:
        raise ValueError(f"values must be [C, H, W], got shape {values.shape}")
    valid = np.ones(values.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if valid.shape != values.shape:
        raise ValueError(f"valid has shape {valid.shape}, values {values.shape}")
    ids = [_resolve(b, sensor).id for b in band_ids]
    if len(ids) != values.shape[0]:
        raise ValueError(f"{len(ids)} band ids for {values.shape[0]} channels")
    if len(set(ids)) != len(ids):
        raise BandError(f"band ids name a class twice: {ids}")
    from .runtime import load_model

    m = load_model(model, device=options.device, threads=options.threads, log=log)
    p = plan(m.metadata, ids, values.shape[1], values.shape[2], targets, options, sensor=sensor,
             where="the array", model_name=m.name)
    out = np.full((len(p.targets),) + values.shape[1:], np.nan, dtype=np.float32)
    ok = np.zeros(out.shape, dtype=bool)

    def sink(y, strip, strip_ok):
        out[:, y:y + strip.shape[1]] = strip
        ok[:, y:y + strip.shape[1]] = strip_ok

    _run_tiles(m, p, _ArrayReader(values, valid, ids), sink, options.batch_size, progress, is_cancelled)
    return out, ok


def _output_paths(outputs, targets: Sequence[BandClass], sensor: str) -> Union[str, Dict[int, str]]:
    if isinstance(outputs, (str, os.PathLike)):
        return os.path.abspath(os.fspath(outputs))
    if not isinstance(outputs, Mapping):
        raise ConfigError(f"outputs must be one path or a mapping target -> path, got {type(outputs).__name__}")
    paths: Dict[int, str] = {}
    for spec, path in outputs.items():
        c = _resolve(spec, sensor)
        if c not in targets:
            raise ConfigError(f"outputs names {_label(c, sensor)}, which is not among the targets "
                              f"({', '.join(_label(t, sensor) for t in targets)})")
        paths[c.id] = os.path.abspath(os.fspath(path))
    lacking = [t for t in targets if t.id not in paths]
    if lacking:
        raise ConfigError(f"outputs give no path for target(s) {', '.join(_label(t, sensor) for t in lacking)}")
    if len(set(paths.values())) != len(paths):
        raise ConfigError("outputs: two targets are given the same path; give one path (one multi-band file) "
                          "or a different path per target")
    return paths


def _output_band(t: BandClass, sources: Sequence[BandClass], gap: bool, sensor: str, model_name: str) -> OutputBand:
    sb = _bands.sensor_band_for_class(sensor, t) if sensor in _bands.SENSORS else None
    label = _label(t, sensor)
    return OutputBand(
        description=f"{label} ({'gap-filled' if gap else 'synthesized'})", band=t, code=sb.code if sb else "",
        metadata={"HLS_TRANSLATE_MODE": "gap-fill" if gap else "synthesized",
                  "HLS_TRANSLATE_SOURCES": ",".join(_label(s, sensor) for s in sources),
                  "HLS_TRANSLATE_MODEL": model_name})


def predict(model, scene: Scene, targets: Sequence[TargetSpec], outputs, options: PredictOptions = PredictOptions(),
            progress: ProgressFn = None, is_cancelled: CancelFn = None, log: LogFn = None) -> PredictResult:
    """Synthesize ``targets`` over ``scene`` with ``model`` and write them to ``outputs``.

    ``model``: path to an exported ``.onnx`` file or a loaded :class:`~.runtime.OnnxModel`.
    ``outputs``: one path (a multi-band file, one band per target in the order given) or a mapping
    target -> path (one file per target).  Everything is checked (model file and metadata, targets,
    input bands, output paths, options) before any tile is computed.  ``progress(fraction)`` is called
    after every batch; ``is_cancelled()`` before every batch: when it returns True,
    :class:`~.errors.CancelledError` is raised.  A cancelled or failed run leaves nothing at the output
    paths (files already there stay as they were).
    """
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    from .runtime import OnnxModel, load_model

    # 1. cheap checks first: metadata (no session yet), bands, tiles, output paths
    if isinstance(model, OnnxModel):
        md, model_name = model.metadata, model.name
    else:
        path = os.fspath(model)
        md, model_name = read_metadata(path), os.path.basename(path)
    sensor = scene.sensor
    p = plan(md, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, targets, options,
             sensor=sensor, where=f"scene {scene.name}" if scene.name else "the scene", model_name=model_name)
    out_paths = _output_paths(outputs, p.targets, sensor)
    inputs = {os.path.abspath(s.path) for s in scene.sources.values()}
    for path in ([out_paths] if isinstance(out_paths, str) else list(out_paths.values())):
        check_writable(path)
        if path in inputs:
            raise RasterWriteError(f"output {path} is one of the input files; write the result elsewhere")
    # 2. the session
    m = load_model(model, device=options.device, threads=options.threads, log=say)
    if isinstance(model, OnnxModel) and (options.device != "auto" or options.threads):
        say(f"model already loaded on {m.provider}; the device/threads options apply only when loading")
    say(f"model {m.describe()}")
    for line in p.summary().splitlines():
        say(line)
    # 3. writers (temp files beside the outputs)
    meta = {
        "HLS_TRANSLATE_MODEL": model_name, "HLS_TRANSLATE_MODEL_FAMILY": md.family,
        "HLS_TRANSLATE_MODEL_ARCHITECTURE": md.architecture, "HLS_TRANSLATE_MODEL_VERSION": md.model_version,
        "HLS_TRANSLATE_SOURCE_BANDS": ",".join(_label(s, sensor) for s in p.sources),
        "HLS_TRANSLATE_SCENE": scene.name, "HLS_TRANSLATE_SENSOR": sensor,
        "HLS_TRANSLATE_TILING": f"tile {p.grid.tile_size}, overlap {p.grid.overlap}, blend {p.blend}",
        "HLS_TRANSLATE_VERSION": __version__,
    }
    obands = [_output_band(t, s, g, sensor, model_name) for t, s, g in zip(p.targets, p.target_sources, p.gap_fill)]
    nodata = float(md.nodata) if options.dtype == "float32" else None
    wkw = dict(dtype=options.dtype, driver=options.driver, nodata=nodata, overviews=options.overviews)
    writers: List[RasterWriter] = []
    try:
        if isinstance(out_paths, str):
            meta["HLS_TRANSLATE_TARGETS"] = ",".join(_label(t, sensor) for t in p.targets)
            writers.append(RasterWriter(out_paths, scene.grid, obands, metadata=meta, **wkw))
            result_paths = {t.key: out_paths for t in p.targets}

            def sink(y, strip, ok):
                writers[0].write(Window(0, y, scene.grid.width, strip.shape[1]), strip, ok)
        else:
            for t, ob in zip(p.targets, obands):
                writers.append(RasterWriter(out_paths[t.id], scene.grid, [ob],
                                            metadata={**meta, "HLS_TRANSLATE_TARGETS": _label(t, sensor)}, **wkw))
            result_paths = {t.key: out_paths[t.id] for t in p.targets}

            def sink(y, strip, ok):
                win = Window(0, y, scene.grid.width, strip.shape[1])
                for k, w in enumerate(writers):
                    w.write(win, strip[k:k + 1], ok[k:k + 1])

        run_before = m.run_seconds
        run, skipped = _run_tiles(m, p, _SceneReader(scene, options.mask_qa), sink, options.batch_size,
                                  progress, is_cancelled, progress_span=0.95)
        _check_cancel(is_cancelled)
        for w in writers:
            w.commit()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    if progress is not None:
        progress(1.0)
    seconds = time.perf_counter() - t0
    say(f"{run} of {len(p.grid)} tiles run, {skipped} skipped (nodata or nothing to fill), {seconds:.1f} s")
    return PredictResult(outputs=result_paths, provider=m.provider, tiles_total=len(p.grid), tiles_run=run,
                         tiles_skipped=skipped, seconds=seconds, model_seconds=m.run_seconds - run_before)


__all__ = ["PredictOptions", "PredictResult", "PredictPlan", "plan", "predict", "predict_array", "DTYPES", "DRIVERS"]
