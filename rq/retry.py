"""Retry policies: how many times a failing job is run again, and after which delays."""

from __future__ import annotations

from typing import Sequence, Union

__all__ = ["Retry"]


def _intervals(interval: Union[int, Sequence[int]], what: str) -> list[int]:
    values = [interval] if isinstance(interval, (int, float)) else list(interval)
    for value in values:
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{what} intervals must be non-negative numbers, got {value!r}")
    return [int(value) for value in values]


class Retry:
    """Run a failed job again up to ``max`` times, waiting ``interval`` seconds (an int or a list)."""

    def __init__(self, max: int, interval: Union[int, Sequence[int]] = 0, enqueue_at_front: bool = False):
        if not isinstance(max, int) or isinstance(max, bool) or max < 1:
            raise ValueError(f"Retry(max=...) must be an integer of at least 1, got {max!r}")
        self.max = max
        self.intervals = _intervals(interval, "Retry")
        self.enqueue_at_front = enqueue_at_front

    @classmethod
    def get_interval(cls, count: int, intervals: Sequence[int]) -> int:
        """Delay before retry number ``count`` (0-based); the last interval repeats."""
        if not intervals:
            return 0
        return int(intervals[min(max(count, 0), len(intervals) - 1)])

    def __repr__(self) -> str:
        return f"Retry(max={self.max}, interval={self.intervals})"


# Pickles name the class by upstream's path, so either implementation can load them.
Retry.__module__ = "rq.job"
