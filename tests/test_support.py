"""The test set-up itself: without the real scenes the suite still collects and skips their tests saying
where it looked, under CI it refuses to run instead, and the named paths of tests/support/data.py match
the data folder."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from support import REPO, data


def _pytest(*args, **env) -> subprocess.CompletedProcess:
    """pytest in a subprocess at the repository root, with ``env`` in place of CI and HLS_TRANSLATE_DATA."""
    e = {k: v for k, v in os.environ.items() if k not in ("CI", data.ENV_VAR)}
    e.update(env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO, env=e,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def no_data(tmp_path) -> pathlib.Path:
    """A folder without the data, for HLS_TRANSLATE_DATA."""
    empty = tmp_path / "no_data_here"
    empty.mkdir()
    return empty


def test_whole_suite_collects_without_the_data(no_data):
    r = _pytest("--collect-only", "-q", "tests", **{data.ENV_VAR: str(no_data)})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert re.search(r"^\d+ tests collected in ", r.stdout.strip().splitlines()[-1]), out[-4000:]
    assert "tests/test_raster.py::test_not_a_raster" in r.stdout and "rror" not in r.stdout.splitlines()[-1]


def test_data_tests_are_skipped_naming_where_the_data_was_looked_for(no_data):
    r = _pytest("-q", "-rs", "tests/test_raster.py::test_not_a_raster", "tests/test_hls.py::test_group_real_tile_folder_with_scl",
                "tests/test_support.py::test_named_data_paths_match_the_data_folder", **{data.ENV_VAR: str(no_data)})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "3 skipped" in out and "passed" not in out and "failed" not in out, out[-4000:]
    assert f"looked for README.md in {no_data}" in out and data.ENV_VAR in out


def test_ci_refuses_to_run_without_the_data(no_data):
    r = _pytest("--collect-only", "-q", "tests/test_support.py", CI="true", **{data.ENV_VAR: str(no_data)})
    out = r.stdout + r.stderr
    assert r.returncode not in (0, 5), out[-4000:]
    assert "CI must run every test" in out and str(no_data) in out and data.ENV_VAR in out


@pytest.mark.data
def test_named_data_paths_match_the_data_folder():
    values = list(vars(data).values())
    named = [v for v in values if isinstance(v, pathlib.Path)] + [p for v in values if isinstance(v, tuple) for p in v]
    named = [p for p in named if isinstance(p, pathlib.Path) and data.DATA in p.parents]
    missing = [str(p) for p in named if not p.exists()]
    assert not missing, f"named in tests/support/data.py but absent: {missing}"
    unnamed = {d.name for d in data.DATA.iterdir() if d.is_dir()} - {p.relative_to(data.DATA).parts[0] for p in named}
    assert not unnamed, f"data folders without a name in tests/support/data.py: {sorted(unnamed)}"
