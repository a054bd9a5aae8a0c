"""The tile loop: read a window, decide which tiles need the model, feed it, blend, hand finished strips on.

Batches are prepared one ahead on a worker thread (reading, masks, filling, padding, feeds: I/O and numpy
that overlap with the model's runtime, which releases the GIL), then run, blended into a strip buffer one
tile high and as wide as the raster, and every finished strip goes to ``sink(y0, values [T, n, W],
valid)``.  What the feeds are is the model kind's :class:`~.feeds.FeedStrategy`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import CancelledError, ConfigError
from ..labels import LabelEncoding, LabelRaster
from ..grid import Window
from ..scene import Scene
from .feeds import FeedStrategy, Pick, TargetNeed, TileWork, strategy_for
from .options import CancelFn, ProgressFn
from .planning import PredictPlan


# --- readers -----------------------------------------------------------------------------------------
class WindowReader:
    """Reads ``[C, h, w]`` physical values and validity of band classes, and label classes, in a window."""

    def read(self, classes: Sequence, window: Window) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def read_labels(self, window: Window) -> Tuple[np.ndarray, np.ndarray]:
        """Class indices ``[h, w]`` (-1 where invalid) and validity of the label layer."""
        raise ConfigError("this input has no label layer")


class SceneReader(WindowReader):
    """Windows of a :class:`~..raster.Scene` (and of a label raster on its grid)."""

    def __init__(self, scene: Scene, use_qa: bool, labels: Optional[LabelRaster] = None,
                 encoding: Optional[LabelEncoding] = None):
        self.scene, self.use_qa = scene, use_qa
        self.labels, self.encoding = labels, encoding

    def read(self, classes, window):
        return self.scene.read_stack(list(classes), window, use_qa=self.use_qa)

    def read_labels(self, window):
        if self.labels is None or self.encoding is None:
            return super().read_labels(window)
        return self.labels.read_classes(window, self.encoding)


class ArrayReader(WindowReader):
    """Windows of arrays in memory: values and validity of ``band_ids``, and label classes ``[H, W]``."""

    def __init__(self, values: np.ndarray, valid: np.ndarray, band_ids: Sequence[int],
                 labels: Optional[Tuple[np.ndarray, np.ndarray]] = None):
        self.values, self.valid = values, valid
        self.index = {int(b): i for i, b in enumerate(band_ids)}
        self.labels = labels

    def read(self, classes, window):
        idx = [self.index[c.id] for c in classes]
        ys, xs = window.slices
        return (np.asarray(self.values[idx, ys, xs], dtype=np.float32), np.asarray(self.valid[idx, ys, xs], dtype=bool))

    def read_labels(self, window):
        if self.labels is None:
            return super().read_labels(window)
        ys, xs = window.slices
        return self.labels[0][ys, xs], self.labels[1][ys, xs]


def check_cancel(is_cancelled: CancelFn) -> None:
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


# --- the loop ----------------------------------------------------------------------------------------
@dataclass
class PreparedBatch:
    """One batch of tiles, read and turned into model feeds (on the prefetch thread)."""

    row: int
    n_tiles: int
    items: List[TileWork]  # the tiles that need the model
    feeds: Optional[Dict[str, np.ndarray]]  # None: every tile of the batch is skipped
    picks: List[Pick]
    last_in_row: bool
    real: Optional[Tuple[np.ndarray, np.ndarray]] = None  # gap-fill: the targets' real pixels of the strip


class TileRunner:
    """The tile loop of one prediction (see the module documentation)."""

    def __init__(self, model, plan_: PredictPlan, reader: WindowReader, batch_size: int, seed: int = 0):
        self.model, self.plan, self.reader, self.batch_size = model, plan_, reader, batch_size
        self.feed: FeedStrategy = strategy_for(plan_.kind)(model.metadata, plan_, seed)
        self.grid = plan_.grid
        self.T = len(plan_.targets)
        self.read_bands = plan_.read_bands
        rows = self.feed.rows
        self.n_src = len(plan_.sources)
        self.fills = [plan_.fill_values.get(c.id) for c in plan_.sources]
        self.depends = self.feed.depends
        self.tgt_rows = [rows.get(t.id) for t in plan_.targets]
        self.gap_k = [k for k in range(self.T) if plan_.gap_fill[k]]

    def batches(self):
        g = self.grid
        for r in range(g.rows):
            tiles = g.row_tiles(r)
            starts = list(range(0, len(tiles), self.batch_size))
            for b0 in starts:
                yield r, tiles[b0:b0 + self.batch_size], b0 == starts[-1]

    def prepare(self, row: int, batch, last_in_row: bool) -> PreparedBatch:
        g, p = self.grid, self.plan
        th, tw = g.tile_height, g.tile_width
        y, x0 = g.row_starts[row], batch[0].x
        window = Window(x0, y, batch[-1].x + tw - x0, th)
        vals, valid = self.reader.read(self.read_bands, window)
        labels = None
        if self.feed.reads_labels:  # the label validity becomes the last row of the validity stack
            labels, label_ok = self.reader.read_labels(window)
            valid = np.concatenate([valid, label_ok[None]])
        all_valid = bool(valid.all())
        items: List[TileWork] = []
        for t in batch:
            cols = slice(t.x - x0, t.x - x0 + tw)
            if all_valid:  # the common case: no masks; gap-fill targets have nothing to fill
                needs = [TargetNeed(k, None) for k in range(self.T) if not p.gap_fill[k]]
            else:
                needs = []
                tvalid = valid[:, :, cols]
                for k in range(self.T):
                    m = tvalid[self.depends[k]].all(axis=0)
                    if p.gap_fill[k]:
                        m &= ~tvalid[self.tgt_rows[k]]
                    if m.any():
                        needs.append(TargetNeed(k, m))
            if needs:
                items.append(TileWork(t, needs, cols))
        feeds, picks = None, []
        if items:
            if not all_valid and self.n_src:  # the model sees each band's mean where the band is nodata
                _fill_invalid(vals[:self.n_src], valid[:self.n_src], self.fills)
            feeds, picks = self.feed.build(vals, labels, items, g.model_shape)
        real = None
        if last_in_row and self.gap_k:
            n = g.rows_final_after(row) - y
            real = self.reader.read([p.targets[k] for k in self.gap_k], Window(0, y, g.width, n))
        return PreparedBatch(row, len(batch), items, feeds, picks, last_in_row, real)

    def _prepare_when(self, start: "threading.Event", args) -> PreparedBatch:
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
                    check_cancel(is_cancelled)
                    b = pending.result()
                    start = threading.Event()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending = pool.submit(self._prepare_when, start, nxt)
                    # the next batch is prepared while the model runs this one (ONNX Runtime releases the
                    # GIL); starting it only now keeps the worker from holding the GIL as this thread enters it
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

    def _flush(self, b: PreparedBatch, acc: np.ndarray, wsum: np.ndarray, sink) -> None:
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


def run_tiles(model, plan_: PredictPlan, reader: WindowReader, sink, batch_size: int, progress: ProgressFn,
              is_cancelled: CancelFn, progress_span: float = 1.0, seed: int = 0) -> Tuple[int, int]:
    """Run the tile loop of ``plan_`` over ``reader``; returns (tiles run, tiles skipped)."""
    return TileRunner(model, plan_, reader, batch_size, seed).run(sink, progress, is_cancelled, progress_span)


__all__ = ["WindowReader", "SceneReader", "ArrayReader", "TileRunner", "PreparedBatch", "run_tiles",
           "check_cancel"]
