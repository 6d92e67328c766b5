"""The typed argument syntax of ``rq enqueue FUNCTION [ARGS...]``.

=================  ==============================================
``value``          positional argument, a string
``key=value``      keyword argument, a string
``:json``          positional argument parsed as JSON
``key:=json``      keyword argument parsed as JSON
``%literal``       positional argument parsed as a Python literal
``key%=literal``   keyword argument parsed as a Python literal
``@path``          the text of a file instead of an inline value
=================  ==============================================

``@path`` works with every form: ``@notes.txt``, ``key=@notes.txt``, ``:@data.json``,
``key:=@data.json``, ``%@values.py``, ``key%=@values.py``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from typing import Any, Optional

import click

__all__ = ["parse_enqueue_arguments", "parse_function_argument"]

# ``key=...``, ``key:=...`` or ``key%=...`` with ``key`` an ASCII Python identifier.
_KEYWORD = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<mode>:=|%=|=)(?P<value>.*)", re.DOTALL)
# Longest excerpt of a rejected value shown in an error message.
SHOWN_CHARACTERS = 200
# How the errors name the job's arguments.
PARAM_HINT = "'ARGUMENTS'"
_MODES = {"=": "text", ":=": "json", "%=": "literal"}


def _describe(key: Optional[str], position: int) -> str:
    """How error messages name an argument, in upstream RQ's words: ``2. non keyword argument``."""
    return f"keyword argument {key!r}" if key is not None else f"{position}. non keyword argument"


def _read_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        reason = "Not found"
    except OSError as exc:
        reason = str(exc.strerror or exc)
    raise click.BadParameter(f"{what}: cannot read file {path!r}: {reason}", param_hint=PARAM_HINT)


def _shown(raw: str) -> str:
    return repr(raw) if len(raw) <= SHOWN_CHARACTERS else f"{raw[:SHOWN_CHARACTERS]!r}..."


def _convert(raw: str, mode: str, what: str) -> Any:
    if mode == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            reason = str(exc)
        except RecursionError:
            reason = "nested too deeply"
        message = f"Unable to parse {what} as JSON. {_shown(raw)} is not valid JSON ({reason})"
        raise click.BadParameter(message, param_hint=PARAM_HINT)
    if mode == "literal":
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            message = f"Unable to eval {what} as Python object. {_shown(raw)} is not a Python literal"
            raise click.BadParameter(message, param_hint=PARAM_HINT) from None
    return raw


def parse_function_argument(argument: str, position: int) -> tuple[Optional[str], Any]:
    """``(keyword or None, value)`` of one command-line argument.

    ``position`` numbers a positional argument in error messages (upstream RQ counts the
    positional arguments before it, plus one).
    """
    match = _KEYWORD.fullmatch(argument)
    if match:
        key: Optional[str] = match.group("key")
        mode, raw = _MODES[match.group("mode")], match.group("value")
    else:
        key = None
        if argument.startswith(":"):
            mode, raw = "json", argument[1:]
        elif argument.startswith("%"):
            mode, raw = "literal", argument[1:]
        else:
            mode, raw = "text", argument
    what = _describe(key, position)
    if raw.startswith("@"):
        raw = _read_file(raw[1:], what)
    return key, _convert(raw, mode, what)


def parse_enqueue_arguments(arguments: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for the job; a keyword given twice is a BadParameter."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for argument in arguments:
        key, value = parse_function_argument(argument, len(args) + 1)
        if key is None:
            args.append(value)
        elif key in kwargs:
            message = f"You can't specify multiple values for the same keyword. {key!r} is given more than once"
            raise click.BadParameter(message, param_hint=PARAM_HINT)
        else:
            kwargs[key] = value
    return args, kwargs
