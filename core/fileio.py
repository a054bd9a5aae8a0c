"""Atomic file writes: the finished file appears at its path in one rename, or not at all.

``with atomic_path(path) as tmp:`` gives a temporary path in the destination folder (so the final
``os.replace`` is atomic on the same file system); write ``tmp`` inside the block.  On normal exit the
file gets the permissions an ordinary ``open()`` would give (``mkstemp`` creates 0600) and is renamed
onto ``path``; on any exception it is removed and ``path`` keeps what it had.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import uuid
from contextlib import contextmanager
from typing import Iterator, List, Optional, Type


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def part_path(path: str, suffix: str = "") -> str:
    """A fresh temporary name beside ``path`` for writing it: ``.NAME.HOST.PID.RANDOM.part<suffix>``.
    The host and process id let a later run tell the parts of a process that died (SIGKILL, power loss)
    from those of one still writing (:func:`remove_stale_parts`)."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part{suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but not been reaped (a killed Dask worker whose parent died too keeps its
    pid until init reaps it); False where /proc does not tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"Z"  # the state follows "(comm) "


def remove_stale_parts(path: str) -> List[str]:
    """Remove the temporary parts of ``path`` left by processes of this host that are no longer running
    (a killed run); parts of live processes, and of other hosts (a shared file system), are kept.
    Returns the paths removed."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    pattern = re.compile(re.escape(f".{name}.{_host()}.") + r"(\d+)\.[0-9a-f]{8}\.part")
    removed = []
    for p in glob.glob(os.path.join(glob.escape(folder), glob.escape(f".{name}.{_host()}.") + "*.part*")):
        m = pattern.match(os.path.basename(p))
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                os.remove(p)
                removed.append(p)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(path: str, fsync: bool = True) -> Iterator[str]:
    path = os.path.abspath(os.fspath(path))
    remove_stale_parts(path)
    tmp = part_path(path)
    with open(tmp, "xb"):
        pass
    os.chmod(tmp, 0o600)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str, data: bytes) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return os.path.abspath(path)


def atomic_write_text(path: str, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file: the same real path (symlinks resolved) or, for files that
    exist, the same device and inode (hard links, bind mounts, other spellings)."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs_are_not_inputs(outputs, inputs, error: Type[Exception]) -> None:
    """Refuse (with ``error``) before any work when an output would overwrite a file the command reads.

    ``inputs`` maps each file read to what it is (``{"/m.onnx": "the model", ...}``) so the message can
    say which input would be lost."""
    for out in outputs:
        for path, what in inputs.items():
            if path and same_file(out, path):
                raise error(f"output {out} is one of the input files ({what}: {path}); write the result elsewhere")


def output_file_problem(path: str) -> Optional[str]:
    """Why a file cannot be written at ``path`` (checked before any long work starts), or None."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return f"output folder {folder} does not exist"
    if os.path.isdir(path):
        return "it is a folder; give the path of the file to write"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"output folder {folder} is not writable"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the existing file is read-only"
    return None


def writable_output_path(path: str, error: Type[Exception]) -> str:
    """The absolute ``path``, after :func:`output_file_problem` found nothing; else ``error`` naming it."""
    path = os.path.abspath(os.fspath(path))
    problem = output_file_problem(path)
    if problem:
        raise error(f"cannot write {path}: {problem}")
    return path
