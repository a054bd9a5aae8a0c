"""The public calls: :func:`predict` (a scene to GeoTIFF/COG files) and :func:`predict_array` (arrays)."""

from __future__ import annotations

import os
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ... import __version__
from .. import bands as _bands
from ..bands import BandClass
from ..errors import BandError, ConfigError, RasterWriteError
from ..band_checks import check_bands
from ..labels import LabelEncoding, LabelRaster, check_label_classes
from ..metadata import read_metadata
from ..grid import Window
from ..scene import Scene
from ..fileio import check_outputs_are_not_inputs
from ..writer import OutputBand, RasterWriter, check_writable
from ..runtime import RunnableModel, load_model
from .options import CancelFn, LogFn, PredictOptions, PredictResult, ProgressFn, TargetSpec, resolve_spec
from .planning import PredictPlan, plan
from .runner import ArrayReader, SceneReader, check_cancel, run_tiles

LabelInput = Union[str, os.PathLike, LabelRaster]


def predict_array(model, values: Optional[np.ndarray], valid: Optional[np.ndarray], band_ids: Sequence[TargetSpec],
                  targets: Sequence[TargetSpec], options: PredictOptions = PredictOptions(), *,
                  sensor: str = "", progress: ProgressFn = None, is_cancelled: CancelFn = None,
                  log: LogFn = None, labels: Optional[np.ndarray] = None,
                  label_valid: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Tiled, blended inference on arrays in memory.

    ``values``: ``[C, H, W]`` physical values of the bands ``band_ids`` (class ids, keys or names);
    ``valid``: ``[C, H, W]`` bool (None: all valid).  A label-map model takes ``labels`` instead: the raw
    class values ``[H, W]`` of its label layer (``label_valid``: where they are usable; values the model
    does not know are invalid anyway), and ``values`` may be None.  Returns ``(out [T, H, W] float32,
    valid [T, H, W] bool)`` for ``targets``, in order; invalid output pixels hold NaN.
    """
    if values is None:
        if labels is None:
            raise ValueError("values is None: give the bands [C, H, W] (or, for a label-map model, labels [H, W])")
        values, band_ids = np.zeros((0,) + np.shape(labels), dtype=np.float32), ()
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 3:
        raise ValueError(f"values must be [C, H, W], got shape {values.shape}")
    valid = np.ones(values.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if valid.shape != values.shape:
        raise ValueError(f"valid has shape {valid.shape}, values {values.shape}")
    ids = [resolve_spec(b, sensor).id for b in band_ids]
    if len(ids) != values.shape[0]:
        raise ValueError(f"{len(ids)} band ids for {values.shape[0]} channels")
    if len(set(ids)) != len(ids):
        raise BandError(f"band ids name a class twice: {ids}")
    if labels is not None and np.shape(labels) != values.shape[1:]:
        raise ValueError(f"labels have shape {np.shape(labels)}, the bands {values.shape[1:]}")
    m = load_model(model, device=options.device, threads=options.threads, log=log)
    p = plan(m.metadata, ids, values.shape[1], values.shape[2], targets, options, sensor=sensor,
             where="the array", model_name=m.name, labels="" if labels is None else "the label array")
    label_classes = None
    if labels is not None:
        label_classes = LabelEncoding.from_metadata(m.metadata).encode(
            labels, None if label_valid is None else np.asarray(label_valid, dtype=bool))
    out = np.full((len(p.targets),) + values.shape[1:], np.nan, dtype=np.float32)
    ok = np.zeros(out.shape, dtype=bool)

    def sink(y, strip, strip_ok):
        out[:, y:y + strip.shape[1]] = strip
        ok[:, y:y + strip.shape[1]] = strip_ok

    run_tiles(m, p, ArrayReader(values, valid, ids, label_classes), sink, options.batch_size, progress,
              is_cancelled, seed=options.seed)
    return out, ok


def _output_paths(outputs, targets: Sequence[BandClass], sensor: str) -> Union[str, Dict[int, str]]:
    def label(c):
        return _bands.band_label(c, sensor)

    if isinstance(outputs, (str, os.PathLike)):
        return os.path.abspath(os.fspath(outputs))
    if not isinstance(outputs, Mapping):
        raise ConfigError(f"outputs must be one path or a mapping target -> path, got {type(outputs).__name__}")
    paths: Dict[int, str] = {}
    for spec, path in outputs.items():
        c = resolve_spec(spec, sensor)
        if c not in targets:
            raise ConfigError(f"outputs names {label(c)}, which is not among the targets "
                              f"({', '.join(label(t) for t in targets)})")
        paths[c.id] = os.path.abspath(os.fspath(path))
    lacking = [t for t in targets if t.id not in paths]
    if lacking:
        raise ConfigError(f"outputs give no path for target(s) {', '.join(label(t) for t in lacking)}")
    if len(set(paths.values())) != len(paths):
        raise ConfigError("outputs: two targets are given the same path; give one path (one multi-band file) "
                          "or a different path per target")
    return paths


def _output_band(p: PredictPlan, k: int, model_name: str) -> OutputBand:
    t, gap, sensor = p.targets[k], p.gap_fill[k], p.sensor
    sb = _bands.sensor_band_for_class(sensor, t) if sensor in _bands.SENSORS else None
    return OutputBand(
        description=f"{_bands.band_label(t, sensor)} ({'gap-filled' if gap else 'synthesized'})", band=t,
        code=sb.code if sb else "",
        metadata={"HLS_TRANSLATE_MODE": "gap-fill" if gap else "synthesized",
                  "HLS_TRANSLATE_SOURCES": p.inputs_of(k), "HLS_TRANSLATE_MODEL": model_name})


def _label_raster(labels: Optional[LabelInput], scene: Scene) -> Tuple[Optional[LabelRaster], bool]:
    """The label layer on the scene's grid, and whether :func:`predict` opened it (and closes it)."""
    if labels is None:
        return None, False
    if isinstance(labels, LabelRaster):
        if not labels.grid.matches(scene.grid):
            raise ConfigError(f"the label raster {labels.path} is read onto {labels.grid.describe()}, not onto the "
                              f"scene's grid {scene.grid.describe()}")
        return labels, False
    return LabelRaster(os.fspath(labels), scene.grid), True


def predict(model, scene: Scene, targets: Sequence[TargetSpec], outputs, options: PredictOptions = PredictOptions(),
            progress: ProgressFn = None, is_cancelled: CancelFn = None, log: LogFn = None, *,
            labels: Optional[LabelInput] = None) -> PredictResult:
    """Synthesize ``targets`` over ``scene`` with ``model`` and write them to ``outputs``.

    ``model``: path to an exported ``.onnx`` file or a loaded :class:`~..runtime.OnnxModel`.
    ``outputs``: one path (a multi-band file, one band per target in the order given) or a mapping
    target -> path (one file per target).  ``labels``: the categorical label raster a label-map model
    synthesizes from (a path, read onto the scene's grid by nearest neighbour, or a
    :class:`~..labels.LabelRaster` on that grid).  Everything is checked (model file and metadata,
    targets, input bands, label layer, output paths, options) before any tile is computed.
    ``progress(fraction)`` is called after every batch; ``is_cancelled()`` before every batch: when it
    returns True, :class:`~..errors.CancelledError` is raised.  A cancelled or failed run leaves nothing
    at the output paths (files already there stay as they were).
    """
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    # 1. cheap checks first: metadata (no session yet), bands, tiles, output paths
    if isinstance(model, RunnableModel):
        md, model_name = model.metadata, model.name
    else:
        path = os.fspath(model)
        md, model_name = read_metadata(path), os.path.basename(path)
    label_raster, opened = _label_raster(labels, scene)
    try:
        return _predict_scene(model, md, model_name, scene, targets, outputs, options, progress, is_cancelled,
                              say, label_raster, t0)
    finally:
        if opened:
            label_raster.close()


def _predict_scene(model, md, model_name: str, scene: Scene, targets, outputs, options: PredictOptions,
                   progress: ProgressFn, is_cancelled: CancelFn, say, label_raster: Optional[LabelRaster],
                   t0: float) -> PredictResult:
    sensor = scene.sensor
    p = plan(md, [c.id for c in scene.bands], scene.grid.height, scene.grid.width, targets, options,
             sensor=sensor, where=f"scene {scene.name}" if scene.name else "the scene", model_name=model_name,
             labels=os.path.basename(label_raster.path) if label_raster is not None else "")
    out_paths = _output_paths(outputs, p.targets, sensor)
    read = scene.files_read()
    if label_raster is not None:
        read[label_raster.path] = "the label raster"
    if isinstance(model, (str, os.PathLike)):
        read[os.fspath(model)] = "the model"
    written = [out_paths] if isinstance(out_paths, str) else list(out_paths.values())
    for path in written:
        check_writable(path)
    check_outputs_are_not_inputs(written, read, RasterWriteError)
    encoding = LabelEncoding.from_metadata(md) if label_raster is not None else None
    if encoding is not None:  # a label layer with none of the model's classes would give an all-nodata output
        check_label_classes(label_raster, encoding, f"scene {scene.name}" if scene.name else "the scene")
    # 2. the session
    m = load_model(model, device=options.device, threads=options.threads, log=say)
    if m is model and (options.device != "auto" or options.threads):
        say(f"model already loaded on {m.provider}; the device/threads options apply only when loading")
    say(f"model {m.describe()}")
    if label_raster is not None:
        say(f"labels {label_raster.describe()}: classes {encoding.describe()}")
    for line in p.summary().splitlines():
        say(line)
    if options.check_inputs and p.kind != "label_map":
        stats = {c: (float(v.mean), float(v.std)) for c, v in md.normalization.items()}
        for w in check_bands(scene, [c.id for c in p.sources], stats):
            say(f"warning: {w.message}; if it is garbage, declare it absent (without={w.label.split()[0]!r}, "
                f"--without {w.label.split()[0]})")
    # 3. writers (temp files beside the outputs)
    meta = {
        "HLS_TRANSLATE_MODEL": model_name, "HLS_TRANSLATE_MODEL_FAMILY": md.family,
        "HLS_TRANSLATE_MODEL_ARCHITECTURE": md.architecture, "HLS_TRANSLATE_MODEL_VERSION": md.model_version,
        "HLS_TRANSLATE_SOURCE_BANDS": ",".join(_bands.band_label(s, sensor) for s in p.sources),
        "HLS_TRANSLATE_SCENE": scene.name, "HLS_TRANSLATE_SENSOR": sensor,
        "HLS_TRANSLATE_TILING": f"tile {p.grid.tile_size}, overlap {p.grid.overlap}, blend {p.blend}",
        "HLS_TRANSLATE_VERSION": __version__,
    }
    if label_raster is not None:
        meta["HLS_TRANSLATE_LABELS"] = label_raster.describe()
    obands = [_output_band(p, k, model_name) for k in range(len(p.targets))]
    nodata = float(md.nodata) if options.dtype == "float32" else None
    wkw = dict(dtype=options.dtype, driver=options.driver, nodata=nodata, overviews=options.overviews)
    writers: List[RasterWriter] = []
    try:
        if isinstance(out_paths, str):
            meta["HLS_TRANSLATE_TARGETS"] = ",".join(_bands.band_label(t, sensor) for t in p.targets)
            writers.append(RasterWriter(out_paths, scene.grid, obands, metadata=meta, **wkw))
            result_paths = {t.key: out_paths for t in p.targets}

            def sink(y, strip, ok):
                writers[0].write(Window(0, y, scene.grid.width, strip.shape[1]), strip, ok)
        else:
            for t, ob in zip(p.targets, obands):
                writers.append(RasterWriter(out_paths[t.id], scene.grid, [ob], **wkw, metadata={
                    **meta, "HLS_TRANSLATE_TARGETS": _bands.band_label(t, sensor)}))
            result_paths = {t.key: out_paths[t.id] for t in p.targets}

            def sink(y, strip, ok):
                win = Window(0, y, scene.grid.width, strip.shape[1])
                for k, w in enumerate(writers):
                    w.write(win, strip[k:k + 1], ok[k:k + 1])

        run_before = m.run_seconds
        reader = SceneReader(scene, options.mask_qa, label_raster, encoding)
        run, skipped = run_tiles(m, p, reader, sink, options.batch_size, progress, is_cancelled,
                                 progress_span=0.95, seed=options.seed)
        check_cancel(is_cancelled)
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


__all__ = ["predict", "predict_array"]
