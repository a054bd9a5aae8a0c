#!/usr/bin/env bash
# make demo: synthesize the red-edge 2 band (B06) of the sample scene from only the eight bands that
# Landsat 8/9 (HLS L30) also measures, with the bundled model, headless through qgis_process with only the
# plugin installed; score it against the real B06 and render a PNG preview.
#
#   scripts/demo.sh [OUTDIR]            (default OUTDIR: out)
#
# Environment: PYTHON (default .venv/bin/python), MODEL (default: the bundled model), QGIS_PROCESS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-out}" && cd "${1:-out}" && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
MODEL="${MODEL:-$ROOT/resources/models/hls_translate_default.onnx}"
QGIS_PROCESS="${QGIS_PROCESS:-$(command -v qgis_process.bin || echo /usr/bin/qgis_process.bin)}"
SAMPLE="$ROOT/resources/sample/spain_l1c_crop"

[ -f "$MODEL" ] || { echo "error: model $MODEL not found (the bundled model is made by the training pipeline; set MODEL=... to use another)" >&2; exit 1; }
[ -x "$QGIS_PROCESS" ] || { echo "error: $QGIS_PROCESS not found; install QGIS (make system-deps)" >&2; exit 1; }
ls "$SAMPLE"/*_B06.tif >/dev/null 2>&1 || { echo "error: no sample scene in $SAMPLE" >&2; exit 1; }

# a throwaway QGIS profile with the plugin linked in under the name QGIS needs (hls_translate)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins" "$WORK/profile" && chmod 700 "$WORK"
ln -s "$ROOT" "$WORK/plugins/hls_translate"
export QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$WORK" QGIS_CUSTOM_CONFIG_PATH="$WORK/profile" QGIS_PLUGINPATH="$WORK/plugins"
export PATH="$(dirname "$PYTHON"):$PATH"   # qgis_process's Python finds onnxruntime in the venv
"$QGIS_PROCESS" plugins enable hls_translate >/dev/null

# the Sentinel-2 bands that Landsat 8/9 OLI also has: coastal, blue, green, red, NIR narrow, cirrus, SWIR 1, SWIR 2
INPUTS=()
for code in B01 B02 B03 B04 B8A B10 B11 B12; do INPUTS+=("INPUT=$(ls "$SAMPLE"/*_"$code".tif)"); done
REAL="$(ls "$SAMPLE"/*_B06.tif)"
SYNTH="$OUT/sample_B06_red_edge_2_synthesized.tif"
DIFF="$OUT/sample_B06_difference.tif"

echo "== synthesizing B06 red edge 2 of the sample scene from the ${#INPUTS[@]} bands Landsat also has (qgis_process)"
# DATA_TYPE=float32: physical reflectance, for the preview below (the default stores it like the inputs: int16 DN)
"$QGIS_PROCESS" run hls_translate:synthesize_band -- "${INPUTS[@]}" TARGET_BANDS=red_edge_2 DATA_TYPE=float32 \
  MODEL="$MODEL" OUTPUT="$SYNTH" \
  | grep -E "^(TARGETS|TILES_RUN|SECONDS|EXECUTION_PROVIDER):" || true
[ -f "$SYNTH" ] || { echo "error: synthesize_band wrote nothing" >&2; exit 1; }

echo "== scoring against the real B06"
"$QGIS_PROCESS" run hls_translate:evaluate_band -- SYNTHESIZED="$SYNTH" REFERENCE="$REAL" DIFFERENCE="$DIFF" \
  | grep -E "^REPORT:" || true

echo "== rendering the preview"
"$PYTHON" - "$REAL" "$SYNTH" "$DIFF" "$OUT/sample_B06_preview.png" <<'EOF'
import sys
import numpy as np
from osgeo import gdal

real_path, synth_path, diff_path, png = sys.argv[1:]

def physical(path):
    ds = gdal.Open(path)
    b = ds.GetRasterBand(1)
    a = b.ReadAsArray().astype(np.float64)
    nd = b.GetNoDataValue()
    ok = np.ones(a.shape, bool) if nd is None else a != nd
    if b.DataType in (gdal.GDT_Float32, gdal.GDT_Float64):
        scale = 1.0  # hls_translate writes physical values
    else:
        scale = b.GetScale() if b.GetScale() not in (None, 1.0) else 1e-4  # Sentinel-2 / HLS DN
    return np.where(ok, a * scale, np.nan)

real, synth, diff = physical(real_path), physical(synth_path), physical(diff_path)
lo, hi = np.nanpercentile(np.concatenate([real.ravel(), synth.ravel()]), [2, 98])
m = np.nanpercentile(np.abs(diff), 98) or 1e-6
def byte(a, lo, hi):
    return np.nan_to_num(np.clip((a - lo) / (hi - lo) * 255, 0, 255), nan=0).astype(np.uint8)
gap = np.full((real.shape[0], 8), 255, np.uint8)
panel = np.concatenate([byte(real, lo, hi), gap, byte(synth, lo, hi), gap, byte(np.abs(diff), 0, m)], axis=1)
mem = gdal.GetDriverByName("MEM").Create("", panel.shape[1], panel.shape[0], 1, gdal.GDT_Byte)
mem.GetRasterBand(1).WriteArray(panel)
gdal.GetDriverByName("PNG").CreateCopy(png, mem)
print(f"preview: real B06 | synthesized B06 (same stretch {lo:.4f}..{hi:.4f} reflectance) | |difference| (0..{m:.4f})")
EOF
rm -f "$OUT"/sample_B06_*.aux.xml  # statistics QGIS wrote while reading the outputs
echo
echo "synthesized band: $SYNTH"
echo "difference:       $DIFF"
echo "preview PNG:      $OUT/sample_B06_preview.png"
