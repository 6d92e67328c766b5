"""The ``@job`` decorator: ``f.delay(...)`` enqueues a call of ``f``."""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .utils import backend_class

if TYPE_CHECKING:
    from redis import Redis

    from .job import Job
    from .queue import Queue

__all__ = ["job"]


class job:  # noqa: N801 - upstream name
    """Decorate a function so that ``f.delay(*args, **kwargs)`` enqueues it on ``queue``."""

    queue_class: Any = None

    def __init__(
        self,
        queue: Union["Queue", str],
        connection: Optional["Redis"] = None,
        timeout: Any = None,
        result_ttl: Any = 500,
        ttl: Any = None,
        queue_class: Any = None,
        depends_on: Any = None,
        at_front: bool = False,
        meta: Optional[dict] = None,
        description: Optional[str] = None,
        failure_ttl: Any = None,
        retry: Any = None,
        on_failure: Any = None,
        on_success: Any = None,
        on_stopped: Any = None,
        webhooks: Any = None,
    ) -> None:
        from .queue import Queue

        self.queue = queue
        self.queue_class = backend_class(self, "queue_class", override=queue_class) or Queue
        self.connection = connection
        self.timeout = timeout
        self.result_ttl = result_ttl
        self.ttl = ttl
        self.meta = meta
        self.depends_on = depends_on
        self.at_front = at_front
        self.description = description
        self.failure_ttl = failure_ttl
        self.retry = retry
        self.on_success = on_success
        self.on_failure = on_failure
        self.on_stopped = on_stopped
        self.webhooks = webhooks

    def __call__(self, f: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(f)
        def delay(*args: Any, **kwargs: Any) -> "Job":
            queue = self.queue
            if isinstance(queue, str):
                queue = self.queue_class(name=queue, connection=self.connection)
            depends_on = kwargs.pop("depends_on", self.depends_on)
            job_id = kwargs.pop("job_id", None)
            at_front = kwargs.pop("at_front", self.at_front)
            return queue.enqueue_call(
                f,
                args=args,
                kwargs=kwargs,
                timeout=self.timeout,
                result_ttl=self.result_ttl,
                ttl=self.ttl,
                depends_on=depends_on,
                job_id=job_id,
                at_front=at_front,
                meta=self.meta,
                description=self.description,
                failure_ttl=self.failure_ttl,
                retry=self.retry,
                on_failure=self.on_failure,
                on_success=self.on_success,
                on_stopped=self.on_stopped,
                webhooks=self.webhooks,
            )

        f.delay = delay  # type: ignore[attr-defined]
        f.enqueue = delay  # type: ignore[attr-defined]
        return f
