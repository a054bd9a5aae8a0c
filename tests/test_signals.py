"""Stopping a command never leaves litter: SIGTERM and SIGHUP unwind ``predict`` like Ctrl-C (no
temporary part, no output under the final name, exit 128 + signal), and the temporary parts of a process
that died without a chance to clean up (SIGKILL) are removed by the next run writing the same output."""

import os
import signal
import subprocess
import sys
import time

import pytest

from hls_translate.core.fileio import atomic_write_text, part_path, remove_stale_parts

pytestmark = pytest.mark.data


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_parts_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    out = tmp_path / "x.tif"
    mine = part_path(str(out), ".tif")
    open(mine, "w").close()
    dead = part_path(str(out), ".tif").replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    open(dead, "w").close()
    other_host = tmp_path / f".x.tif.some-other-host.{_dead_pid()}.0123abcd.part.tif"
    other_host.write_text("")
    unrelated = tmp_path / ".y.tif.part"
    unrelated.write_text("")
    assert remove_stale_parts(str(out)) == [dead]
    assert os.path.exists(mine) and other_host.exists() and unrelated.exists() and not os.path.exists(dead)
    # every atomic write cleans up after the dead before writing
    open(dead, "w").close()
    atomic_write_text(str(out), "done")
    assert not os.path.exists(dead) and out.read_text() == "done"


@pytest.fixture(scope="module")
def slow_predict(tmp_path_factory, data_dir):
    """A predict command that runs for a few seconds: the small model over the 1098 px T29RKH scene."""
    pytest.importorskip("torch")
    from support.adain_fixture import small_adain_onnx

    d = tmp_path_factory.mktemp("sig")
    model = small_adain_onnx(d / "m.onnx")
    scene = data_dir / "s2_l2a_12band_T29RKH_decimated"
    return lambda out: [sys.executable, "-m", "hls_translate.training", "predict", "--model", model, "--input",
                        str(scene), "--target", "B05", "--target", "B06", "--target", "B07", "--out", str(out),
                        "--resampling", "bilinear", "--threads", "1", "--batch", "1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_predict_leaves_nothing(tmp_path, slow_predict, sig):
    out = tmp_path / "re.tif"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(slow_predict(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not [p for p in os.listdir(tmp_path) if ".part" in p]:
        time.sleep(0.05)
    assert [p for p in os.listdir(tmp_path) if ".part" in p], "the run never started writing"
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {sig.name}" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []  # no part, no output under the final name


def test_a_killed_predict_is_cleaned_up_by_the_next_run(tmp_path, slow_predict):
    out = tmp_path / "re.tif"
    proc = subprocess.Popen(slow_predict(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not [p for p in os.listdir(tmp_path) if ".part" in p]:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert [p for p in os.listdir(tmp_path) if ".part" in p]  # SIGKILL leaves the part behind
    done = subprocess.run(slow_predict(out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path) == ["re.tif"]
