"""Keeping a worker's command channel (``rq:pubsub:<name>``) alive through Redis faults.

The worker listens for commands in a redis-py ``PubSubWorkerThread``. ``CommandChannel``
is the policy behind the exception handler that ``Worker.subscribe()`` installs on that
thread, and the watchdog that checks the subscription:

- a connection or timeout error is logged once per outage as a WARNING naming the
  worker, the thread waits on the process's outage probe (``rq.outage_probe``: it resumes
  as soon as Redis answers a PING) and reconnects (which makes redis-py subscribe again),
  and one INFO line reports the recovery and its duration;
- a SUBSCRIBE that Redis refuses (an ACL user without the channel or the command) is
  logged once as a WARNING naming the channel; the worker runs jobs without commands and
  tries again quietly at every check, in case the permission is granted;
- any other error in the listener is logged with its traceback and ends the thread, as
  upstream RQ's does; the watchdog starts a new listener at once (then at most once per
  check interval, should the error repeat);
- before a worker writes back the registration Redis lost, ``ensure_subscribed()`` makes
  sure the channel has its subscriber again, so a worker seen in ``rq:workers`` hears its
  commands;
- every ``check_interval`` seconds (and as soon as the listener reconnected) the watchdog
  writes back a registration Redis lost, once the channel is subscribed, restarts a dead
  listener thread and, if
  the channel has no subscriber (``PUBSUB NUMSUB``), asks the listener thread to subscribe
  again (the thread does it itself, between two reads: closing its connection from the
  watchdog could pull the socket from under a read), so a worker that is alive in Redis
  is never deaf to commands for longer than one interval;
- incidents are counted on the worker and in its Redis hash.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from redis.client import PubSub
from redis.exceptions import NoPermissionError

from ..outage_probe import probe_for
from ..resilience import COMMAND_LISTENER, Outage, RetryLoop, is_outage, is_redis_error
from ..settings import settings

if TYPE_CHECKING:
    from redis.client import PubSubWorkerThread

logger = logging.getLogger("rq.worker")

# Timings of the listener and its watchdog (see rq.settings for their meaning).
LISTENER_SLEEP_TIME = settings.listener_sleep_time
COMMAND_CHANNEL_CHECK_INTERVAL = settings.command_channel_check_interval
LISTENER_JOIN_TIMEOUT = settings.listener_join_timeout
# A reconnect of the listener's own may be finishing its SUBSCRIBE: look again before acting.
RESUBSCRIBE_CONFIRM_DELAY = settings.resubscribe_confirm_delay
# Longest wait for the channel's subscriber before the registration is written back.
SUBSCRIBE_BEFORE_REGISTER_TIMEOUT = settings.subscribe_before_register_timeout

# Events passed to a user's command-channel handler.
CONNECTION_ERROR = "connection_error"
RECOVERED = "recovered"
BAD_MESSAGE = "bad_message"
LISTENER_ERROR = "listener_error"
LISTENER_RESTARTED = "listener_restarted"
RESUBSCRIBED = "resubscribed"

CommandChannelHandler = Callable[[Any, str, Optional[BaseException]], Any]


class ChannelOwner(Protocol):
    """What the command channel needs from its worker: its interface, and all it reaches."""

    name: str
    connection: Any
    pubsub_thread: Optional["PubSubWorkerThread"]

    @property
    def key(self) -> str: ...

    @property
    def pubsub_channel_name(self) -> str: ...

    def handle_payload(self, message: dict) -> None: ...

    def resubscribe(self) -> None: ...

    def reregister(self) -> None: ...

    def connection_fields(self) -> dict[str, str]: ...


class CommandChannel:
    """Exception policy, watchdog and incident counters of one worker's command listener."""

    def __init__(
        self,
        worker: ChannelOwner,
        handler: Optional[CommandChannelHandler] = None,
        check_interval: float = COMMAND_CHANNEL_CHECK_INTERVAL,
    ) -> None:
        self.worker = worker
        self.handler = handler
        self.check_interval = check_interval
        # One outage probe per server and process: the listener, the main loop (whose outage
        # gets it here if it has none), the scheduler and the health checker wait on it.
        probe = probe_for(worker.connection)
        worker_outage = getattr(worker, "connection_outage", None)
        if worker_outage is not None and getattr(worker_outage, "probe", True) is None:
            worker_outage.probe = probe
        self.outage = Outage(logger, f"Worker {worker.name}", "command channel (Pub/Sub)")
        self.outage.probe = probe
        self.outage.connection = worker.connection  # names the server in the warnings
        # The listener connection's retry loop: each wait ends at once when its listener is stopped.
        self.retry = RetryLoop(COMMAND_LISTENER, self.outage)
        # Set to end the listener's wait for Redis at once (someone needs the subscription now).
        self._kick = threading.Event()
        # Set each time the listener's connection comes back (its SUBSCRIBE has been sent).
        self._reconnected = threading.Event()
        self._last_error_restart = float("-inf")
        self.bad_messages = 0
        self.listener_errors = 0
        self.listener_restarts = 0
        self.resubscribes = 0
        # The NOPERM text while Redis refuses the subscription (logged once), else None.
        self.refusal: Optional[str] = None
        # Set by the watchdog, taken by the listener thread (see CommandPubSub.get_message).
        self._resubscribe_request = threading.Event()
        # The listener dropped its connection on request: the reconnect that follows is no outage.
        self._reconnect_expected = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._watchdog: Optional[threading.Thread] = None
        self._published_counters: dict[str, str] = {}

    # ---- counters -------------------------------------------------------------------

    @property
    def connection_errors(self) -> int:
        return self.outage.errors

    @property
    def recoveries(self) -> int:
        return self.outage.recoveries

    def fields(self) -> dict[str, str]:
        """The counters as worker-hash fields."""
        state = "ok" if not self.outage.active else f"reconnecting since {self.outage.since:.0f}"
        return {
            "pubsub_state": state,
            "pubsub_connection_errors": str(self.connection_errors),
            "pubsub_recoveries": str(self.recoveries),
            "pubsub_bad_messages": str(self.bad_messages),
            "pubsub_listener_errors": str(self.listener_errors),
            "pubsub_listener_restarts": str(self.listener_restarts),
            "pubsub_resubscribes": str(self.resubscribes),
        }

    def publish_counters(self) -> None:
        """Write changed counters to the worker hash (skipped quietly while Redis is away)."""
        fields = {**self.fields(), **self.worker.connection_fields()}
        changed = {k: v for k, v in fields.items() if self._published_counters.get(k) != v}
        if not changed:
            return
        try:
            if self.worker.connection.exists(self.worker.key):
                self.worker.connection.hset(self.worker.key, mapping=changed)
                self._published_counters.update(changed)
        except Exception as exc:
            if not is_outage(exc):
                raise

    def _notify(self, event: str, exc: Optional[BaseException]) -> None:
        if self.handler is None:
            return
        try:
            self.handler(self.worker, event, exc)
        except Exception:
            logger.warning("Worker %s: command channel handler failed on %s", self.worker.name, event, exc_info=True)

    # ---- the listener's exception handler ---------------------------------------------

    def handle_exception(
        self, exc: BaseException, pubsub: "PubSub", thread: "PubSubWorkerThread", stop: threading.Event
    ) -> None:
        """Called by the listener thread for anything its loop raised; never raises itself."""
        if stop.is_set():
            # The listener is being stopped, and its connection may be closed under its read.
            logger.debug("Worker %s: command listener stopping: %r", self.worker.name, exc)
            return
        if is_redis_error(exc):
            self.outage.failed(exc)
            self._notify(CONNECTION_ERROR, exc)
            self.retry.wait(stop, wake=self._kick)
            self._kick.clear()
            if not stop.is_set():
                self._reconnect(pubsub)
            return
        self.listener_errors += 1
        if isinstance(exc, NoPermissionError):
            self._subscription_refused(exc)
            self._notify(LISTENER_ERROR, exc)
            return
        # As upstream RQ's listener does, the thread ends on an error that is not Redis's;
        # the watchdog starts a new one (at once, then at most once per check interval).
        logger.error(
            "Worker %s: error in the command listener; it stops and the watchdog starts a new one",
            self.worker.name,
            exc_info=exc,
        )
        self._notify(LISTENER_ERROR, exc)
        thread.stop()
        now = time.monotonic()
        if now - self._last_error_restart >= self.check_interval:
            self._last_error_restart = now
            self.wake()

    def _subscription_refused(self, exc: NoPermissionError) -> None:
        """Redis refused the listener's SUBSCRIBE (the only command it sends): say so once."""
        first = self.refusal is None
        self.refusal = str(exc)
        if first:
            logger.warning(
                "Worker %s: Redis refused to subscribe to %s (%s): commands (shutdown, kill-horse, stop-job) "
                "will not reach this worker until its user may use the channel ('&rq:pubsub:*') and the "
                "'subscribe' command",
                self.worker.name,
                self.worker.pubsub_channel_name,
                exc,
            )
        else:
            logger.debug(
                "Worker %s: subscription to %s still refused", self.worker.name, self.worker.pubsub_channel_name
            )

    def _reconnect(self, pubsub: "PubSub") -> None:
        connection = pubsub.connection
        if connection is None:
            return
        try:
            # A new connection runs CommandPubSub.on_connect: it subscribes again and reports the recovery.
            connection.connect()
        except Exception as exc:
            if is_outage(exc):
                self.outage.failed(exc)
                return
            # defensive: never let the listener die
            logger.warning("Worker %s: reconnecting the command listener failed: %s", self.worker.name, exc)
            return
        if self.outage.active:
            # redis-py had reconnected already (no on_connect now): the channel is back all the same.
            self.reconnected()

    def reconnected(self) -> None:
        """The listener's connection was re-established (by us or by redis-py's own retries)."""
        self._kick.clear()
        self._reconnected.set()
        if self._reconnect_expected:
            # The listener dropped its connection on request; the watchdog verifies the subscription.
            self.retry.backoff.reset()
            self._reconnect_expected = False
            self.wake()
            return
        if self.outage.active:
            self.retry.succeeded()
        else:
            self.retry.backoff.reset()
            # redis-py's own retries healed a dropped connection before any error reached us.
            self.outage.blip("connection was dropped and has been re-established; subscribed again")
        self._notify(RECOVERED, None)
        self.wake()  # verify the subscription soon

    # ---- subscribed before registered ------------------------------------------------------

    def subscriber_count(self) -> int:
        """Subscribers of the worker's channel, as Redis counts them (PUBSUB NUMSUB)."""
        return self._subscriber_count()

    def ensure_subscribed(self, timeout: float = SUBSCRIBE_BEFORE_REGISTER_TIMEOUT) -> bool:
        """Make sure the channel has its subscriber before the worker's record is written back.

        Asks a listener that is waiting for Redis to reconnect now, waits up to ``timeout``
        seconds for its SUBSCRIBE (starting a new listener half way if it is stuck or
        dead), and returns whether Redis counts a subscriber. A Redis error propagates: the
        caller writes nothing and retries. A worker that never subscribed (not started) or
        whose subscription Redis refuses returns False at once.
        """
        worker = self.worker
        if worker.pubsub_thread is None or self.refusal is not None:
            return False
        deadline = time.monotonic() + timeout
        restarted = False
        while True:
            if self._subscriber_count() >= 1:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning(
                    "Worker %s: command channel %s has no subscriber after %.1fs; registering anyway, "
                    "the watchdog keeps trying",
                    worker.name,
                    worker.pubsub_channel_name,
                    timeout,
                )
                self.wake()
                return False
            thread = worker.pubsub_thread
            if not restarted and (thread is None or not thread.is_alive() or remaining <= timeout / 2):
                restarted = True
                self._restart_listener("command listener is not subscribed before re-registering")
                continue
            self._reconnected.clear()
            self._kick.set()  # a listener waiting for Redis reconnects now
            self._reconnected.wait(min(0.05, remaining))

    def request_resubscribe(self) -> None:
        """Ask the listener thread to subscribe again, between two of its reads."""
        self._resubscribe_request.set()

    def serve_resubscribe_request(self, pubsub: "PubSub") -> None:
        """In the listener thread: subscribe again if the watchdog asked for it."""
        if not self._resubscribe_request.is_set():
            return
        self._resubscribe_request.clear()
        if self.refusal is not None or not pubsub.channels:
            # Same connection, one SUBSCRIBE: its reply (or refusal) comes in the next reads.
            pubsub.subscribe(**{self.worker.pubsub_channel_name: self.worker.handle_payload})
        elif pubsub.connection is not None:
            # Subscribed in redis-py's view but not in Redis's: a new connection subscribes again.
            self._reconnect_expected = True
            pubsub.connection.disconnect()

    def bad_message(self, exc: BaseException) -> None:
        self.bad_messages += 1
        logger.warning("Worker %s: ignoring a malformed command: %s", self.worker.name, exc)
        self._notify(BAD_MESSAGE, exc)

    # ---- the watchdog -------------------------------------------------------------------

    def wake(self) -> None:
        """Ask the watchdog to check the subscription now (e.g. after Redis came back)."""
        self._wake.set()

    def start_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.is_alive():
            return
        self._stop.clear()
        self._watchdog = threading.Thread(
            target=self._watch, name=f"rq-command-watchdog-{self.worker.name}", daemon=True
        )
        self._watchdog.start()

    def stop_watchdog(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=LISTENER_JOIN_TIMEOUT)
        self._watchdog = None

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self.check_interval):
                self._wake.clear()
                # Give a fresh connection a moment to finish its SUBSCRIBE.
                if self._stop.wait(LISTENER_SLEEP_TIME * 2):
                    return
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # the watchdog must outlive anything a check runs into
                logger.debug("Worker %s: command channel check failed", self.worker.name, exc_info=True)

    def _subscriber_count(self) -> int:
        subscribers = self.worker.connection.pubsub_numsub(self.worker.pubsub_channel_name)
        return int(subscribers[0][1]) if subscribers else 0

    def _restart_listener(self, reason: str) -> str:
        self.listener_restarts += 1
        logger.warning("Worker %s: %s; starting a new one", self.worker.name, reason)
        self.worker.resubscribe()
        self._notify(LISTENER_RESTARTED, None)
        self.publish_counters()
        return "restarted"

    def _restore_record(self) -> None:
        """Write back a registration Redis lost (e.g. a restart the main loop's retried call hid).

        Runs once the channel has its subscriber, so the record comes back hearing commands.
        """
        worker = self.worker
        if getattr(worker, "birth_date", None) is None or getattr(worker, "is_horse", False):
            return  # not registered yet (starting), or a work horse
        if not worker.connection.hexists(worker.key, "birth"):
            worker.reregister()

    def check(self) -> str:
        """Verify the listener once; returns what was found ('ok', 'restarted', 'resubscribed', ...)."""
        thread = self.worker.pubsub_thread
        if thread is None or not thread.is_alive():
            return self._restart_listener("command listener thread is not running")
        try:
            count = self._subscriber_count()
            if count == 0 and not self.outage.active and not self._resubscribe_request.is_set():
                if self._stop.wait(RESUBSCRIBE_CONFIRM_DELAY):
                    return "stopped"
                count = self._subscriber_count()
        except Exception as exc:
            if not is_outage(exc):
                raise
            return "unreachable"
        if self.outage.active:
            self._resubscribe_request.clear()  # the listener's own reconnect subscribes again
            if count >= 1:
                self.reconnected()  # subscribed again: the outage is over even if no reconnect was seen
            return "reconnecting"
        if count >= 1:
            self._restore_record()
            if self.refusal is not None:
                self.refusal = None
                logger.info(
                    "Worker %s: subscribed to %s; commands reach the worker",
                    self.worker.name,
                    self.worker.pubsub_channel_name,
                )
            self.publish_counters()
            return "ok"
        if self._resubscribe_request.is_set():
            # The listener did not take the last request within a whole interval: it is stuck.
            self._resubscribe_request.clear()
            return self._restart_listener("command listener does not respond")
        self.request_resubscribe()
        if self.refusal is not None:
            self.publish_counters()
            return "refused"  # tried again quietly: the refusal was logged once
        self.resubscribes += 1
        logger.warning(
            "Worker %s: no subscriber on %s; the listener subscribes again",
            self.worker.name,
            self.worker.pubsub_channel_name,
        )
        self._notify(RESUBSCRIBED, None)
        self.publish_counters()
        return "resubscribed"


