"""Whole archives: synthesize bands for many scenes, resumable, whatever runs the scenes.

Everything here is independent of the scheduler; what runs the scenes is an *executor*
(:class:`SequentialExecutor` in this process; :mod:`.batch_dask` on a Dask cluster):

1. :func:`plan_batch` takes the scenes (:mod:`.batch_inputs`), names every output
   (:func:`~.output_naming.scene_output_paths`), reads the manifest (:mod:`.manifest`) to skip scenes
   that are complete and valid, and checks every other scene before any work (bands found, grids, the
   model can make the targets, outputs writable and not shared; for a label-map model, the scene's label
   file found from the request's pattern, read onto the scene's grid and holding the model's classes): a
   :class:`BatchPlan` with the jobs to run and the problems found.
2. :func:`run_batch` runs the jobs on an executor, appends one manifest record per scene as it
   finishes, and drives one progress callback over all scenes (pixel-weighted, with the tiles of the
   scenes running, scenes done and MP/s): a :class:`BatchSummary`.
3. :func:`run_scene` is one scene on whichever process runs it: the model comes from
   :func:`worker_model` (loaded once per process, not once per scene), the engine's ``predict`` writes
   the outputs atomically, a receipt is written, and any error becomes a ``failed`` record, so one bad
   scene never stops the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .bands import BandClass, resolve_band
from .delivery import StorageOptions, predict_stored
from .engine import PredictOptions, plan
from .errors import CancelledError, ConfigError, HLSTranslateError, ModelError
from .fileio import check_outputs_are_not_inputs, output_file_problem
from .gdal_cache import bounded_gdal_cache
from .labels import LabelEncoding, LabelRaster, check_label_classes
from .manifest import DONE, FAILED, INVALID, Manifest, OutputFile, SceneRecord, complete, sha256_of
from .metadata import ModelMetadata, read_metadata
from .output_naming import (BAND_NAME_CONVENTION, DEFAULT_SCENE_NAME, check_scene_name, convention_band_name,
                            scene_output_paths)
from .scene import open_scene
from .batch_inputs import SceneInput, check_label_pattern, with_labels

#: ``progress(fraction, text)``: the whole run's progress and a line saying where it is.
BatchProgressFn = Optional[Callable[[float, str], None]]
LogFn = Optional[Callable[[str], None]]
#: Options that change no pixel, left out of the fingerprint (a rerun on other hardware skips done scenes).
EXECUTION_ONLY = ("device", "threads")


@dataclass(frozen=True)
class BatchRequest:
    """What a batch makes: ``targets`` of every scene with ``model``, into ``out_dir``, named by ``name``.

    Bare band codes in ``targets`` are read in ``sensor``'s numbering, else in the numbering the output
    names use (:data:`~.output_naming.BAND_NAME_CONVENTION`: ``B05`` = red edge 1 for every scene);
    ``options`` are the engine's (``threads``: ONNX Runtime threads per worker), ``storage`` how the
    outputs are stored (as ``predict --dtype/--co``).  ``overwrite`` redoes complete scenes; ``verify``
    re-hashes the outputs of complete scenes before skipping them.  ``labels``: for a label-map model
    (SPADE), the pattern naming each scene's label raster (:func:`~.batch_inputs.label_file`:
    ``{granule}_SCL.tif``, ``/data/scl/{granule}.tif``); ``options.seed`` seeds its style vector.
    """

    model: str
    targets: Tuple[str, ...]
    out_dir: str
    options: PredictOptions = PredictOptions()
    storage: StorageOptions = StorageOptions()
    name: str = DEFAULT_SCENE_NAME
    sensor: Optional[str] = None
    resampling: Optional[str] = None
    overwrite: bool = False
    verify: bool = False
    labels: Optional[str] = None

    def target_classes(self) -> Tuple[BandClass, ...]:
        if not self.targets:
            raise ConfigError("no target band given: name at least one band to synthesize")
        out: List[BandClass] = []
        for t in self.targets:
            c = resolve_band(str(t), self.sensor or BAND_NAME_CONVENTION)
            if c in out:
                raise ConfigError(f"target {t} is given twice (as {c.key})")
            out.append(c)
        return tuple(out)


@dataclass(frozen=True)
class SceneJob:
    """Everything one process needs to run one scene (picklable: it travels to Dask workers)."""

    scene: SceneInput
    outputs: Tuple[OutputFile, ...]
    model: str
    model_hash: str
    fingerprint: str
    run_id: str
    out_dir: str
    options: PredictOptions
    storage: StorageOptions = StorageOptions()
    sensor: Optional[str] = None
    resampling: Optional[str] = None
    overwrite: bool = False
    megapixels: float = 0.0
    labels: Optional[str] = None  # the scene's label raster (label-map models)

    @property
    def scene_id(self) -> str:
        return self.scene.scene_id

    @property
    def inputs(self) -> Tuple[str, ...]:
        """Every file the scene's run reads (for its record): the scene's files and its label raster."""
        return self.scene.paths + ((self.labels,) if self.labels else ())


@dataclass
class BatchPlan:
    """What a run will do: ``todo`` jobs; ``complete`` records skipped (done and valid); ``problems``
    (``invalid`` records: scenes that failed the checks); ``redo`` says why recorded scenes run again."""

    request: BatchRequest
    run_id: str
    model_hash: str
    fingerprint: str
    targets: Tuple[BandClass, ...]
    todo: List[SceneJob] = field(default_factory=list)
    complete: List[SceneRecord] = field(default_factory=list)
    problems: List[SceneRecord] = field(default_factory=list)
    redo: Dict[str, str] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    recovered: List[SceneRecord] = field(default_factory=list)

    @property
    def megapixels(self) -> float:
        return sum(j.megapixels for j in self.todo)


# --- the fingerprint of a run ------------------------------------------------------------------------
def model_hash(path: str) -> str:
    return sha256_of(path)


def fingerprint(model_sha: str, targets: Sequence[BandClass], request: BatchRequest) -> str:
    """Hash of everything that decides an output's pixels and name: model, targets, options (not the
    device and thread count), storage, resampling, sensor, output name pattern, label file pattern."""
    opts = {k: v for k, v in dataclasses.asdict(request.options).items() if k not in EXECUTION_ONLY}
    doc = {"model": model_sha, "targets": [t.key for t in targets], "options": opts,
           "storage": dataclasses.asdict(request.storage), "name": request.name,
           "resampling": request.resampling, "sensor": request.sensor}
    if request.labels:  # only when given: the fingerprints of runs of other models stay as they were
        doc["labels"] = request.labels
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --- planning ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneCheck:
    """One scene's check before any work (picklable: checks can run on the workers)."""

    scene: SceneInput
    metadata: ModelMetadata
    model: str  # the model file's path
    targets: Tuple[str, ...]
    outputs: Tuple[str, ...]
    options: PredictOptions
    sensor: Optional[str]
    resampling: Optional[str]
    labels: Optional[str] = None  # the scene's label raster (label-map models)


