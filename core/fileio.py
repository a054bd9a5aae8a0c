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
from typing import Iterator


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