class CommandPubSub(PubSub):
    """A PubSub that tells its ``CommandChannel`` every time its connection comes back."""

    def __init__(self, *args: Any, channel: CommandChannel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._command_channel = channel

    def on_connect(self, connection: Any) -> None:
        super().on_connect(connection)  # subscribes to the channel again
        if self.channels:  # empty on the first connection, set once subscribed
            self._command_channel.reconnected()

    def get_message(self, *args: Any, **kwargs: Any) -> Any:
        # Only the listener thread reads messages: it serves the watchdog's requests here, between reads.
        self._command_channel.serve_resubscribe_request(self)
        return super().get_message(*args, **kwargs)


def stop_listener(
    pubsub: Optional["PubSub"], thread: Optional["PubSubWorkerThread"], stop: Optional[threading.Event]
) -> None:
    """Stop a listener thread without waiting for it, or on a dead socket.

    A running thread leaves its loop within ``LISTENER_SLEEP_TIME`` and closes its own
    connection (closing it from here could pull the socket from under its read); a thread
    that already ended has closed it, and closing again is harmless.
    """
    if stop is not None:
        stop.set()
    if thread is not None:
        thread.stop()
        if thread.is_alive():
            return
    if pubsub is not None:
        try:
            pubsub.close()  # no UNSUBSCRIBE: it could block on a dead connection
        except Exception:
            pass
