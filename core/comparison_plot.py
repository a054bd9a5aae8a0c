"""A picture of a synthesized band against the real one: a density scatter (synthesized vs real, with the
1:1 line), the two value histograms and the histogram of their difference, as one PNG.

:class:`PairSample` keeps an evenly spaced sample of the valid pixel pairs while a comparison reads its
rasters strip by strip (the same pixels whatever the strip size: every ``step``-th pixel of the whole
raster); :func:`write_comparison_png` draws it with matplotlib (imported only then, with its file-only
Agg canvas, so no GUI backend is touched; QGIS ships matplotlib on every platform).
"""

from __future__ import annotations

import math
import numpy as np

from .errors import ConfigError
from .fileio import atomic_write_bytes


class PairSample:
    """At most about ``limit`` (real, synthesized) pairs of a ``height`` x ``width`` raster: the valid
    pixels among every ``step``-th pixel in row-major order."""

    def __init__(self, height: int, width: int, limit: int = 200_000):
        self.width = width
        self.step = max(1, math.ceil(height * width / limit))
        self._real, self._synth = [], []

    def add(self, row0: int, real: np.ndarray, synth: np.ndarray, valid: np.ndarray) -> None:
        """Rows ``row0 ..`` of the raster (arrays of shape ``[rows, width]``)."""
        first = row0 * self.width
        idx = np.arange(first + (-first) % self.step, first + valid.size, self.step) - first
        keep = idx[valid.ravel()[idx]]
        self._real.append(real.ravel()[keep].astype(np.float64))
        self._synth.append(synth.ravel()[keep].astype(np.float64))

    @property
    def real(self) -> np.ndarray:
        return np.concatenate(self._real) if self._real else np.zeros(0)

    @property
    def synthesized(self) -> np.ndarray:
        return np.concatenate(self._synth) if self._synth else np.zeros(0)


def write_comparison_png(path: str, sample: PairSample, band: str, units: str, summary: str = "",
                         dpi: int = 80) -> str:
    """Draw ``sample`` (see the module docstring) into the PNG ``path`` (written atomically)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import LogNorm
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the comparison plot needs matplotlib, which this Python lacks "
                          "(python -m pip install matplotlib); leave the plot output empty") from None
    import io

    real, synth = sample.real, sample.synthesized
    if real.size == 0:
        raise ConfigError("no valid pixel pair to plot")
    lo, hi = np.percentile(np.concatenate([real, synth]), [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    fig = Figure(figsize=(12, 4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    counts, xe, ye = np.histogram2d(real, synth, bins=150, range=[[lo, hi], [lo, hi]])
    mesh = ax1.pcolormesh(xe, ye, counts.T, norm=LogNorm(vmin=1, vmax=max(2, counts.max())), cmap="viridis")
    ax1.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="1:1")
    ax1.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=f"real {band} ({units})", ylabel=f"synthesized {band} ({units})",
            title="synthesized vs real")
    ax1.set_aspect("equal")
    ax1.legend(loc="upper left", frameon=False)
    fig.colorbar(mesh, ax=ax1, label="pixels")
    bins = np.linspace(lo, hi, 120)
    ax2.hist(real, bins=bins, histtype="step", color="tab:blue", label="real")
    ax2.hist(synth, bins=bins, histtype="step", color="tab:orange", label="synthesized")
    ax2.set(xlabel=f"{band} ({units})", ylabel="pixels", title="value distributions")
    ax2.legend(frameon=False, loc="best")
    diff = synth - real
    m = float(np.percentile(np.abs(diff), 99.5)) or 1e-6
    ax3.hist(diff, bins=np.linspace(-m, m, 120), color="tab:gray")
    ax3.axvline(0, color="black", lw=0.8)
    ax3.set(xlabel=f"synthesized - real ({units})", ylabel="pixels", title="difference")
    if summary:
        fig.suptitle(summary, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    return path

