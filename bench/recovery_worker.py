"""``rq`` (the command line), counting the process's connection attempts to one Redis port.

Used by ``bench/recovery.py``: ``BENCH_REDIS_PORT`` names the port and ``BENCH_CONNECT_LOG``
the file where the running count is written every 0.1 s.
"""

from __future__ import annotations

import os
import socket
import threading
import time

PORT = int(os.environ["BENCH_REDIS_PORT"])
OUT = os.environ["BENCH_CONNECT_LOG"]
_connect = socket.socket.connect
_count = 0


def _counting_connect(self: socket.socket, address: object) -> None:
    global _count
    if isinstance(address, tuple) and len(address) >= 2 and address[1] == PORT:
        _count += 1
    _connect(self, address)  # type: ignore[arg-type]


def _dump() -> None:
    pid = os.getpid()
    while os.getpid() == pid:
        with open(OUT + ".tmp", "w") as handle:
            handle.write(f"{_count}\n")
        os.replace(OUT + ".tmp", OUT)
        time.sleep(0.1)


socket.socket.connect = _counting_connect  # type: ignore[method-assign]
threading.Thread(target=_dump, daemon=True).start()

from rq.cli import main  # noqa: E402

if __name__ == "__main__":
    main(prog_name="rq")
