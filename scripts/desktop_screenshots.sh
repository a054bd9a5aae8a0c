#!/usr/bin/env bash
# The documentation's screenshots, taken in the real QGIS desktop (not offscreen renders): starts Xvfb,
# a throwaway QGIS profile with the plugin enabled, runs scripts/desktop_screenshots.py inside QGIS and
# writes small (palette) PNGs into docs/img/.
#
#   scripts/desktop_screenshots.sh [OUTDIR]      (default: docs/img)
#
# Needs: Xvfb (apt-get install xvfb), QGIS, Pillow (python3-pil, a matplotlib dependency). Environment:
# PYTHON (default .venv/bin/python), HLS_TRANSLATE_DATA (the real scenes; default ../shared/data).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/docs/img}" && cd "${1:-$ROOT/docs/img}" && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
command -v Xvfb >/dev/null || { echo "error: Xvfb not found (apt-get install xvfb)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'kill "$XVFB" 2>/dev/null || true; rm -rf "$WORK"' EXIT
chmod 700 "$WORK"
mkdir -p "$WORK/plugins" "$WORK/profiles/default/QGIS" "$WORK/shots"
ln -s "$ROOT" "$WORK/plugins/hls_translate"
cat > "$WORK/profiles/default/QGIS/QGIS3.ini" <<'EOF'
[PythonPlugins]
hls_translate=true
[qgis]
checkVersion=false
EOF
DISPLAY_NUMBER=":$((90 + RANDOM % 9))"
Xvfb "$DISPLAY_NUMBER" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
sleep 2
export DISPLAY="$DISPLAY_NUMBER" XDG_RUNTIME_DIR="$WORK" QGIS_PLUGINPATH="$WORK/plugins" GDAL_PAM_ENABLED=NO
export HLS_SHOTS="$WORK/shots" HLS_REPO="$ROOT" PATH="$(dirname "$PYTHON"):$PATH"
timeout 180 qgis --profiles-path "$WORK" --noversioncheck --nologo --code "$ROOT/scripts/desktop_screenshots.py" \
  > "$WORK/qgis.log" 2>&1 || true
[ -f "$WORK/shots/done" ] || { echo "error: QGIS did not finish the screenshots:" >&2; tail -20 "$WORK/qgis.log" >&2; exit 1; }
"$PYTHON" - "$WORK/shots" "$OUT" <<'EOF'
import glob, os, sys
from PIL import Image

src, out = sys.argv[1:]
for path in sorted(glob.glob(os.path.join(src, "*.png"))):
    dst = os.path.join(out, os.path.basename(path))
    Image.open(path).convert("RGB").quantize(colors=128, method=Image.MEDIANCUT).save(dst, optimize=True)
    print(f"{dst}: {os.path.getsize(dst) // 1024} KB")
EOF