def check_scene(check: SceneCheck) -> Tuple[float, str]:
    """(megapixels, "") when the scene can be run as asked, else (0, what is wrong): its files open as
    one scene, the model can make every target from its bands (a label-map model: its label raster reads
    onto the scene's grid, as ``predict`` reads it, and holds some of the model's classes), its outputs can
    be written and are none of the files the scene's run reads."""
    s = check.scene
    try:
        with open_scene(s.open_arg, sensor=check.sensor, band_map=dict(s.band_map) or None,
                        resampling=check.resampling, name=s.scene_id) as scene:
            read = {check.model: "the model", **scene.files_read()}
            labels = ""
            if check.labels:
                with LabelRaster(check.labels, scene.grid) as raster:
                    check_label_classes(raster, LabelEncoding.from_metadata(check.metadata), f"scene {s.scene_id}")
                labels = os.path.basename(check.labels)
                read[raster.path] = "the label raster"
            plan(check.metadata, [c.id for c in scene.bands], scene.grid.height, scene.grid.width,
                 list(check.targets), check.options, sensor=scene.sensor, where=f"scene {s.scene_id}",
                 model_name=os.path.basename(check.model), labels=labels)
            for out in check.outputs:
                problem = output_file_problem(out)
                if problem:
                    return 0.0, f"cannot write {out}: {problem}"
            check_outputs_are_not_inputs(check.outputs, read, ConfigError)
            return scene.grid.width * scene.grid.height / 1e6, ""
    except HLSTranslateError as exc:
        return 0.0, str(exc)
    except Exception as exc:  # noqa: BLE001 - one unreadable scene must not stop the checks of the others
        return 0.0, f"{type(exc).__name__}: {exc}"


