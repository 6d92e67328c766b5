"""Retry policies: how many times a failing job is run again, and after which delays."""

from __future__ import annotations

from typing import Iterable, Sequence, Union

__all__ = ["Retry"]


def _intervals(interval: Union[int, Sequence[int]], what: str) -> list[int]:
    """The list of intervals of ``interval`` (a number or an iterable of numbers).

    As upstream RQ: TypeError for what is not a number, ValueError for a negative number.
    """
    if isinstance(interval, (int, float)):
        values = [interval]
    elif isinstance(interval, Iterable):
        values = list(interval)
    else:
        raise TypeError(f"{what} interval must be a number or a list of numbers, got {interval!r}")
    for value in values:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"{what} intervals must be numbers, got {value!r}")
        if value < 0:
            raise ValueError(f"{what} intervals must be non-negative numbers, got {value!r}")
    return [int(value) for value in values]


class Retry:
    """Run a failed job again up to ``max`` times, waiting ``interval`` seconds (an int or a list)."""

    # Read when a Retry pickled by RQ 1.x (which has no such attribute) is loaded.
    enqueue_at_front: bool = False

    def __init__(self, max: int, interval: Union[int, Sequence[int]] = 0, enqueue_at_front: bool = False):
        if not isinstance(max, int) or isinstance(max, bool) or max < 1:
            raise ValueError(f"Retry(max=...) must be an integer of at least 1, got {max!r}")
        self.max = max
        self.intervals = _intervals(interval, "Retry")
        self.enqueue_at_front = enqueue_at_front

    @classmethod
    def get_interval(cls, count: int, intervals: Union[int, Sequence[int], None]) -> int:
        """Delay before retry number ``count`` (0-based); the last interval repeats.

        As upstream RQ, a single number is that delay and None (or an empty list) is no delay.
        """
        if isinstance(intervals, (int, float)):
            return int(intervals)
        if not intervals:
            return 0
        return int(intervals[min(max(count, 0), len(intervals) - 1)])

    def __repr__(self) -> str:
        """As upstream RQ: a single interval is shown as a number."""
        interval = self.intervals[0] if len(self.intervals) == 1 else self.intervals
        return (
            f"{type(self).__name__}(max={self.max}, interval={interval!r}, enqueue_at_front={self.enqueue_at_front!r})"
        )


# Pickles name the class by upstream's path, so either implementation can load them.
Retry.__module__ = "rq.job"
