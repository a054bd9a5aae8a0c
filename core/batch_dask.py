"""Running a batch on Dask's distributed scheduler: an embedded local cluster, or an existing one.

:func:`start_executor` gives a :class:`DaskExecutor` on

* an embedded local cluster sized to the machine (:func:`local_cluster_size`: workers x ONNX Runtime
  threads <= cores; one Dask thread per worker, so a worker runs one scene at a time with its one model
  session), or one worker per GPU (``gpus``: each worker sees only its GPU through
  ``CUDA_VISIBLE_DEVICES``);
* an existing cluster: a scheduler address (``tcp://host:8786``) or a scheduler file (the JSON
  ``dask scheduler --scheduler-file`` writes), e.g. one that dask-jobqueue or dask-kubernetes started.

Each scene is one task running :func:`~.batch.run_scene` on a worker; its tile progress comes back as
Dask events (``log_event`` / ``subscribe_topic``).  A worker that dies mid-scene loses only that scene's
attempt: Dask runs it again elsewhere (its temporary files never carry a final name), and a task whose
scene turns out to be done already returns the receipt instead of redoing it.  ``dask`` and
``distributed`` are the ``batch`` extra; nothing imports this module unless a Dask scheduler is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import time
from typing import Iterator, Optional, Sequence, Tuple

from .batch import SceneJob, run_scene
from .errors import CancelledError, ConfigError
from .manifest import FAILED, SceneRecord

#: Seconds between two tile-progress events of one scene.
PROGRESS_EVERY_S = 0.5


def import_distributed():
    """``distributed``, or :class:`ConfigError` saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"running on Dask needs dask and distributed, which this Python lacks ({exc}); install "
                          "them with `pip install 'hls_translate[batch]'` (or `pip install \"dask[distributed]\"`), "
                          "or run without Dask: --scheduler none") from None
    return distributed


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_cluster_size(workers: Optional[int], threads: Optional[int], cores: Optional[int] = None,
                       device: str = "auto") -> Tuple[int, int]:
    """(workers, ONNX Runtime threads per worker) for a local cluster: what is given, the rest filled so
    that workers x threads = cores (on CUDA: one worker with every core, unless more are asked for)."""
    cores = cores or machine_cores()
    for name, v in (("--workers", workers), ("--threads-per-worker", threads)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
    if workers is None and threads is None:
        return (1, cores) if device == "cuda" else (cores, 1)
    if workers is None:
        return max(1, cores // threads), threads
    if threads is None:
        return workers, max(1, cores // workers)
    return workers, threads


def _task(job: SceneJob, topic: str) -> SceneRecord:
    """One scene on a Dask worker, its tile progress sent as events on ``topic``."""
    from distributed import get_worker

    worker = get_worker()
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            worker.log_event(topic, {"scene": job.scene_id, "fraction": float(fraction)})

    return run_scene(job, progress=progress)


class DaskExecutor:
    """Runs scenes as Dask tasks through ``client``; ``description`` says on what."""

    def __init__(self, client, description: str = "", owned=()):
        self.client = client
        self.description = description or f"on the Dask cluster at {client.scheduler.address}"
        self._owned = list(owned)  # what close() shuts down (an embedded cluster), in order

    def map(self, fn, items) -> list:
        items = list(items)
        return self.client.gather(self.client.map(fn, items, pure=False)) if items else []

    def ort_threads(self) -> int:
        """ONNX Runtime threads per worker that keep every machine's workers within its cores."""
        cores = self.client.run(machine_cores)
        hosts = {}
        for address in cores:
            host = address.rsplit(":", 1)[0]
            hosts.setdefault(host, []).append(cores[address])
        if not hosts:
            raise ConfigError(f"the Dask cluster at {self.client.scheduler.address} has no workers")
        return max(1, min(min(c) // len(c) for c in hosts.values()))

    def run(self, jobs: Sequence[SceneJob], on_progress, is_cancelled=None) -> Iterator[SceneRecord]:
        distributed = import_distributed()
        if not jobs:
            return
        topic = f"hls_translate-progress-{jobs[0].run_id}"
        events: "queue.Queue" = queue.Queue()
        self.client.subscribe_topic(topic, events.put)
        futures = {self.client.submit(_task, job, topic, key=f"scene-{job.run_id}-{i}", pure=False): job
                   for i, job in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                try:
                    finished = distributed.wait(list(pending), timeout=0.25, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    finished = set()
                while not events.empty():
                    _, msg = events.get()
                    on_progress(msg["scene"], msg["fraction"])
                if is_cancelled is not None and is_cancelled():
                    raise CancelledError("stopped; every finished scene is in the manifest")
                for f in finished:
                    pending.discard(f)
                    yield self._record(f, futures[f])
        finally:
            if pending:
                self.client.cancel(list(pending))
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)

    @staticmethod
    def _record(future, job: SceneJob) -> SceneRecord:
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker and the like: the scene failed, the run goes on
            why = (f"the workers running it died ({exc})" if type(exc).__name__ == "KilledWorker"
                   else f"{type(exc).__name__}: {exc}")
            return SceneRecord(job.scene_id, FAILED, job.outputs, error=why, model_hash=job.model_hash,
                               fingerprint=job.fingerprint, run_id=job.run_id, inputs=job.scene.paths,
                               megapixels=job.megapixels, model=os.path.basename(job.model))

    def close(self) -> None:
        for thing in [self.client, *self._owned]:
            with contextlib.suppress(Exception):
                thing.close()


def start_executor(scheduler: Optional[str] = None, workers: Optional[int] = None, threads: Optional[int] = None,
                   device: str = "auto", gpus: Sequence[str] = ()) -> Tuple[DaskExecutor, int]:
    """A :class:`DaskExecutor` and the ONNX Runtime threads each worker should use (see the module
    docstring).  ``scheduler``: an address or scheduler file of an existing cluster; None: a local one."""
    distributed = import_distributed()
    if scheduler:
        if workers is not None or gpus:
            raise ConfigError("--workers and --gpus size the local cluster; with --scheduler the cluster is "
                              "sized where it was started")
        try:
            if os.path.isfile(scheduler):
                client = distributed.Client(scheduler_file=scheduler, timeout="30s")
            else:
                client = distributed.Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        ex = DaskExecutor(client, f"on the Dask cluster at {client.scheduler.address}")
        return ex, threads or ex.ort_threads()
    if gpus:
        t = threads or max(1, machine_cores() // len(gpus))
        spec = {f"gpu-{g}": {"cls": distributed.Nanny, "options": {
            "nthreads": 1, "host": "127.0.0.1", "env": {"CUDA_VISIBLE_DEVICES": str(g)},
            "silence_logs": logging.ERROR}} for g in gpus}
        cluster = distributed.SpecCluster(workers=spec, scheduler={"cls": distributed.Scheduler, "options": {
            "host": "127.0.0.1", "port": 0, "dashboard": False, "dashboard_address": "127.0.0.1:0"}},
            silence_logs=logging.ERROR)
        what = f"on a local Dask cluster: one worker per GPU ({', '.join(map(str, gpus))}) x {t} ONNX Runtime threads"
    else:
        n, t = local_cluster_size(workers, threads, device=device)
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                           silence_logs=logging.ERROR)
        what = f"on a local Dask cluster: {n} worker(s) x {t} ONNX Runtime thread(s)"
    client = distributed.Client(cluster)
    return DaskExecutor(client, what, owned=[cluster]), t


__all__ = ["DaskExecutor", "start_executor", "local_cluster_size", "import_distributed", "machine_cores"]
