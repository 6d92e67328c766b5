#!/usr/bin/env bash
# Rewrite the lock files in requirements/ from their inputs, with the newest releases that
# satisfy them today: refresh-pins.sh [NAME...] (default: every lock).
#
# dev-py3X.txt     this package's dev extras (setup.py) for each Python CI or tox runs
# NAME.txt         from NAME.in, whose header lines say how to resolve it:
#   # python: 3.X       the Python version to resolve for
#   # with: ARGS        more inputs (e.g. `setup.py --extra test`)
#   # constrain: LOCK   hold shared packages to requirements/LOCK.txt
#   # strip: PACKAGE    drop PACKAGE from the lock (this package's own name: it is installed
#                       from the working tree, never from the registry)
# Uses uv (installed into a throwaway virtualenv at a pinned version) only for resolving;
# installs everywhere else use plain pip with `-c requirements/NAME.txt`.
set -euo pipefail

UV_VERSION="0.13.10"
PYTHONS=(3.9 3.10 3.11 3.12 3.13)

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools="${RQ_PINS_TOOLS:-$(mktemp -d)}"
if [ ! -x "$tools/bin/uv" ]; then
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv="$tools/bin/uv"

compile() {  # compile OUTPUT PYTHON ARGS...
    local output="$1" python="$2"
    shift 2
    "$uv" pip compile --quiet --no-header --python-version "$python" --output-file "$output" "$@"
    echo "refresh-pins: wrote $output"
}

header() {  # header FILE KEY: the value of a `# KEY: value` line, if any
    sed -n "s/^# $2: //p" "$1" | head -n 1
}

wanted() {  # wanted NAME: true when NAME was asked for, or nothing was
    [ "${#selected[@]}" -eq 0 ] && return 0
    local name
    for name in "${selected[@]}"; do [ "$name" = "$1" ] && return 0; done
    return 1
}

selected=("$@")
for python in "${PYTHONS[@]}"; do
    name="dev-py${python/./}"
    wanted "$name" && compile "requirements/$name.txt" "$python" setup.py --extra dev
done
for input in requirements/*.in; do
    name="$(basename "$input" .in)"
    wanted "$name" || continue
    python="$(header "$input" python)"
    read -r -a with <<<"$(header "$input" with)"
    constrain="$(header "$input" constrain)"
    strip="$(header "$input" strip)"
    args=("$input" "${with[@]}")
    if [ -n "$constrain" ]; then
        args+=(--constraint "requirements/$constrain.txt")
    fi
    if [ -n "$strip" ]; then
        args+=(--no-emit-package "$strip")
    fi
    compile "requirements/$name.txt" "${python:-3.11}" "${args[@]}"
done
