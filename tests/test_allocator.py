"""``training/allocator.py``: glibc keeps freed memory, so a repeated allocate-touch-free cycle (what a
training step does with its activations) stops page-faulting; user settings of glibc's malloc win."""

import json
import os
import subprocess
import sys

import pytest

from hls_translate.training import allocator

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# Twenty 2 MiB blocks allocated, written and freed, 12 times: the shape of a step's activations.  Under
# glibc's defaults the freed heap top (40 MiB, above the trim threshold the 2 MiB blocks raise it to) goes
# back to the kernel at each cycle, so every page is faulted in again (measured here: 1.00 faults per page;
# 0 with the thresholds kept).
CYCLES = """
import json, resource, sys
import numpy as np
if sys.argv[1] == "retain":
    from hls_translate.training.allocator import retain_freed_memory
    print(retain_freed_memory(), file=sys.stderr)

def cycle():
    blocks = [np.empty(1 << 19, dtype=np.float32) for _ in range(20)]
    for b in blocks:
        b.fill(1.0)
    del blocks

for _ in range(3):
    cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(12):
    cycle()
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    p = subprocess.run([sys.executable, "-c", CYCLES, mode],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert p.returncode == 0, p.stderr
    if mode == "retain":
        assert p.stderr.strip().endswith("set"), p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])["faults"]


needs_glibc = pytest.mark.skipif(allocator._glibc() is None, reason="glibc only")


@needs_glibc
def test_retained_memory_stops_the_page_faults_of_repeated_steps():
    default, retained = _faults("default"), _faults("retain")
    pages = 12 * 20 * (2 << 20) // 4096  # every page of every cycle
    assert default > 0.5 * pages, (default, pages)  # glibc's defaults give the blocks back each cycle
    assert retained < 0.02 * pages, (retained, pages)  # kept: touched once, before the timed cycles


@needs_glibc
def test_sets_the_thresholds_here(monkeypatch):
    for name in allocator._USER_VARIABLES + ("GLIBC_TUNABLES",):
        monkeypatch.delenv(name, raising=False)
    assert allocator.retain_freed_memory() == "set"


@pytest.mark.parametrize("name, value", [("MALLOC_TRIM_THRESHOLD_", "131072"), ("MALLOC_MMAP_THRESHOLD_", "65536"),
                                         ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")])
def test_a_users_malloc_settings_win(monkeypatch, name, value):
    for other in allocator._USER_VARIABLES + ("GLIBC_TUNABLES",):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    assert allocator.retain_freed_memory() == f"left to {name}"


def test_other_tunables_do_not_count_as_malloc_settings(monkeypatch):
    for other in allocator._USER_VARIABLES:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")
    assert allocator.user_malloc_settings() is None


def test_the_run_config_turns_it_on_by_default_and_off_by_key():
    from hls_translate.core.config import from_dict
    from hls_translate.training.config import RunConfig

    assert RunConfig(out_dir="x").retain_freed_memory is True
    assert from_dict(RunConfig, {"out_dir": "x", "retain_freed_memory": False}).retain_freed_memory is False
