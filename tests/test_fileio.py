"""Atomic writes: the file appears whole, with ordinary permissions, or not at all."""

import os
import stat

import pytest

from hls_translate.core.fileio import atomic_path, atomic_write_text


def test_write_appears_whole_with_umask_permissions(tmp_path):
    p = tmp_path / "report.json"
    atomic_write_text(p, "{}")
    assert p.read_text() == "{}"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert os.listdir(tmp_path) == ["report.json"]


def test_failure_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "model.onnx"
    p.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            assert not p.read_bytes() == b"half"
            raise RuntimeError("interrupted")
    assert p.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.onnx"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to tell an exited process")
def test_parts_of_an_exited_but_unreaped_process_are_stale(tmp_path):
    """A killed worker whose parent died too stays a zombie until init reaps it; its parts are stale."""
    import subprocess
    import sys

    from hls_translate.core.fileio import part_path, remove_stale_parts

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while True:  # exited, not reaped: /proc still lists it, in state Z
        with open(f"/proc/{child.pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                break
    out = tmp_path / "x.tif"
    stale = part_path(str(out), ".tif").replace(f".{os.getpid()}.", f".{child.pid}.")
    live = part_path(str(out), ".tif").replace(f".{os.getpid()}.", f".{os.getppid()}.")
    for p in (stale, live):
        open(p, "w").close()
    assert remove_stale_parts(str(out)) == [stale]
    assert os.path.exists(live)
    child.wait()
