#!/usr/bin/env bash
# Install Debian/Ubuntu packages non-interactively: apt-install.sh PACKAGE...
# Runs apt-get as root directly, or through sudo when that is available.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$(basename "$0"): apt-get is not available; install $* with your package manager" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "$(basename "$0"): installing $* needs root; run as root or install sudo" >&2
    exit 1
fi

# env passes the setting through sudo, which would otherwise drop it.
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "$@"
