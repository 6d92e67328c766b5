"""Five-field cron expressions (``minute hour day-of-month month day-of-week``) and their next run.

Supported: ``*``, values, lists ``a,b``, ranges ``a-b``, steps ``*/n``, ``a-b/n`` and ``a/n``
(``a`` up to the field's maximum), month names ``JAN``..``DEC`` and day names ``SUN``..``SAT``
(any case), day-of-week 0-7 where both 0 and 7 mean Sunday, ``?`` as a synonym of ``*`` in
the two day fields, and the aliases ``@yearly``, ``@annually``, ``@monthly``, ``@weekly``,
``@daily``, ``@midnight`` and ``@hourly``.

When both day fields are restricted, a day matches if either field matches, as in classic
cron. A day field is restricted unless it is exactly ``*`` or ``?``, so ``*/2`` is, as
with the ``croniter`` package that upstream RQ uses.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta, timezone
from typing import Optional

__all__ = ["ALIASES", "CronExpression", "next_local_run"]

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# Longest length of each month (February in a leap year).
_MONTH_LENGTHS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Years searched for a match before giving up; 29 February recurs at least every 8 years.
_SEARCH_YEARS = 10
# Wall-clock candidates tried when local times repeat (clocks going back).
_MAX_LOCAL_CANDIDATES = 2000


class _Field:
    """One field's bounds: ``top`` ends ``*`` and ``a/n`` (6 for day-of-week, whose 7 is an alias)."""

    def __init__(self, name: str, low: int, high: int, top: int, names: tuple[str, ...] = (), first: int = 0) -> None:
        self.name = name
        self.low = low
        self.high = high
        self.top = top
        self.names = {label: first + index for index, label in enumerate(names)}

    def value(self, text: str) -> int:
        upper = text.upper()
        if upper in self.names:
            return self.names[upper]
        if not text.isdigit():
            raise ValueError(f"{self.name} field: {text!r} is not a number")
        number = int(text)
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name} field: {number} is out of range {self.low}-{self.high}")
        return number

    def parse(self, text: str) -> frozenset[int]:
        if text == "?" and self.name in ("day-of-month", "day-of-week"):
            text = "*"
        values: set[int] = set()
        for item in text.split(","):
            values.update(self._parse_item(item))
        return frozenset(values)

    def _parse_item(self, item: str) -> range:
        if not item:
            raise ValueError(f"{self.name} field: empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{self.name} field: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            return range(self.low, self.top + 1, step)
        first, dash, last = base.partition("-")
        start = self.value(first)
        if dash:
            end = self.value(last)
            if start > end:
                raise ValueError(f"{self.name} field: range {base!r} goes backwards")
        else:
            end = self.top if slash else start
        return range(start, end + 1, step)


_FIELDS = (
    _Field("minute", 0, 59, 59),
    _Field("hour", 0, 23, 23),
    _Field("day-of-month", 1, 31, 31),
    _Field("month", 1, 12, 12, _MONTH_NAMES, first=1),
    _Field("day-of-week", 0, 7, 6, _DAY_NAMES),
)


class CronExpression:
    """A parsed cron expression; ValueError for text that is not one (or never matches)."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"A cron expression must be a string, not {type(text).__name__}")
        self.text = text
        expanded = ALIASES.get(text.strip().lower(), text) if text.strip().startswith("@") else text
        if expanded.strip().startswith("@"):
            raise ValueError(f"Unknown cron alias {text.strip()!r}: use one of {', '.join(ALIASES)}")
        parts = expanded.split()
        if len(parts) != 5:
            raise ValueError(
                f"Invalid cron expression {text!r}: expected 5 fields "
                f"(minute hour day-of-month month day-of-week), got {len(parts)}"
            )
        try:
            sets = [field.parse(part) for field, part in zip(_FIELDS, parts)]
        except ValueError as exc:
            raise ValueError(f"Invalid cron expression {text!r}: {exc}") from None
        self.minutes: tuple[int, ...] = tuple(sorted(sets[0]))
        self.hours: tuple[int, ...] = tuple(sorted(sets[1]))
        self.days: frozenset[int] = sets[2]
        self.months: tuple[int, ...] = tuple(sorted(sets[3]))
        self.weekdays: frozenset[int] = frozenset(day % 7 for day in sets[4])
        month_day_restricted = parts[2] not in ("*", "?")
        week_day_restricted = parts[4] not in ("*", "?")
        # Classic cron: with both day fields restricted, either one is enough.
        self.day_or = month_day_restricted and week_day_restricted
        self._check_reachable(month_day_restricted)

    def __repr__(self) -> str:
        return f"CronExpression({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CronExpression) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        return (self.minutes, self.hours, self.days, self.months, self.weekdays, self.day_or)

    def _check_reachable(self, day_restricted: bool) -> None:
        if self.day_or or not day_restricted:
            return  # some weekday in every month matches
        if not any(day <= _MONTH_LENGTHS[month - 1] for month in self.months for day in self.days):
            raise ValueError(f"Invalid cron expression {self.text!r}: it never matches (no such day in those months)")

    def day_matches(self, day: date) -> bool:
        weekday = (day.weekday() + 1) % 7  # cron counts from Sunday = 0
        in_month = day.day in self.days
        in_week = weekday in self.weekdays
        return (in_month or in_week) if self.day_or else (in_month and in_week)

    def matches(self, moment: datetime) -> bool:
        """Whether the minute of ``moment`` (wall clock; seconds ignored) is one of the expression's."""
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self.day_matches(moment.date())
        )

    def next_after(self, moment: datetime) -> datetime:
        """First matching minute strictly after ``moment``, in wall-clock time (a naive datetime)."""
        current = moment.replace(tzinfo=None, second=0, microsecond=0, fold=0) + timedelta(minutes=1)
        last_year = current.year + _SEARCH_YEARS
        while current.year <= last_year:
            if current.month not in self.months:
                month = _next_in(self.months, current.month)
                year = current.year if month is not None else current.year + 1
                current = datetime(year, month or self.months[0], 1)
                continue
            if not self.day_matches(current.date()):
                current = datetime(current.year, current.month, current.day) + timedelta(days=1)
                continue
            if current.hour not in self.hours:
                hour = _next_in(self.hours, current.hour)
                if hour is None:
                    current = datetime(current.year, current.month, current.day) + timedelta(days=1)
                else:
                    current = current.replace(hour=hour, minute=0)
                continue
            if current.minute not in self.minutes:
                minute = _next_in(self.minutes, current.minute)
                if minute is None:
                    current = current.replace(minute=0) + timedelta(hours=1)
                else:
                    current = current.replace(minute=minute)
                continue
            return current
        raise ValueError(f"Cron expression {self.text!r} has no match within {_SEARCH_YEARS} years of {moment}")


def _next_in(values: tuple[int, ...], current: int) -> Optional[int]:
    """Smallest of the sorted ``values`` greater than ``current``, if any."""
    index = bisect.bisect_right(values, current)
    return values[index] if index < len(values) else None


def next_local_run(expression: CronExpression, after: datetime) -> datetime:
    """Next run strictly after ``after``, the expression read in the local time zone; aware UTC.

    A naive ``after`` is local time. A run whose local time is skipped when clocks go forward
    happens that much later; in the hour repeated when clocks go back, runs happen in its
    first pass only.
    """
    after_utc = datetime.fromtimestamp(after.timestamp(), tz=timezone.utc)
    wall = after.astimezone().replace(tzinfo=None)
    for _ in range(_MAX_LOCAL_CANDIDATES):
        wall = expression.next_after(wall)
        # timestamp() reads a naive value as local time; a time skipped when clocks go forward
        # gets the offset from before the change, so it lands that much later.
        candidate = datetime.fromtimestamp(wall.timestamp(), tz=timezone.utc)
        if candidate > after_utc:
            return candidate
    raise ValueError(f"Cron expression {expression.text!r}: no local run found after {after}")
