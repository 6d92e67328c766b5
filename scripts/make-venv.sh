#!/usr/bin/env bash
# Create a virtualenv with pip in it: make-venv.sh PYTHON DIR
#
# Debian's python3 comes without the pieces `python3 -m venv` needs (they are in the
# python3.X-venv package). When that is why creating the virtualenv fails, the package
# is installed (as root, or with sudo) and the virtualenv is created again.
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 PYTHON DIR" >&2
    exit 2
fi
python="$1"
venv="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if output="$("$python" -m venv "$venv" 2>&1)"; then
    exit 0
fi
rm -rf "$venv"

case "$output" in
    *ensurepip*|*"No module named venv"*)
        version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        echo "make-venv: $python cannot create virtualenvs; installing python$version-venv"
        bash "$here/apt-install.sh" "python$version-venv" || bash "$here/apt-install.sh" python3-venv
        "$python" -m venv "$venv"
        ;;
    *)
        echo "$output" >&2
        echo "make-venv: could not create a virtualenv in $venv with $python" >&2
        exit 1
        ;;
esac
