"""Packaging: one version everywhere, the package resolves to the repository root, the command exists."""

import configparser
import pathlib
import subprocess
import sys

import hls_translate

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_package_is_the_repository_root():
    assert pathlib.Path(hls_translate.__file__).resolve().parent == REPO
    assert (REPO / "metadata.txt").is_file()


def test_one_version_everywhere():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt")
    assert py == meta["general"]["version"] == hls_translate.__version__


def test_command_line_entry_point():
    exe = pathlib.Path(sys.executable).parent / "hls-translate"
    assert exe.exists(), "pip install -e . installs the hls-translate command"
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"hls_translate {hls_translate.__version__}"
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "predict" in r.stdout and "train" in r.stdout


def test_output_into_a_closed_pipe_ends_quietly():
    exe = pathlib.Path(sys.executable).parent / "hls-translate"
    model = REPO / "resources" / "models" / "hls_translate_default.onnx"
    # `true` exits without reading: every write of the command meets a closed pipe
    r = subprocess.run(["bash", "-c", f"'{exe}' info --json '{model}' | true; echo ${{PIPESTATUS[0]}}"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "0", r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
