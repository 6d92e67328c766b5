#!/usr/bin/env bash
# Make sure the test suite and the demo can get a Redis server.
#
# Exits 0 when REDIS_URL is set, when RQ_TEST_REDIS=docker and Docker works, or when
# redis-server (or $REDIS_SERVER_BIN) is on PATH. Otherwise installs Debian's
# redis-server package. The package may start a system service on port 6379; the
# tests never use it (they run their own servers on free ports), so that is harmless.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${REDIS_SERVER_BIN:-redis-server}"

if [ -n "${REDIS_URL:-}" ]; then
    echo "ensure-redis: REDIS_URL is set; the tests will use that server"
    exit 0
fi
if [ "${RQ_TEST_REDIS:-}" = "docker" ] && command -v docker >/dev/null 2>&1 \
        && docker info >/dev/null 2>&1; then
    echo "ensure-redis: RQ_TEST_REDIS=docker and Docker is available"
    exit 0
fi
if command -v "$binary" >/dev/null 2>&1; then
    exit 0
fi
if [ -n "${REDIS_SERVER_BIN:-}" ]; then
    echo "ensure-redis: REDIS_SERVER_BIN=$REDIS_SERVER_BIN is not an executable program" >&2
    exit 1
fi

case "$(uname -s)" in
    Darwin)
        echo "ensure-redis: redis-server not found; install it with: brew install redis" >&2
        exit 1
        ;;
    Linux)
        if command -v apt-get >/dev/null 2>&1; then
            echo "ensure-redis: redis-server not found; installing the redis-server package"
            bash "$here/apt-install.sh" redis-server
            if command -v redis-server >/dev/null 2>&1; then
                redis-server --version
                exit 0
            fi
        fi
        ;;
esac

echo "ensure-redis: redis-server not found. Install redis-server" \
    "(apt-get install redis-server, brew install redis) or set REDIS_URL=redis://host:port/db" >&2
exit 1
