"""Count client round trips from a Redis ``MONITOR`` stream.

A round trip is one command sent outside ``MULTI``/``EXEC``, or one whole
``MULTI ... EXEC`` (or ``DISCARD``) block; ``EVAL``/``EVALSHA`` count once and the
commands a script runs (shown as client ``lua``) not at all. Only the lines between the
two ``ECHO`` markers that ``workloads.py`` sends around its timed section are counted.

``MONITOR`` cannot see how commands were grouped on the wire: a pipeline sent without
``MULTI`` shows up as separate commands, so it is counted as several round trips. The
count is therefore exact for plain commands, transactions and scripts, and an upper bound
when an implementation pipelines without a transaction.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field

# Seconds to wait for the stop marker after the workload process exited.
DRAIN_TIMEOUT = 60.0
# Read buffer for the MONITOR socket; results of the large-payload workload are long lines.
READ_BUFFER = 1 << 20


class MonitorError(RuntimeError):
    """The MONITOR connection failed or did not deliver the stop marker."""


_LINE = re.compile(r'^\+\d+\.\d+ \[\d+ (?P<client>[^\]]*)\] "(?P<command>[^"]*)"')


@dataclass
class RoundTripCounter:
    """Feed it ``MONITOR`` lines; it counts what lies between the markers for ``token``."""

    token: str
    round_trips: int = 0
    commands: int = 0
    transactions: int = 0
    script_commands: int = 0
    started: bool = False
    finished: bool = False
    _in_transaction: set[str] = field(default_factory=set)

    def feed(self, line: str) -> None:
        match = _LINE.match(line)
        if match is None or self.finished:
            return
        client, command = match["client"], match["command"].upper()
        if command == "ECHO":
            if f'"bench-start:{self.token}"' in line:
                self.started = True
                return
            if f'"bench-stop:{self.token}"' in line:
                self.finished = True
                return
        if not self.started:
            return
        self.commands += 1
        if client == "lua":
            self.script_commands += 1
        elif command == "MULTI":
            self._in_transaction.add(client)
            self.transactions += 1
            self.round_trips += 1
        elif command in ("EXEC", "DISCARD"):
            self._in_transaction.discard(client)
        elif client not in self._in_transaction:
            self.round_trips += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "round_trips": self.round_trips,
            "commands": self.commands,
            "transactions": self.transactions,
            "script_commands": self.script_commands,
        }


class MonitorStream:
    """A ``MONITOR`` connection read by a background thread into a :class:`RoundTripCounter`."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.counter = RoundTripCounter(token)
        self._socket = socket.create_connection((host, port))
        self._stream = self._socket.makefile("rb", buffering=READ_BUFFER)
        self._socket.sendall(b"MONITOR\r\n")
        reply = self._stream.readline()
        if not reply.startswith(b"+OK"):
            self.close()
            raise MonitorError(f"MONITOR was refused: {reply!r}")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, name="bench-monitor", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._stream:
                self.counter.feed(raw.decode("latin-1"))
                if self.counter.finished:
                    break
        except (OSError, ValueError):
            pass
        finally:
            self._done.set()

    def wait(self, timeout: float = DRAIN_TIMEOUT) -> dict[str, int]:
        """Wait for the stop marker; raise if it never arrives."""
        if not self._done.wait(timeout) or not self.counter.finished:
            raise MonitorError("the MONITOR stream ended before the stop marker")
        return self.counter.as_dict()

    def close(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._stream.close()
        self._socket.close()
