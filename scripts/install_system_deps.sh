#!/usr/bin/env bash
# Installs the Debian 12 packages hls_translate needs (QGIS 3.22 with its Python bindings, GDAL),
# only when something is missing, so it is cheap to call before every `make` target.
set -euo pipefail

PKGS=(qgis python3-qgis qgis-providers python3-venv python3-gdal gdal-bin)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