def plan_batch(request: BatchRequest, scenes: Sequence[SceneInput], executor=None, log: LogFn = None) -> BatchPlan:
    """Decide what a run does (see the module docstring); ``executor.map`` runs the checks (default:
    here).  Creates the output folder; raises only for problems of the whole run (model, targets,
    output name, output folder, a label-map model without a label pattern or another model with one).
    Every scene to run gets its label file (:func:`~.batch_inputs.with_labels`) here, before any check: a
    scene whose label file is missing is refused, naming the scene and the pattern."""
    say = log or (lambda m: None)
    out_dir = os.path.abspath(request.out_dir)
    check_scene_name(request.name)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out_dir}: {exc}") from None
    model = os.path.abspath(request.model)
    if not os.path.isfile(model):
        raise ModelError(f"model file not found: {model}")
    md = read_metadata(model)
    _check_labels_for(md, os.path.basename(model), request.labels)
    targets = request.target_classes()
    sha = model_hash(model)
    p = BatchPlan(request, uuid.uuid4().hex[:12], sha, fingerprint(sha, targets, request), targets)
    manifest = Manifest(out_dir)
    p.recovered = manifest.unlisted_receipts()
    if p.recovered:
        manifest.append(p.recovered)
        say(f"{len(p.recovered)} scene(s) finished by a run whose client was stopped: recorded now")
    latest = manifest.latest()
    owner: Dict[str, str] = {}
    to_check: List[Tuple[SceneInput, Tuple[OutputFile, ...], Optional[str]]] = []
    for s in scenes:
        paths = scene_output_paths(out_dir, s.scene_id, targets, request.name)
        outs = tuple(OutputFile(t.key, convention_band_name(t), paths[t.key]) for t in targets)
        clash = next((owner[o.path] for o in outs if o.path in owner), None)
        if clash is not None:
            p.problems.append(SceneRecord(s.scene_id, INVALID, error=f"its outputs would have the names of "
                                          f"scene {clash}'s ({outs[0].path})", inputs=s.paths, run_id=p.run_id))
            continue
        owner.update({o.path: s.scene_id for o in outs})
        record = latest.get(s.scene_id)
        ok, why = complete(record, p.fingerprint, request.verify)
        if ok and not request.overwrite:
            p.complete.append(record)
            continue
        if record is not None:
            p.redo[s.scene_id] = "--overwrite" if ok else why
        labels = None
        if request.labels:
            try:
                s, labels = with_labels(s, request.labels)
            except HLSTranslateError as exc:
                p.problems.append(SceneRecord(s.scene_id, INVALID, error=str(exc), inputs=s.paths, run_id=p.run_id,
                                              model=os.path.basename(model), model_hash=sha,
                                              fingerprint=p.fingerprint))
                continue
        to_check.append((s, outs, labels))
    checks = [SceneCheck(s, md, model, tuple(t.key for t in targets), tuple(o.path for o in outs),
                         request.options, request.sensor, request.resampling, labels) for s, outs, labels in to_check]
    results = (executor.map(check_scene, checks) if executor is not None and checks
               else [check_scene(c) for c in checks])
    for (s, outs, labels), (mp, problem) in zip(to_check, results):
        if problem:
            p.problems.append(SceneRecord(s.scene_id, INVALID, error=problem,
                                          inputs=s.paths + ((labels,) if labels else ()), run_id=p.run_id,
                                          model=os.path.basename(model), model_hash=sha, fingerprint=p.fingerprint))
        else:
            p.todo.append(SceneJob(s, outs, model, sha, p.fingerprint, p.run_id, out_dir, request.options,
                                   request.storage, request.sensor, request.resampling, request.overwrite, mp,
                                   labels))
    return p


