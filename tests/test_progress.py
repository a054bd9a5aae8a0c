"""core/progress.py: the one progress bar (fractions for predict/evaluate, steps for training)."""

import io

import pytest

from hls_translate.core import progress as progress_module
from hls_translate.core.progress import ProgressBar, format_duration


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """A stand-in for time.perf_counter that the test advances."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", c)
    return c


def test_format_duration():
    assert format_duration(0) == "00:00" and format_duration(61.4) == "01:01"
    assert format_duration(3600 + 62) == "1:01:02" and format_duration(float("nan")) == "--:--"
    assert format_duration(float("inf")) == "--:--"


def test_fractions_in_a_log_write_one_line_per_tenth_with_eta(clock):
    out = io.StringIO()
    bar = ProgressBar("predict", stream=out)
    for f, t in ((0.0, 0), (0.05, 1), (0.25, 5), (0.26, 6), (1.0, 20)):
        clock.now = 100.0 + t
        bar(f)
    lines = out.getvalue().splitlines()
    assert lines == ["predict   0.0% elapsed 00:00 ETA --:--", "predict  25.0% elapsed 00:05 ETA 00:15",
                     "predict 100.0% elapsed 00:20 ETA 00:00"]


def test_steps_of_a_resumed_run_count_only_this_runs_steps(clock):
    out = io.StringIO()
    bar = ProgressBar("step", total=100, start=50, stream=out, line_every=0)
    clock.now += 10
    bar.update(60, "loss 0.5")
    bar.update(60, "loss 0.4")  # line_every=0: a line per call
    assert out.getvalue().splitlines() == ["step 60/100  60.0% elapsed 00:10 ETA 00:40 loss 0.5",
                                           "step 60/100  60.0% elapsed 00:10 ETA 00:40 loss 0.4"]
    with pytest.raises(ValueError, match="total"):
        ProgressBar("x").update(1)


def test_terminal_redraws_in_place_and_log_lines_do_not_garble_it(clock):
    term = Terminal()
    bar = ProgressBar("predict", stream=term, width=10)
    bar(0.5)
    bar.log("a message")
    bar(0.6)
    bar(1.0)
    text = term.getvalue()
    assert text.startswith("\rpredict [#####.....]  50.0%")
    assert "\na message\n\rpredict [######....]" in text and text.endswith("ETA 00:00\n")
    bar.close()  # the line is already ended: nothing more
    assert term.getvalue() == text


def test_disabled_bar_writes_nothing():
    out = io.StringIO()
    bar = ProgressBar("step", total=10, stream=out, enabled=False)
    bar(0.5)
    bar.update(3, "x")
    bar.log("x")
    bar.close()
    assert out.getvalue() == ""
