"""The typed argument syntax of ``rq enqueue`` (rq/cli/enqueue_args.py)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from rq.cli.enqueue_args import parse_enqueue_arguments, parse_function_argument


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("hello", (None, "hello")),
        ("42", (None, "42")),
        ("name=Ada", ("name", "Ada")),
        ("url=http://x/?a=b", ("url", "http://x/?a=b")),
        (":42", (None, 42)),
        (':{"a": [1, null]}', (None, {"a": [1, None]})),
        ("count:=3", ("count", 3)),
        ("flags:=[true, false]", ("flags", [True, False])),
        ("%(1, 'two')", (None, (1, "two"))),
        ("%{1, 2}", (None, {1, 2})),
        ("limit%=None", ("limit", None)),
        ("http://example.org", (None, "http://example.org")),
        ("", (None, "")),
    ],
)
def test_argument_forms(argument: str, expected: tuple) -> None:
    assert parse_function_argument(argument, 1) == expected


def test_file_arguments(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("line one\nline two")
    data = tmp_path / "data.json"
    data.write_text('{"ids": [1, 2]}')
    literal = tmp_path / "values.py"
    literal.write_text("(1, 2.5, 'x')")
    args, kwargs = parse_enqueue_arguments(
        [f"@{text}", f":@{data}", f"%@{literal}", f"note=@{text}", f"payload:=@{data}", f"values%=@{literal}"]
    )
    assert args == ["line one\nline two", {"ids": [1, 2]}, (1, 2.5, "x")]
    assert kwargs == {"note": "line one\nline two", "payload": {"ids": [1, 2]}, "values": (1, 2.5, "x")}


def test_positional_and_keyword_arguments_are_collected_in_order() -> None:
    args, kwargs = parse_enqueue_arguments(["a", "b=1", ":2", "c:=3"])
    assert args == ["a", 2]
    assert kwargs == {"b": "1", "c": 3}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["a=1", "a:=2"], "more than once"),
        ([":{not json"], "not valid JSON"),
        (["x:=nope"], "not valid JSON"),
        (["%open('/etc/passwd')"], "not a Python literal"),
        (["@/no/such/file"], "cannot read file"),
    ],
)
def test_bad_arguments_are_bad_parameters(arguments: list[str], message: str) -> None:
    with pytest.raises(click.BadParameter, match=message) as caught:
        parse_enqueue_arguments(arguments)
    assert caught.value.exit_code == 2
