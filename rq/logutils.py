"""Log handlers for the worker: plain lines to stdout, errors to stderr, colour on terminals."""

from __future__ import annotations

import logging
import sys
from typing import Any, Optional, Union

from .defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT

__all__ = ["ColorizingStreamHandler", "setup_loghandlers"]

_COLORS = {logging.WARNING: "\x1b[33m", logging.ERROR: "\x1b[31m", logging.CRITICAL: "\x1b[31m"}
_RESET = "\x1b[0m"


class ColorizingStreamHandler(logging.StreamHandler):
    """Stream handler that colours warnings yellow and errors red when writing to a terminal.

    ``exclude`` is accepted, and kept, as upstream RQ accepts it (django-rq's logging
    configuration passes it). Upstream takes it as the first positional argument: a first
    argument that is not a stream (it has no ``write``) is taken as ``exclude`` too.
    """

    def __init__(self, *args: Any, exclude: Any = None, **kwargs: Any) -> None:
        if args and not hasattr(args[0], "write"):
            exclude, args = args[0], args[1:]
        self.exclude = exclude
        super().__init__(*args, **kwargs)

    @property
    def is_tty(self) -> bool:
        """True when the stream is a terminal (then messages are coloured)."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty is not None and isatty())

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        color = _COLORS.get(record.levelno)
        if color and self.is_tty:
            return f"{color}{message}{_RESET}"
        return message


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def setup_loghandlers(
    level: Union[int, str, None] = None,
    date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
    log_format: str = DEFAULT_LOGGING_FORMAT,
    name: str = "rq.worker",
) -> None:
    """Attach stdout/stderr handlers to ``name`` unless its logger hierarchy already has handlers."""
    logger = logging.getLogger(name)
    if not _has_handlers(logger):
        formatter = logging.Formatter(fmt=log_format, datefmt=date_format)
        out = ColorizingStreamHandler(sys.stdout)
        out.addFilter(_BelowError())
        err = ColorizingStreamHandler(sys.stderr)
        err.setLevel(logging.ERROR)
        for handler in (out, err):
            handler.setFormatter(formatter)
            logger.addHandler(handler)
    if level is not None:
        logger.setLevel(level if isinstance(level, int) else level.upper())


def _has_handlers(logger: Optional[logging.Logger]) -> bool:
    while logger is not None:
        if logger.handlers:
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False
