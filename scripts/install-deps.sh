#!/usr/bin/env bash
# Install the Debian packages axon needs, only those that are missing.
# Safe to run again: with everything present it only checks and returns.
set -euo pipefail

PKGS=(
  build-essential make pkg-config
  openmpi-bin libopenmpi-dev
  libopenblas-dev
  zlib1g-dev
  libyaml-dev
  libcunit1-dev
  dataset-fashion-mnist
  python3-sklearn
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  python3-onnx
)
# Extra sets, requested through AXON_EXTRA_PKGS (space separated).
if [ -n "${AXON_EXTRA_PKGS:-}" ]; then
  read -r -a extra <<<"$AXON_EXTRA_PKGS"
  PKGS+=("${extra[@]}")
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
