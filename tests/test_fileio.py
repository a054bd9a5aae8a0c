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
