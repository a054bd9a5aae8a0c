"""Heatmap PNGs with numpy and zlib only: colour matrices with numbers in the cells and text labels.

No plotting library is needed (matplotlib is not a dependency).  Text uses a built-in 5x7 bitmap font
(digits, upper-case letters, a little punctuation; lower case is drawn as upper case), scaled by an
integer factor.  :func:`write_png` writes an RGB image atomically (temporary file + rename).
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from ..core.fileio import atomic_write_bytes

_FONT = {
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"],
    "D": ["11100", "10010", "10001", "10001", "10001", "10010", "11100"],
    "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"],
    "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
    "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"],
    "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
    "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
    "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
    "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
    "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"],
    "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
    "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"],
    "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
    "Y": ["10001", "10001", "10001", "01010", "00100", "00100", "00100"],
    "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
    " ": ["00000"] * 7,
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    ",": ["00000", "00000", "00000", "00000", "01100", "00100", "01000"],
    ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    "+": ["00000", "00100", "00100", "11111", "00100", "00100", "00000"],
    "=": ["00000", "00000", "11111", "00000", "11111", "00000", "00000"],
    ">": ["01000", "00100", "00010", "00001", "00010", "00100", "01000"],
    "<": ["00010", "00100", "01000", "10000", "01000", "00100", "00010"],
    "/": ["00001", "00010", "00010", "00100", "01000", "01000", "10000"],
    "(": ["00010", "00100", "01000", "01000", "01000", "00100", "00010"],
    ")": ["01000", "00100", "00010", "00010", "00010", "00100", "01000"],
    "%": ["11000", "11001", "00010", "00100", "01000", "10011", "00011"],
    "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
    "'": ["00100", "00100", "01000", "00000", "00000", "00000", "00000"],
    "?": ["01110", "10001", "00001", "00010", "00100", "00000", "00100"],
    "^": ["00100", "01010", "10001", "00000", "00000", "00000", "00000"],
    ";": ["00000", "01100", "01100", "00000", "01100", "00100", "01000"],
    "*": ["00000", "00100", "10101", "01110", "10101", "00100", "00000"],
    "[": ["01110", "01000", "01000", "01000", "01000", "01000", "01110"],
    "]": ["01110", "00010", "00010", "00010", "00010", "00010", "01110"],
    "#": ["01010", "01010", "11111", "01010", "11111", "01010", "01010"],
}
_GLYPHS = {k: np.array([[c == "1" for c in row] for row in v], dtype=bool) for k, v in _FONT.items()}
GLYPH_W, GLYPH_H = 5, 7


def text_size(text: str, scale: int = 1) -> Tuple[int, int]:
    """(width, height) in pixels of ``text`` drawn at ``scale``."""
    n = len(text)
    return (max(0, n * (GLYPH_W + 1) - 1) * scale, GLYPH_H * scale)


def draw_text(img: np.ndarray, x: int, y: int, text: str, color=(0, 0, 0), scale: int = 1) -> None:
    """Draw ``text`` with its top-left corner at (x, y) into an ``[H, W, 3]`` uint8 image (clipped)."""
    h, w = img.shape[:2]
    cx = x
    for ch in text:
        g = _GLYPHS.get(ch.upper(), _GLYPHS["?"])
        if scale > 1:
            g = np.kron(g, np.ones((scale, scale), dtype=bool))
        gh, gw = g.shape
        y0, x0 = max(y, 0), max(cx, 0)
        y1, x1 = min(y + gh, h), min(cx + gw, w)
        if y1 > y0 and x1 > x0:
            sub = g[y0 - y:y1 - y, x0 - cx:x1 - cx]
            img[y0:y1, x0:x1][sub] = color
        cx += (GLYPH_W + 1) * scale


def draw_text_centered(img, cx: int, cy: int, text: str, color=(0, 0, 0), scale: int = 1) -> None:
    tw, th = text_size(text, scale)
    draw_text(img, cx - tw // 2, cy - th // 2, text, color, scale)


def _lerp(c0, c1, t):
    return tuple(int(round(a + (b - a) * t)) for a, b in zip(c0, c1))


def sequential(t: float) -> Tuple[int, int, int]:
    """0 -> dark red, 0.5 -> orange/yellow, 1 -> pale green-white (good); NaN -> grey."""
    if t is None or not math.isfinite(t):
        return (200, 200, 200)
    t = min(max(t, 0.0), 1.0)
    stops = [(0.0, (165, 0, 38)), (0.5, (253, 174, 97)), (0.8, (255, 255, 191)), (1.0, (166, 217, 106))]
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            return _lerp(c0, c1, (t - t0) / (t1 - t0))
    return stops[-1][1]


def diverging(t: float) -> Tuple[int, int, int]:
    """-1 -> green (better), 0 -> white, +1 -> red (worse); NaN -> grey."""
    if t is None or not math.isfinite(t):
        return (200, 200, 200)
    t = min(max(t, -1.0), 1.0)
    if t < 0:
        return _lerp((255, 255, 255), (26, 152, 80), -t)
    return _lerp((255, 255, 255), (215, 48, 39), t)


def _text_color(rgb) -> Tuple[int, int, int]:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if lum > 110 else (255, 255, 255)


def render_matrix(values: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str,
                  color: Callable[[float], Tuple[int, int, int]], color_values: Optional[np.ndarray] = None,
                  fmt: Callable[[float], str] = lambda v: f"{v:.3g}", row_title: str = "", col_title: str = "",
                  notes: Sequence[str] = (), scale: int = 2, cell: Tuple[int, int] = (64, 30)) -> np.ndarray:
    """One annotated heatmap panel as an ``[H, W, 3]`` uint8 image.

    ``values`` fills the cell text; ``color_values`` (default ``values``) goes through ``color``.
    """
    values = np.asarray(values, dtype=np.float64)
    cv = values if color_values is None else np.asarray(color_values, dtype=np.float64)
    nr, nc = values.shape
    cw, chh = cell
    char_w = (GLYPH_W + 1) * scale
    label_w = max([text_size(s, scale)[0] for s in row_labels] + [0]) + 3 * char_w
    top = (GLYPH_H * scale + 10) * (2 + (1 if col_title else 0))
    bottom = (GLYPH_H * scale + 8) * (len(notes) + 1)
    left = label_w + (GLYPH_H * scale + 12 if row_title else 0)
    width = left + nc * cw + 20
    width = max(width, max([text_size(n, scale)[0] for n in [title, *notes]] + [0]) + 30)
    height = top + nr * chh + bottom
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    draw_text(img, 10, 8, title, (0, 0, 0), scale)
    y_cols = top - (GLYPH_H * scale + 8)
    if col_title:
        draw_text(img, left, 8 + GLYPH_H * scale + 10, col_title, (60, 60, 60), scale)
    for j, lab in enumerate(col_labels):
        draw_text_centered(img, left + j * cw + cw // 2, y_cols + GLYPH_H * scale // 2, lab, (0, 0, 0), scale)
    if row_title:  # vertical, one character per line would be long: write it rotated by drawing then transposing
        tw, th = text_size(row_title, scale)
        strip = np.full((th + 2, tw + 2, 3), 255, dtype=np.uint8)
        draw_text(strip, 1, 1, row_title, (60, 60, 60), scale)
        strip = np.rot90(strip, 1)
        y0 = top + max(0, (nr * chh - strip.shape[0]) // 2)
        y1 = min(y0 + strip.shape[0], height)
        img[y0:y1, 6:6 + strip.shape[1]] = strip[: y1 - y0]
    for i, lab in enumerate(row_labels):
        tw, th = text_size(lab, scale)
        draw_text(img, left - tw - char_w, top + i * chh + (chh - th) // 2, lab, (0, 0, 0), scale)
    for i in range(nr):
        for j in range(nc):
            rgb = color(cv[i, j])
            y0, x0 = top + i * chh, left + j * cw
            img[y0:y0 + chh, x0:x0 + cw] = rgb
            img[y0:y0 + chh, x0] = (255, 255, 255)
            img[y0, x0:x0 + cw] = (255, 255, 255)
            v = values[i, j]
            if math.isfinite(v):
                draw_text_centered(img, x0 + cw // 2, y0 + chh // 2, fmt(v), _text_color(rgb), scale)
    for k, n in enumerate(notes):
        draw_text(img, 10, top + nr * chh + 10 + k * (GLYPH_H * scale + 8), n, (40, 40, 40), scale)
    return img


def stack_panels(panels: Sequence[np.ndarray], gap: int = 20, vertical: bool = True) -> np.ndarray:
    """Panels one below the other (or side by side), padded with white."""
    if vertical:
        w = max(p.shape[1] for p in panels)
        parts = []
        for p in panels:
            pad = np.full((p.shape[0], w - p.shape[1], 3), 255, np.uint8)
            parts += [np.concatenate([p, pad], axis=1), np.full((gap, w, 3), 255, np.uint8)]
        return np.concatenate(parts[:-1], axis=0)
    h = max(p.shape[0] for p in panels)
    parts = []
    for p in panels:
        pad = np.full((h - p.shape[0], p.shape[1], 3), 255, np.uint8)
        parts += [np.concatenate([p, pad], axis=0), np.full((h, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an ``[H, W, 3]`` uint8 RGB image (or ``[H, W]`` grey)."""
    a = np.ascontiguousarray(img, dtype=np.uint8)
    if a.ndim == 2:
        color_type, a3 = 0, a[:, :, None]
    elif a.ndim == 3 and a.shape[2] == 3:
        color_type, a3 = 2, a
    else:
        raise ValueError(f"expected [H, W] or [H, W, 3] uint8, got shape {a.shape}")
    h, w = a3.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), a3.reshape(h, -1)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def decode_png(data: bytes) -> np.ndarray:
    """Decode a PNG written by :func:`encode_png` (8-bit RGB/grey, filter type 0 only): for tests."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    i, idat = 8, b""
    w = h = None
    ct = 2
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        tag, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        if zlib.crc32(tag + body) & 0xFFFFFFFF != struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0]:
            raise ValueError(f"bad CRC in chunk {tag!r}")
        if tag == b"IHDR":
            w, h, depth, ct = struct.unpack(">IIBB", body[:10])
        elif tag == b"IDAT":
            idat += body
        i += 12 + n
    nch = 3 if ct == 2 else 1
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * nch)
    if raw[:, 0].any():
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].reshape(h, w, nch) if nch == 3 else raw[:, 1:].reshape(h, w)


def write_png(path: str, img: np.ndarray) -> str:
    """Write ``img`` as PNG to ``path`` atomically."""
    return atomic_write_bytes(path, encode_png(img))


__all__ = ["render_matrix", "stack_panels", "encode_png", "decode_png", "write_png", "draw_text", "text_size",
           "sequential", "diverging"]
