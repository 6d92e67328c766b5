"""Atomic batches: several writes sent to Redis as one script call.

A ``MULTI``/``EXEC`` transaction sends every command and reads a ``QUEUED`` reply for each;
on the hot paths (enqueue, job start, job outcome) that per-command work dominates the
worker's CPU time. ``AtomicBatch`` offers the same command methods as a redis-py pipeline,
collects the commands, and runs them in one ``EVALSHA`` of a tiny generic script: just as
atomic (a script runs without interleaving), one request and one reply on the wire.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Literal, Optional

from redis import Redis
from redis.commands.core import CoreCommands

if TYPE_CHECKING:
    from redis.event import EventDispatcherInterface

__all__ = ["AtomicBatch"]

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
        args = [_frame(commands), "1" if replies else "0"]
        if unless_recorded is not None:
            args.extend(unless_recorded)
        result = _runner(self.connection)(args=args)
        if result in (b"recorded", "recorded"):
            return None
        return result if replies else []
