"""One plain-text progress bar with ETA, for every command that runs long (predict, batch, evaluate, train).

It is driven either by fractions (``bar(0.25)``: the callback the inference engine and the evaluation
take; ``bar(0.25, "3/12 scenes")`` with a text, as the batch reports) or by steps (``bar.update(step, text)``
with ``total``: the training loop).  On a terminal the bar is redrawn in place; otherwise (logs of batch
jobs) it writes one line per ``line_every`` of progress, or one per call when ``line_every`` is 0.  The ETA is measured from the work done since the bar was
made, so a run resumed at step ``start`` of ``total`` is not credited with the earlier steps.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Optional, TextIO


def format_duration(seconds: float) -> str:
    """``mm:ss``, ``h:mm:ss`` from one hour on; ``--:--`` when unknown (nan, inf)."""
    if not math.isfinite(seconds):
        return "--:--"
    hours, rest = divmod(int(round(max(seconds, 0.0))), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """A progress bar with elapsed time and ETA on ``stream`` (default: standard error).

    ``label`` starts every line (``predict``, ``step``); with ``total`` the bar counts steps and shows
    ``step/total`` after the label.  ``start`` is where this run begins (a resumed training run).
    ``enabled=False`` makes every method a no-op (quiet runs, non-zero DDP ranks).
    """

    def __init__(self, label: str = "", total: Optional[int] = None, start: int = 0,
                 stream: Optional[TextIO] = None, width: int = 30, enabled: bool = True, line_every: float = 0.1):
        if total is not None and total < 1:
            raise ValueError(f"total must be >= 1, got {total}")
        self.label, self.total, self.width, self.enabled = label, total, width, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.line_every = line_every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.first = start / total if total else 0.0  # the fraction already done when the bar was made
        self._last_line = -1  # index of the last ``line_every`` slice a line was written for (not a tty)
        self._drawn = 0  # length of the line drawn in place (tty), 0 when none is open

    def __call__(self, fraction: float, text: str = "") -> None:
        """Progress as a fraction 0..1 of the whole run, with ``text`` (e.g. scenes done, MP/s) after the times."""
        self._show(fraction, text)

    def update(self, step: int, text: str = "") -> None:
        """Progress as a step number out of ``total``, with ``text`` (e.g. the loss) after the times."""
        if self.total is None:
            raise ValueError("update(step) needs a ProgressBar made with total=")
        self._show(step / self.total, text, step)

    def log(self, message: str) -> None:
        """A line of its own that does not garble a bar being redrawn."""
        if not self.enabled:
            return
        self._end_line()
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line drawn in place, if any."""
        if self.enabled:
            self._end_line()
            self.stream.flush()

    # --- drawing ---------------------------------------------------------------------------------------
    def _show(self, fraction: float, text: str, step: Optional[int] = None) -> None:
        if not self.enabled:
            return
        f = min(max(float(fraction), 0.0), 1.0)
        elapsed = time.perf_counter() - self.t0
        eta = elapsed * (1.0 - f) / (f - self.first) if f > self.first else float("nan")
        head = f"{self.label} {step}/{self.total}" if step is not None else self.label
        times = f"{100 * f:5.1f}% elapsed {format_duration(elapsed)} ETA {format_duration(eta)}"
        if self.tty:
            filled = int(round(self.width * f))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}]"
            line = " ".join(p for p in (head, bar, times, text) if p)
            line = line[:max(20, shutil.get_terminal_size((160, 24)).columns - 1)]
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
            if f >= 1.0:
                self._end_line()
        else:
            slice_index = int(f / self.line_every + 1e-9) if self.line_every > 0 else self._last_line + 1
            if slice_index <= self._last_line:
                return
            self._last_line = slice_index
            self.stream.write(" ".join(p for p in (head, times, text) if p) + "\n")
        self.stream.flush()

    def _end_line(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self._drawn = 0


__all__ = ["ProgressBar", "format_duration"]
