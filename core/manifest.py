"""The record of a batch run: a JSON-lines manifest in the output folder, and per-scene receipts.

``<out>/batch_manifest.jsonl`` gets one :class:`SceneRecord` per line as scenes finish (or fail, or fail
the checks): scene, outputs (path, bytes, sha256 per target), status, error, seconds, model hash, the
fingerprint of the options, where it ran.  Lines are appended whole (one ``write`` under an advisory
lock, then ``fsync``), so several processes (job arrays) can share one manifest, and a run killed at any
moment leaves at worst a torn last line, which readers skip.

The process that finished a scene also writes its receipt, ``<out>/.hls_translate_batch/<scene>.json``
(atomically), before the manifest line is written by the run's client: a client killed after a worker
finished a scene loses nothing, and a worker asked to redo a scene whose receipt matches (Dask recomputes
results lost with a dead worker) does not redo it.

A scene is complete when its latest record says ``done`` with the run's fingerprint and every output is
still there with the size recorded (and, with ``verify``, the same SHA-256): outputs are written under
temporary names and renamed when complete, so a file under its final name is whole.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from .fileio import atomic_write_text
from .output_naming import file_safe

MANIFEST_NAME = "batch_manifest.jsonl"
RECEIPTS_DIR = ".hls_translate_batch"
#: Statuses of a record: finished; failed while running; refused by the checks before any work.
DONE, FAILED, INVALID = "done", "failed", "invalid"


@dataclass(frozen=True)
class OutputFile:
    """One file a scene wrote: the target (class key), its band name in the output naming convention."""

    target: str
    band: str
    path: str
    bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class SceneRecord:
    """What happened to one scene in one run (one manifest line)."""

    scene: str
    status: str
    outputs: Tuple[OutputFile, ...] = ()
    error: str = ""
    seconds: float = 0.0
    model: str = ""
    model_hash: str = ""
    fingerprint: str = ""
    run_id: str = ""
    inputs: Tuple[str, ...] = ()
    megapixels: float = 0.0
    tiles_run: int = 0
    tiles_total: int = 0
    provider: str = ""
    worker: str = ""  # host:pid of the process that ran it
    model_loads: int = 0  # models that process had loaded when it finished (1: loaded once)
    peak_rss_mb: float = 0.0  # that process's peak resident memory
    reused: bool = False  # a receipt found done by an earlier attempt, not computed again
    finished: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping) -> "SceneRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["outputs"] = tuple(OutputFile(**{k: v for k, v in o.items() if k in OutputFile.__dataclass_fields__})
                              for o in d.get("outputs") or ())
        kw["inputs"] = tuple(d.get("inputs") or ())
        return cls(**kw)

    def replace(self, **changes) -> "SceneRecord":
        return dataclasses.replace(self, **changes)


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def output_problem(out: OutputFile, verify: bool = False) -> Optional[str]:
    """Why a recorded output is no longer what the record says (missing, another size or checksum), or None."""
    try:
        size = os.path.getsize(out.path)
    except OSError:
        return f"{out.path} is missing"
    if size != out.bytes:
        return f"{out.path} has {size} bytes, the record says {out.bytes}"
    if verify and sha256_of(out.path) != out.sha256:
        return f"{out.path} has changed since it was written (SHA-256 differs)"
    return None


class Manifest:
    """The manifest and receipts of the output folder ``out_dir`` (see the module docstring)."""

    def __init__(self, out_dir: str):
        self.out_dir = os.path.abspath(out_dir)
        self.path = os.path.join(self.out_dir, MANIFEST_NAME)
        self.receipts_dir = os.path.join(self.out_dir, RECEIPTS_DIR)

    # -- reading ------------------------------------------------------------------------------------------
    def lines(self) -> List[SceneRecord]:
        """Every readable record of the manifest, in order (torn or foreign lines are skipped)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                raw = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in raw:
            try:
                d = json.loads(line)
                out.append(SceneRecord.from_dict(d))
            except (ValueError, TypeError, AttributeError):
                continue
        return out

    def receipt_path(self, scene: str) -> str:
        return os.path.join(self.receipts_dir, file_safe(scene) + ".json")

    def receipt(self, scene: str) -> Optional[SceneRecord]:
        try:
            with open(self.receipt_path(scene), encoding="utf-8") as f:
                return SceneRecord.from_dict(json.load(f))
        except (OSError, ValueError, TypeError, AttributeError):
            return None

    def receipts(self) -> List[SceneRecord]:
        try:
            names = sorted(os.listdir(self.receipts_dir))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            if n.endswith(".json"):
                r = self.receipt(n[:-5])
                if r is not None:
                    out.append(r)
        return out

    def latest(self) -> Dict[str, SceneRecord]:
        """The latest record of every scene, from the manifest and the receipts (by finishing time)."""
        best: Dict[str, SceneRecord] = {}
        for r in [*self.lines(), *self.receipts()]:
            have = best.get(r.scene)
            if have is None or r.finished >= have.finished:
                best[r.scene] = r
        return best

    def unlisted_receipts(self) -> List[SceneRecord]:
        """Receipts of scenes finished after their last manifest line was written (a killed client)."""
        listed = {(r.scene, r.finished) for r in self.lines()}
        return [r for r in self.receipts() if (r.scene, r.finished) not in listed]

    # -- writing ------------------------------------------------------------------------------------------
    def append(self, records: Iterable[SceneRecord]) -> None:
        """Append records, one whole line each, under an advisory lock, then fsync (after a torn last line,
        on a line of their own)."""
        data = "".join(r.to_json() + "\n" for r in records).encode("utf-8")
        if not data:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            _lock(fd)
            end = os.lseek(fd, 0, os.SEEK_END)
            if end and os.pread(fd, 1, end - 1) != b"\n":  # a torn line of a killed writer stays on its own
                data = b"\n" + data
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_receipt(self, record: SceneRecord) -> str:
        os.makedirs(self.receipts_dir, exist_ok=True)
        return atomic_write_text(self.receipt_path(record.scene), record.to_json() + "\n")


def complete(record: Optional[SceneRecord], fingerprint: str, verify: bool = False) -> Tuple[bool, str]:
    """(True, "") when ``record`` shows its scene done with ``fingerprint`` and outputs as recorded; else
    (False, why it must be (re)done)."""
    if record is None:
        return False, "not done yet"
    if record.status != DONE:
        return False, f"{record.status} in an earlier run" + (f": {record.error}" if record.error else "")
    if record.fingerprint != fingerprint:
        return False, "done with another model or other options"
    for out in record.outputs:
        problem = output_problem(out, verify)
        if problem:
            return False, problem
    return True, ""


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: appends of whole lines by one process at a time
        return
    fcntl.lockf(fd, fcntl.LOCK_EX)


__all__ = ["MANIFEST_NAME", "RECEIPTS_DIR", "DONE", "FAILED", "INVALID", "OutputFile", "SceneRecord", "Manifest",
           "complete", "output_problem", "sha256_of"]
