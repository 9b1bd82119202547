#!/usr/bin/env bash
# Installs the aarch64 cross C++ toolchain that nasc's TVM backend uses to link Jetson
# host code into a deployable .so (without it, Jetson builds fall back to a .tar that
# the device links itself at first load).  Debian/Ubuntu only; needs root or sudo.
set -euo pipefail
if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1; then
    echo "aarch64-linux-gnu-g++ already installed: $(aarch64-linux-gnu-g++ --version | head -n1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "error: need root (or sudo) to apt-get install g++-aarch64-linux-gnu" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu
aarch64-linux-gnu-g++ --version | head -n1
