"""Atomic batches: several writes sent to Redis as one script call.

A ``MULTI``/``EXEC`` transaction sends every command and reads a ``QUEUED`` reply for each;
on the hot paths (enqueue, job start, job outcome) that per-command work dominates the
worker's CPU time. ``AtomicBatch`` offers the same command methods as a redis-py pipeline,
collects the commands, and runs them in one ``EVALSHA`` of a tiny generic script: just as
atomic (a script runs without interleaving), one request and one reply on the wire.

A server that cannot run the script (fakeredis without Lua, a Lua without the ``struct``
library, a proxy without scripting) gets the same commands in one
``MULTI``/``EXEC`` instead: the same data, one round trip more. The choice is made once per
client, on the first refusal, which happens before the script writes anything.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any, Literal, Optional

from redis import Redis
from redis.commands.core import CoreCommands
from redis.exceptions import NoPermissionError, ResponseError, WatchError

if TYPE_CHECKING:
    from redis.event import EventDispatcherInterface

__all__ = ["AtomicBatch", "runs_scripts", "scripts_refused", "stop_scripts"]

logger = logging.getLogger("rq.batch")

# How servers word a refusal to run a script at all (as opposed to an error of a command in it).
_NO_SCRIPTING = ("unknown command 'evalsha'", "unknown command 'eval'", "unknown command `evalsha`")
_NO_STRUCT = ("global 'struct'", "variable 'struct'")

# Runs the commands framed in ARGV[1] and returns every reply (or, when ARGV[2] is "0", only
# how many ran). Each command is its argument count, then each argument as its length and
# its bytes, lengths as 4-byte big-endian integers (see _frame), so that Redis's struct
# library cuts the arguments out in C. A command with more arguments than Lua can pass at
# once (variadic writes of a large batch: RPUSH, SADD, ...) runs in slices, and its reply
# is what one call would have answered. With ARGV[3] and ARGV[4], runs nothing and returns
# "recorded" when the newest entry of the results stream ARGV[3] has the execution id ARGV[4].
# The __NAMES__ are filled in from the constants below, shared with _frame.
_RUNNER = """
if redis.replicate_commands then redis.replicate_commands() end
if ARGV[3] then
  local newest = redis.call('XREVRANGE', ARGV[3], '+', '-', 'COUNT', 1)[1]
  if newest then
    local fields = newest[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'execution_id' and fields[i + 1] == ARGV[4] then return 'recorded' end
    end
  end
end
local SLICE, MAX_UNPACK = 1000, __MAX_UNPACK__
local formats = {}
local function cut(payload, pos, count)
  local format = formats[count]
  if not format then
    format = '>' .. string.rep('I4c0', count)
    formats[count] = format
  end
  local args = {struct.unpack(format, payload, pos)}
  return args, table.remove(args)
end
local KEYED = {__SPLIT_HEADS__}
local function call_in_slices(args)
  local name = string.upper(args[1])
  local head = KEYED[name]
  if not head then error({err = 'ERR ' .. name .. ' has too many arguments for one batch'}) end
  local step = SLICE - SLICE % 2
  local total = 0
  for first = head + 1, #args, step do
    local last = math.min(first + step - 1, #args)
    local reply = redis.call(args[1], args[head], unpack(args, first, last))
    if name == 'RPUSH' or name == 'LPUSH' then total = reply else total = total + reply end
  end
  return total
end
local payload = ARGV[1]
local pos, size = 1, #payload
local replies = {}
while pos <= size do
  local n
  n, pos = struct.unpack('>I4', payload, pos)
  local args
  if n <= SLICE then
    args, pos = cut(payload, pos, n)
    replies[#replies + 1] = redis.call(unpack(args))
  else
    args = {}
    for done = 0, n - 1, SLICE do
      local part
      part, pos = cut(payload, pos, math.min(SLICE, n - done))
      for i = 1, #part do args[done + i] = part[i] end
    end
    if n <= MAX_UNPACK then
      replies[#replies + 1] = redis.call(unpack(args))
    else
      replies[#replies + 1] = call_in_slices(args)
    end
  end
end
if ARGV[2] == '0' then
  return #replies
end
return replies
"""

# The most arguments the runner passes to Redis in one call (Lua's unpack limit is 8000),
# and the commands it can split beyond that, with the position of their last fixed argument.
_MAX_UNPACK = 7000
_SPLIT_HEADS = {
    **dict.fromkeys(("RPUSH", "LPUSH", "SADD", "SREM", "ZREM", "HDEL", "ZADD", "HSET"), 2),
    **dict.fromkeys(("DEL", "UNLINK", "EXISTS"), 1),
}
_RUNNER = _RUNNER.replace("__MAX_UNPACK__", str(_MAX_UNPACK)).replace(
    "__SPLIT_HEADS__", ", ".join(f"{name} = {head}" for name, head in _SPLIT_HEADS.items())
)

_length = struct.Struct(">I").pack


def _frame(commands: list[tuple]) -> bytes:
    """One binary-safe argument holding every command (several times cheaper than one argument each)."""
    out: list[bytes] = []
    add = out.append
    for command in commands:
        if len(command) > _MAX_UNPACK and str(command[0]).upper() not in _SPLIT_HEADS:
            raise ValueError(f"{command[0]} with {len(command) - 1} arguments is too long for an atomic batch")
        add(_length(len(command)))
        for arg in command:
            kind = type(arg)  # exact types first: this loop runs for every argument of every command
            if kind is str:
                data = arg.encode()
            elif kind is bytes:
                data = arg
            elif kind is int:
                data = b"%d" % arg
            else:
                data = _encode(arg)
            add(_length(len(data)))
            add(data)
    return b"".join(out)


def _encode(arg: Any) -> bytes:
    if isinstance(arg, (bytes, bytearray)):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, int) and not isinstance(arg, bool):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode()
    if isinstance(arg, memoryview):
        return arg.tobytes()
    raise TypeError(f"Cannot send {arg!r} ({type(arg).__name__}) to Redis")


def _routing_key(commands: list[tuple]) -> list:
    """The batch's first key, declared so that a Redis Cluster client sends the call to its node.

    Every key of a batch shares the key prefix's hash tag on a cluster (``RQ_KEY_PREFIX={rq}``).
    """
    first = commands[0]
    return [first[1]] if len(first) > 1 else []


def scripts_refused(exc: BaseException) -> bool:
    """True when ``exc`` says the server cannot run scripts, or lacks what the batch script uses."""
    if not isinstance(exc, ResponseError) or isinstance(exc, NoPermissionError):
        return False
    text = str(exc)
    return text.lower().startswith(_NO_SCRIPTING) or any(part in text for part in _NO_STRUCT)


def runs_scripts(connection: Redis) -> bool:
    """False once this client's server has refused a script; writes then go through MULTI/EXEC."""
    return getattr(connection, "_rq_no_scripts", None) is None


def stop_scripts(connection: Redis, exc: BaseException) -> None:
    """Remember, on the client, that its server refuses scripts; say so once."""
    try:
        connection._rq_no_scripts = str(exc)  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - a client class with __slots__
        return
    logger.warning("This Redis server cannot run RQ's scripts (%s): writing with MULTI/EXEC instead", exc)


def _runner(connection: Redis) -> Any:
    script = getattr(connection, "_rq_batch_script", None)
    if script is None:
        script = connection.register_script(_RUNNER)
        try:
            connection._rq_batch_script = script  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - a client class with __slots__
            pass
    return script


class AtomicBatch(CoreCommands):
    """Collects commands like a pipeline; ``execute()`` runs them atomically and returns their replies.

    Only for writes whose replies are not needed to decide what to write next (no WATCH).
    """

    # Declared for type checkers only: redis-py annotates its command methods for a client
    # with these attributes (``_is_async_client`` marks a synchronous one).
    _is_async_client: Literal[False]
    _event_dispatcher: "EventDispatcherInterface"

    def __init__(self, connection: Redis) -> None:
        self.connection = connection
        self._commands: list[tuple] = []

    def execute_command(self, *args: Any, **options: Any) -> "AtomicBatch":
        self._commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self._commands)

    def __enter__(self) -> "AtomicBatch":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._commands = []

    def execute(self, replies: bool = True, unless_recorded: Optional[tuple[str, str]] = None) -> Optional[list]:
        """Run the collected commands in one script call; the batch is empty afterwards.

        With ``replies=False`` the commands' replies are not sent back (less to read).
        ``unless_recorded=(results stream key, execution id)`` makes a repeated outcome write
        idempotent: nothing runs, and None is returned, if that execution's result is the
        stream's newest entry.
        """
        if not self._commands:
            return []
        commands, self._commands = self._commands, []
        if runs_scripts(self.connection):
            args = [_frame(commands), "1" if replies else "0"]
            if unless_recorded is not None:
                args.extend(unless_recorded)
            try:
                result = _runner(self.connection)(keys=_routing_key(commands), args=args)
            except ResponseError as exc:
                if not scripts_refused(exc):
                    raise
                stop_scripts(self.connection, exc)
            else:
                if result in (b"recorded", "recorded"):
                    return None
                return result if replies else []
        result = _transaction(self.connection, commands, unless_recorded)
        return result if replies or result is None else []


def _transaction(
    connection: Redis, commands: list[tuple], unless_recorded: Optional[tuple[str, str]]
) -> Optional[list]:
    """The batch in MULTI/EXEC; with ``unless_recorded``, under WATCH of the results stream."""
    with connection.pipeline() as pipe:
        while True:
            try:
                if unless_recorded is not None:
                    stream, execution_id = unless_recorded
                    pipe.watch(stream)
                    if _newest_is(pipe.xrevrange(stream, count=1) or [], execution_id):
                        return None
                    pipe.multi()
                for command in commands:
                    pipe.execute_command(*command)
                return pipe.execute()
            except WatchError:
                continue


def _newest_is(entries: list, execution_id: str) -> bool:
    """True when the newest stream entry (XREVRANGE COUNT 1) records ``execution_id``."""
    if not entries:
        return False
    fields = entries[0][1]
    wanted = {execution_id, execution_id.encode()}
    return any(key in (b"execution_id", "execution_id") and value in wanted for key, value in fields.items())