def _check_labels_for(md: ModelMetadata, model_name: str, pattern: Optional[str]) -> None:
    """A label-map model needs a label file pattern, other models take none (:class:`ConfigError`)."""
    if md.kind == "label_map" and not pattern:
        raise ConfigError(f"{model_name} is a label-map model ({md.family}): it synthesizes bands from each scene's "
                          f"label raster (classes {LabelEncoding.from_metadata(md).describe()}); give the pattern of "
                          "the label files (--labels PATTERN, e.g. '{granule}_SCL.tif')")
    if pattern and md.kind != "label_map":
        raise ConfigError(f"{model_name} is a {md.kind.replace('_', ' ')} model: it takes no label rasters (the label "
                          f"file pattern {pattern!r} is for label-map models such as SPADE)")
    if pattern:
        check_label_pattern(pattern)


# --- one scene, on whichever process runs it ---------------------------------------------------------
_models: Dict[Tuple[str, str, int], object] = {}
_models_lock = threading.Lock()
_loads = 0


def worker_model(path: str, device: str = "auto", threads: int = 0, sha256: str = ""):
    """The :class:`~.runtime.OnnxModel` of ``path`` in this process, loaded on first use and kept (one
    session per worker process, whatever the number of scenes).  ``sha256``: the client's hash of the
    file, checked once, so workers that see another file under the same path refuse to run."""
    global _loads
    key = (os.path.abspath(path), device, int(threads))
    with _models_lock:
        m = _models.get(key)
        if m is None:
            from .runtime import load_model

            if sha256 and sha256_of(key[0]) != sha256:
                raise ModelError(f"the model file {key[0]} on {socket.gethostname()} is not the one the run was "
                                 "started with (SHA-256 differs); every worker must see the same model file")
            m = _models[key] = load_model(key[0], device=device, threads=int(threads))
            _loads += 1
    return m


def models_loaded() -> int:
    """How many model sessions this process has loaded (:func:`worker_model`)."""
    return _loads


def _peak_rss_mb() -> float:
    try:
        import resource
    except ImportError:
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _reusable(job: SceneJob) -> Optional[SceneRecord]:
    """The receipt of an earlier attempt of ``job`` in the same run, when its outputs are as recorded: Dask
    runs a task again when the worker holding its result died before the client had it."""
    r = Manifest(job.out_dir).receipt(job.scene_id)
    if r is None or r.run_id != job.run_id:
        return None
    return r if complete(r, job.fingerprint)[0] else None


