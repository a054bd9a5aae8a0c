"""Keep freed memory in the process on glibc Linux, so that a CPU training step does not page-fault its
activations in afresh every step.

A training step frees and re-allocates the same few hundred megabytes of activations and gradients each
step.  glibc's ``malloc`` gives memory back to the kernel when the free space at the top of its heap passes
``M_TRIM_THRESHOLD`` and serves blocks above ``M_MMAP_THRESHOLD`` with a fresh ``mmap`` each time (both
thresholds adapt, but only upwards and only after such a block is freed).  Each time memory goes back, the
next step pays a minor page fault and a zeroed page per 4 KiB it touches: measured on the 2-core CPU, a
batch-1 CycleGAN step took 80,000-145,000 minor faults and 0.5-1.5 s of system time out of about 7 s;
with the thresholds below, 0-2,000 faults and about 0.01 s (``bench/RESULTS.md``).

:func:`retain_freed_memory` fixes both thresholds: blocks up to 32 MiB (the largest value glibc accepts) come
from the heap, and up to 1 GiB of free heap top is kept.  The arithmetic is unchanged (the same kernels on
the same values); the process's peak memory is about the same, since what it keeps it used at its peak.
It does nothing where the C library is not glibc (macOS, Windows, musl) or where the user has set glibc's
own malloc variables (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES`` with
``glibc.malloc``): theirs then win.  ``run.retain_freed_memory: false`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Optional

M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1024 * 1024 * 1024

_USER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def _glibc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only (musl has no such function)
        libc.mallopt
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc


def user_malloc_settings() -> Optional[str]:
    """The environment variable through which the user already tunes glibc's malloc, if any."""
    for name in _USER_VARIABLES:
        if name in os.environ:
            return name
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    return None


def retain_freed_memory() -> str:
    """Set glibc's trim and mmap thresholds (see the module docstring).  Returns what was done, for the log:
    ``"set"``, ``"not glibc"``, ``"left to <VARIABLE>"`` or ``"refused by mallopt"``."""
    user = user_malloc_settings()
    if user is not None:
        return f"left to {user}"
    libc = _glibc()
    if libc is None:
        return "not glibc"
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    return "set" if ok else "refused by mallopt"


__all__ = ["retain_freed_memory", "user_malloc_settings"]
