"""``Repeat``: run a successful job again a number of times, optionally after intervals."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from .retry import _intervals

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue

__all__ = ["Repeat"]


class Repeat:
    """Re-run a job ``times`` more times after it succeeds; ``interval`` is an int or a list."""

    def __init__(self, times: int, interval: Union[int, Sequence[int]] = 0) -> None:
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(f"Repeat(times=...) must be an integer of at least 1, got {times!r}")
        self.times = times
        self.intervals = _intervals(interval, "Repeat")

    @classmethod
    def get_interval(cls, count: int, intervals: Sequence[int]) -> int:
        """Delay before repetition number ``count`` (0-based); the last interval repeats.

        IndexError for an empty list, as upstream RQ.
        """
        return int(intervals[min(max(count, 0), len(intervals) - 1)])

    @classmethod
    def schedule(cls, job: "Job", queue: "Queue", pipeline: Optional[Any] = None) -> None:
        """Queue the next repetition of ``job`` (now or after its interval) on ``pipeline``."""
        from .layout import utcnow
        from .registry import ScheduledJobRegistry
        from .status import JobStatus

        if not job.repeats_left or job.repeats_left <= 0:
            raise ValueError(f"Job {job.id} has no repeats left")
        own = pipeline is None
        pipe: Any = job.connection.pipeline() if own else pipeline
        intervals = list(job.repeat_intervals or [])
        delay = cls.get_interval(0, intervals) if intervals else 0
        if len(intervals) > 1:
            job.repeat_intervals = intervals[1:]  # the next repetition uses the next interval
        job.repeats_left -= 1
        if delay > 0:
            job._status = JobStatus.SCHEDULED.value
            job.save(pipeline=pipe)
            ScheduledJobRegistry(queue=queue).schedule(job, utcnow() + timedelta(seconds=delay), pipeline=pipe)
        else:
            queue._write_enqueue(job, pipe)
        pipe.persist(job.key)  # the success just recorded may have set the result TTL on it
        if own:
            pipe.execute()