def run_scene(job: SceneJob, progress=None, is_cancelled=None, log: LogFn = None) -> SceneRecord:
    """Run one scene; returns its record (``failed`` with the error for any error but cancellation, which
    raises :class:`CancelledError`).  A scene already done by a lost attempt is not done again."""
    t0 = time.perf_counter()
    where = f"{socket.gethostname()}:{os.getpid()}"
    base = dict(model=os.path.basename(job.model), model_hash=job.model_hash, fingerprint=job.fingerprint,
                run_id=job.run_id, inputs=job.inputs, megapixels=job.megapixels, worker=where)
    reused = _reusable(job)
    if reused is not None:
        return reused.replace(reused=True, worker=where)
    try:
        opts = job.options
        model = worker_model(job.model, opts.device, opts.threads, job.model_hash)
        s = job.scene
        with open_scene(s.open_arg, sensor=job.sensor, band_map=dict(s.band_map) or None,
                        resampling=job.resampling, name=s.scene_id) as scene:
            with bounded_gdal_cache([scene], len(job.outputs), log):
                result = predict_stored(model, scene, [scene.band_class(o.target) for o in job.outputs],
                                        {o.target: o.path for o in job.outputs},
                                        dataclasses.replace(opts, device="auto", threads=0), job.storage,
                                        progress=progress, is_cancelled=is_cancelled, log=log, labels=job.labels)
        outs = tuple(dataclasses.replace(o, bytes=os.path.getsize(o.path), sha256=sha256_of(o.path))
                     for o in job.outputs)
        record = SceneRecord(job.scene_id, DONE, outs, seconds=time.perf_counter() - t0, tiles_run=result.tiles_run,
                             tiles_total=result.tiles_total, provider=result.provider, model_loads=models_loaded(),
                             peak_rss_mb=_peak_rss_mb(), **base)
        Manifest(job.out_dir).write_receipt(record)
        return record
    except CancelledError:
        raise
    except HLSTranslateError as exc:
        error = str(exc)
    except MemoryError:
        error = "out of memory; use a smaller tile size or batch size, or fewer workers per machine"
    except Exception as exc:  # noqa: BLE001 - one bad scene must not stop the others
        error = f"{type(exc).__name__}: {exc}"
    return SceneRecord(job.scene_id, FAILED, job.outputs, error=error, seconds=time.perf_counter() - t0,
                       model_loads=models_loaded(), peak_rss_mb=_peak_rss_mb(), **base)


# --- executors ---------------------------------------------------------------------------------------
class SequentialExecutor:
    """Runs the scenes one after the other in this process (``--scheduler none``, QGIS, job arrays):
    tile progress and cancellation (checked between scenes and between tiles) come straight through."""

    description = "in this process, one scene after the other"

    def map(self, fn, items) -> list:
        return [fn(i) for i in items]

    def run(self, jobs: Sequence[SceneJob], on_progress, is_cancelled=None) -> Iterator[SceneRecord]:
        for job in jobs:
            if is_cancelled is not None and is_cancelled():
                raise CancelledError("stopped between scenes; every finished scene is in the manifest")
            yield run_scene(job, progress=lambda f, sid=job.scene_id: on_progress(sid, f), is_cancelled=is_cancelled)

    def close(self) -> None:
        pass


# --- running -----------------------------------------------------------------------------------------
class BatchProgress:
    """The run's progress over its scenes, weighted by their pixels (a scene's tiles count as they run),
    reported as ``callback(fraction, "3/12 scenes, 1 failed, 2.41 MP/s")``."""

    def __init__(self, jobs: Sequence[SceneJob], callback: BatchProgressFn):
        self.callback = callback
        self.sizes = {j.scene_id: max(j.megapixels, 1e-6) for j in jobs}
        self.total = sum(self.sizes.values()) or 1.0
        self.running: Dict[str, float] = {}
        self.done_mp = 0.0
        self.done, self.failed = 0, 0
        self.t0 = time.perf_counter()

    def scene(self, scene_id: str, fraction: float) -> None:
        """A running scene's own progress; it counts as done only when its record comes (at most 99 % before)."""
        if scene_id in self.sizes:
            self.running[scene_id] = min(max(float(fraction), 0.0), 0.99)
            self._emit()

    def finished(self, record: SceneRecord) -> None:
        self.running.pop(record.scene, None)
        self.done_mp += self.sizes.get(record.scene, 0.0)
        self.done += 1
        self.failed += record.status != DONE
        self._emit()

    def _emit(self) -> None:
        if self.callback is None:
            return
        mp = self.done_mp + sum(self.sizes[s] * f for s, f in self.running.items())
        rate = mp / max(time.perf_counter() - self.t0, 1e-9)
        text = f"{self.done}/{len(self.sizes)} scenes" + (f", {self.failed} failed" if self.failed else "")
        self.callback(mp / self.total, f"{text}, {rate:.2f} MP/s")


