"""Atomic file writes: the finished file appears at its path in one rename, or not at all.

``with atomic_path(path) as tmp:`` gives a temporary path in the destination folder (so the final
``os.replace`` is atomic on the same file system); write ``tmp`` inside the block.  On normal exit the
file gets the permissions an ordinary ``open()`` would give (``mkstemp`` creates 0600) and is renamed
onto ``path``; on any exception it is removed and ``path`` keeps what it had.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator, Optional, Type


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str, fsync: bool = True) -> Iterator[str]:
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    os.close(fd)
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
