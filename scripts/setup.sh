#!/usr/bin/env bash
# One-time setup on a fresh Debian machine with Swift: system packages, the model files, a release build of
# `edgelm`, `edgelm-server` (the HTTP server `edgelm serve` runs) and `edgelm-http` (its HTTP client).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! dpkg -s libopenblas-dev liblapacke-dev pkg-config >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev liblapacke-dev pkg-config >/dev/null
fi
weights/fetch.sh smollm2
swift build -c release --product edgelm
swift build -c release --product edgelm-server   # what `edgelm serve` runs
swift build -c release --product edgelm-http     # what `edgelm` sends its HTTP requests through
