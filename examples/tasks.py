"""Job functions for the demo. Workers import them by name, so they live in a module."""

from __future__ import annotations


def count_words(text: str) -> int:
    """Return the number of whitespace-separated words in ``text``."""
    return len(text.split())


def add(a: int, b: int) -> int:
    """Return ``a + b``."""
    return a + b


def fail(reason: str) -> None:
    """Raise ``ValueError(reason)``, to show how a failed job looks."""
    raise ValueError(reason)
