"""Text from files made printable: what a model's metadata or a raster's tags say reaches a terminal or
the QGIS log only after control characters are made visible, so a crafted file cannot move the cursor,
rewrite the screen or hide lines (terminal escape sequences)."""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and the C1 controls (ESC-less terminal sequences)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, keep_newlines: bool = True) -> str:
    """``text`` with every control character shown as ``\\xNN`` (newlines kept unless asked not to)."""
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    return out if keep_newlines else out.replace("\n", "\\n")


__all__ = ["printable"]