@dataclass
class BatchSummary:
    """What a run did: the records of the scenes it ran, with the plan's skipped and invalid scenes."""

    plan: BatchPlan
    records: List[SceneRecord]
    seconds: float

    def of(self, status: str) -> List[SceneRecord]:
        return [r for r in self.records + self.plan.problems if r.status == status]

    @property
    def exit_code(self) -> int:
        """0 when every scene is done (now or before), 1 when any failed or was refused by the checks."""
        return 1 if self.of(FAILED) or self.of(INVALID) else 0

    def table(self, max_rows: int = 50) -> List[str]:
        """The summary: a line per scene run or refused (failures first, at most ``max_rows``), then totals."""
        rows = sorted(self.records + self.plan.problems, key=lambda r: (r.status == DONE, r.scene))
        width = max([len(r.scene) for r in rows[:max_rows]] + [5])
        lines = [f"{'scene':<{width}}  {'status':<7} {'seconds':>8} {'MP':>7}  outputs / error"] if rows else []
        for r in rows[:max_rows]:
            note = r.error if r.status != DONE else ", ".join(os.path.basename(o.path) for o in r.outputs)
            tag = "reused" if r.reused else r.status
            lines.append(f"{r.scene:<{width}}  {tag:<7} {r.seconds:8.1f} {r.megapixels:7.2f}  {note}")
        if len(rows) > max_rows:
            lines.append(f"... {len(rows) - max_rows} more in {Manifest(self.plan.request.out_dir).path}")
        done = self.of(DONE)
        mp = sum(r.megapixels for r in done if not r.reused)
        lines.append(f"{len(rows) + len(self.plan.complete)} scenes: {len(done)} done, {len(self.plan.complete)} "
                     f"skipped (complete before), {len(self.of(FAILED))} failed, {len(self.of(INVALID))} refused by "
                     f"the checks; {self.seconds:.1f} s, {mp / max(self.seconds, 1e-9):.2f} MP/s")
        return lines


def run_batch(plan_: BatchPlan, executor, progress: BatchProgressFn = None, log: LogFn = None,
              is_cancelled=None, record_problems: bool = True) -> BatchSummary:
    """Run ``plan_.todo`` on ``executor``, appending each record to the manifest as it comes (and, with
    ``record_problems``, the scenes refused by the checks as ``invalid``).  Cancellation
    (:class:`CancelledError`, KeyboardInterrupt) stops the run; every record written stays valid."""
    say = log or (lambda m: None)
    t0 = time.perf_counter()
    manifest = Manifest(plan_.request.out_dir)
    if record_problems and plan_.problems:
        manifest.append(plan_.problems)
    tracker = BatchProgress(plan_.todo, progress)
    records: List[SceneRecord] = []
    for record in executor.run(plan_.todo, tracker.scene, is_cancelled):
        manifest.append([record])
        records.append(record)
        tracker.finished(record)
        if record.status == DONE:
            say(f"{record.scene}: {'done before (receipt)' if record.reused else 'done'} in {record.seconds:.1f} s "
                f"on {record.worker}")
        else:
            say(f"{record.scene}: FAILED: {record.error}")
    return BatchSummary(plan_, records, time.perf_counter() - t0)


__all__ = ["BatchRequest", "BatchPlan", "SceneJob", "SceneCheck", "BatchSummary", "BatchProgress",
           "SequentialExecutor", "plan_batch", "run_batch", "run_scene", "check_scene", "worker_model",
           "models_loaded", "fingerprint", "model_hash"]
