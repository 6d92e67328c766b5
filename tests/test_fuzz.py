"""Fuzz tests (hypothesis) of the parsers that read outside input.

What "clean" means here: each parser either returns a value of the documented shape or
raises the one exception it documents for bad input, so a caller can catch bad input with
one ``except`` clause and tell it apart from a bug:

* ``rq.utils.parse_timeout``: an ``int`` (``None`` for ``None``), else ``TimeoutFormatError``;
* ``rq/cli/enqueue_args.py``: ``(keyword or None, value)``, else ``click.BadParameter``;
* ``rq.command.parse_payload``: a dict whose ``command`` is a string, else ``InvalidCommand``;
* ``Job.restore`` (``rq.job_hash.decode_job``) and reading the call data afterwards:
  success, else ``NoSuchJobError`` (no ``data`` field) or ``DeserializationError`` (the
  call data, or a field that does not decode: bad UTF-8, JSON, timestamp or number, a
  time limit above ``MAX_TTL``); ``ValueError`` is accepted too (text keys that are not
  UTF-8). Any other exception type is a crash.

Hangs are caught by the per-test timeout. The @example cases and the plain tests below
each property pin inputs that once broke it.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from datetime import datetime, timezone
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from redis import Redis

from rq.cli.enqueue_args import parse_enqueue_arguments, parse_function_argument
from rq.command import KNOWN_COMMANDS, InvalidCommand, parse_payload
from rq.exceptions import DeserializationError, NoSuchJobError, TimeoutFormatError
from rq.job import Job, Retry
from rq.layout import format_ts
from rq.serializers import DefaultSerializer, JSONSerializer
from rq.utils import parse_timeout

# Derandomized, with no example database: every run tries the same inputs (no flaky failures in CI)
# and leaves no files behind; the @example cases pin what was found so far.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Python refuses to convert longer digit strings to int (sys.get_int_max_str_digits()).
INT_DIGITS_LIMIT = 4300

# ---- parse_timeout -----------------------------------------------------------------------------

timeout_inputs = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.fractions(),
    st.text(),
    st.text().map(str.encode),
    st.from_regex(r"\s*-?[0-9]{1,12}\s*[dhmsDHMS]?\s*", fullmatch=True),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@FUZZ
@given(timeout_inputs)
@example("1.5h")
@example("90 s")
@example("-0")
@example("\u0663\u0660")  # Arabic-Indic digits: re's \d and int() both accept them
def test_parse_timeout_returns_seconds_or_raises_timeout_format_error(value: Any) -> None:
    try:
        seconds = parse_timeout(value)
    except TimeoutFormatError:
        return
    if value is None:
        assert seconds is None
    else:
        assert isinstance(seconds, int) and not isinstance(seconds, bool)


@FUZZ
@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(sorted(UNITS)), st.booleans())
def test_parse_timeout_reads_units(number: int, unit: str, upper: bool) -> None:
    text = f" {number}{unit.upper() if upper else unit} "
    assert parse_timeout(text) == number * UNITS[unit]
    assert parse_timeout(str(number)) == number


@pytest.mark.parametrize(
    "value", [b"\xff", float("nan"), float("inf"), "9" * (INT_DIGITS_LIMIT + 1)], ids=["bytes", "nan", "inf", "digits"]
)
def test_parse_timeout_rejects_unconvertible_values_cleanly(value: Any) -> None:
    with pytest.raises(TimeoutFormatError):
        parse_timeout(value)


# ---- rq enqueue arguments ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
hashable_literals = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
literal_values = st.recursive(
    hashable_literals
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.complex_numbers(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashable_literals, inner, max_size=4)
    ),
    max_leaves=20,
)
keywords = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
# "@" reads a file: leave that to the unit tests, the fuzzer must not read arbitrary paths.
raw_texts = st.text().filter(lambda text: not text.startswith("@"))
arguments = st.one_of(
    raw_texts,
    st.tuples(st.sampled_from([":", "%"]), raw_texts).map("".join),
    st.tuples(keywords, st.sampled_from(["=", ":=", "%="]), raw_texts).map("".join),
)


@FUZZ
@given(arguments)
@example("%" + "[" * 1000)
@example("%" + "(" * 100 + ")" * 100)
@example("x%=\x00")
@example(":" + "1" * (INT_DIGITS_LIMIT + 1))
def test_enqueue_argument_parses_or_is_a_bad_parameter(argument: str) -> None:
    """Any argument parses or is a one-line BadParameter naming it, in upstream RQ's words."""
    try:
        key, _value = parse_function_argument(argument, 1)
    except click.BadParameter as exc:
        message = exc.format_message()
        assert len(message.splitlines()) == 1, message
        keyword = re.match(r"[A-Za-z_][A-Za-z0-9_]*(?=:=|%=|=)", argument)
        named = f"keyword argument {keyword.group()!r}" if keyword else "1. non keyword argument"
        assert message.startswith("Invalid value for 'ARGUMENTS': ") and named in message, message
        return
    assert key is None or key.isidentifier()


@FUZZ
@given(keywords, json_values)
def test_json_arguments_round_trip(key: str, value: Any) -> None:
    text = json.dumps(value)
    assert parse_function_argument(":" + text, 1) == (None, value)
    assert parse_function_argument(f"{key}:={text}", 1) == (key, value)


@FUZZ
@given(keywords, literal_values)
def test_literal_arguments_round_trip(key: str, value: Any) -> None:
    assert parse_function_argument("%" + repr(value), 1) == (None, value)
    assert parse_function_argument(f"{key}%={value!r}", 1) == (key, value)


@FUZZ
@given(keywords, raw_texts)
def test_text_arguments_are_kept_as_they_are(key: str, text: str) -> None:
    assert parse_function_argument(f"{key}={text}", 1) == (key, text)
    if not text.startswith((":", "%")) and "=" not in text:
        assert parse_function_argument(text, 1) == (None, text)


@FUZZ
@given(st.lists(arguments, max_size=6))
def test_argument_lists_parse_or_are_a_bad_parameter(argv: list[str]) -> None:
    try:
        args, kwargs = parse_enqueue_arguments(argv)
    except click.BadParameter:
        return
    assert len(args) + len(kwargs) == len(argv)


def test_keywords_are_python_identifiers() -> None:
    key, _ = parse_function_argument("a\u00b2=1", 1)
    assert key is None or key.isidentifier()


def test_deeply_nested_json_argument_is_a_bad_parameter() -> None:
    with pytest.raises(click.BadParameter):
        parse_function_argument(":" + "[" * 100_000, 1)


# ---- command payloads ----------------------------------------------------------------------------

command_objects = st.dictionaries(
    st.sampled_from(["command", "job_id", "extra"]) | st.text(max_size=6),
    st.sampled_from(KNOWN_COMMANDS) | json_values,
    max_size=4,
)
payloads = st.one_of(
    st.binary(),
    st.text(),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    json_values.map(json.dumps),
    command_objects.map(json.dumps),
    command_objects.map(lambda obj: json.dumps(obj).encode()),
)


@FUZZ
@given(payloads)
@example(b"\xff\xfe")
@example('{"command": "stop-job"}')
@example('{"command": "stop-job", "job_id": 5}')
@example('"shutdown"')
def test_command_payload_parses_or_is_an_invalid_command(payload: Any) -> None:
    try:
        command = parse_payload(payload)
    except InvalidCommand:
        return
    assert isinstance(command, dict) and isinstance(command["command"], str)
    if command["command"] == "stop-job":
        assert isinstance(command["job_id"], str)


@FUZZ
@given(st.sampled_from(KNOWN_COMMANDS), st.text(min_size=1, max_size=20))
def test_payloads_that_send_command_writes_parse_back(name: str, job_id: str) -> None:
    extra = {"stop-job": {"job_id": job_id}, "stop-execution": {"job_id": job_id, "execution_id": job_id}}.get(name, {})
    payload = json.dumps({"command": name, **extra})
    assert parse_payload(payload) == {"command": name, **extra}
    assert parse_payload(payload.encode()) == {"command": name, **extra}


def test_deeply_nested_command_payload_is_an_invalid_command() -> None:
    with pytest.raises(InvalidCommand):
        parse_payload(b"[" * 100_000)


# ---- job hashes ----------------------------------------------------------------------------------

# Never connected: restore only reads the field map it is given.
OFFLINE = Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.1)


def _full_job_fields() -> list[str]:
    from rq.callbacks import Callback

    job = Job.create(
        "tests.jobs.add", args=(1, 2), connection=OFFLINE, id="sample", timeout=10, result_ttl=20, ttl=30,
        failure_ttl=40, retry=Retry(max=2, interval=[1, 2], enqueue_at_front=True), meta={"a": 1},
        depends_on=["parent"], on_success=Callback("tests.jobs.say_hello", timeout=5),
        on_failure=Callback("tests.jobs.say_hello"), on_stopped=Callback("tests.jobs.say_hello"), group_id="g",
    )  # fmt: skip
    job.enqueued_at = job.started_at = job.ended_at = job.last_heartbeat = job.created_at
    job.worker_name, job.number_of_retries, job.repeats_left, job.repeat_intervals = "w", 1, 2, [3]
    job._result, job._exc_info = 3, "Traceback ..."
    return sorted(job.to_dict())


JOB_FIELDS = _full_job_fields()


def _call_data(serializer: Any, call: tuple) -> bytes:
    return zlib.compress(serializer.dumps(call))


field_values = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.integers().map(lambda n: str(n).encode()),
    st.sampled_from([b"", b"0", b"1", b"-1", b"inf", b"nan", b"1e999", b"true", b"null", b"[]", b"{}", b"[1]"]),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda moment: format_ts(moment).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
)
field_maps = st.dictionaries(st.sampled_from(JOB_FIELDS) | st.text(max_size=8), field_values, max_size=12)
# Random bytes are only ever decoded as JSON: unpickling arbitrary bytes is exactly what the
# security notes warn about.
json_data = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda value: zlib.compress(json.dumps(value).encode())),
    st.just(_call_data(JSONSerializer, ["tests.jobs.add", None, [1, 2], {}])),
)
pickle_data = st.sampled_from(
    [
        _call_data(DefaultSerializer, ("tests.jobs.add", None, (1, 2), {})),
        _call_data(DefaultSerializer, ("tests.jobs.add", None, (1, 2))),
        _call_data(DefaultSerializer, 42),
        zlib.compress(b"not a pickle"),
        b"",
    ]
)

CLEAN_ERRORS = (NoSuchJobError, DeserializationError, ValueError)


def _restore_and_read(raw: dict, serializer: Any) -> None:
    job = Job("fuzzed", connection=OFFLINE, serializer=serializer)
    job.restore(raw)
    job.func_name, job.args, job.kwargs  # noqa: B018 - decoding the call data is the point


def _check_restore(raw: dict, serializer: Any) -> None:
    try:
        _restore_and_read(raw, serializer)
    except CLEAN_ERRORS:
        return


@FUZZ
@given(field_maps, st.none() | json_data)
def test_job_hashes_restore_or_raise_cleanly_with_json(fields: dict, data: Any) -> None:
    raw = {name.encode(): value for name, value in fields.items()}
    if data is not None:
        raw[b"data"] = data
    _check_restore(raw, JSONSerializer)


@FUZZ
@given(field_maps, st.none() | pickle_data)
def test_job_hashes_restore_or_raise_cleanly_with_pickle(fields: dict, data: Any) -> None:
    raw = {name: value for name, value in fields.items()}  # text keys, as some clients return them
    if data is not None:
        raw["data"] = data
    _check_restore(raw, DefaultSerializer)


@FUZZ
@given(
    st.sampled_from(
        [
            ("tests.jobs.add", None, (1, 2), {}),
            ("tests.jobs.echo", None, ("x",), {"k": [1]}),
            ("__call__", None, (), {}),
        ]
    ),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(timezone.utc)),
)
def test_hashes_written_by_encode_job_restore(call: tuple, moment: datetime) -> None:
    job = Job.create(call[0], args=call[2], kwargs=call[3], connection=OFFLINE, id="round-trip", timeout=10)
    job.enqueued_at = moment
    raw = {name.encode(): value if isinstance(value, bytes) else str(value).encode()
           for name, value in job.to_dict().items()}  # fmt: skip
    again = Job("round-trip", connection=OFFLINE)
    again.restore(raw)
    assert (again.func_name, tuple(again.args), again.kwargs) == (call[0], call[2], call[3])
    assert again.enqueued_at == moment
    assert again.timeout == 10


CORRUPT_FIELDS = [
    pytest.param(b"dependency_ids", b"5", id="dependency-ids-not-a-list"),
    pytest.param(b"dependency_ids", b"[1]", id="dependency-ids-of-ints"),
    pytest.param(b"timeout", b"inf", id="timeout-infinite"),
    pytest.param(b"timeout", b"1e300", id="timeout-above-max-ttl"),
    pytest.param(b"result_ttl", b"1e999", id="ttl-overflowing"),
    pytest.param(b"retry_intervals", b"[" * 100_000, id="deeply-nested-json"),
]


@pytest.mark.parametrize(("field", "value"), CORRUPT_FIELDS)
def test_corrupt_fields_raise_deserialization_errors_naming_the_field(field: bytes, value: bytes) -> None:
    raw = {b"data": _call_data(JSONSerializer, ["tests.jobs.add", None, [1, 2], {}]), field: value}
    with pytest.raises(DeserializationError, match=f"field '{field.decode()}'"):
        _restore_and_read(raw, JSONSerializer)


@pytest.mark.parametrize("value", [b"[1]", b"[{}]", b"5", b"{"])
def test_corrupt_webhooks_read_as_none_with_a_logged_warning(value: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """As upstream RQ, an unreadable webhooks field means no webhooks; the job stays readable."""
    raw = {b"data": _call_data(JSONSerializer, ["tests.jobs.add", None, [1, 2], {}]), b"webhooks": value}
    job = Job("fuzzed", connection=OFFLINE, serializer=JSONSerializer)
    with caplog.at_level(logging.WARNING, logger="rq.job"):
        job.restore(raw)
    assert job.webhooks == [] and job.args == [1, 2]
    assert "fuzzed" in caplog.text and "webhooks" in caplog.text


def test_clean_errors_of_corrupt_fields() -> None:
    """The cases that already give a clean error (so the carve-out above stays small)."""
    data = _call_data(JSONSerializer, ["tests.jobs.add", None, [1, 2], {}])
    for field, value in [(b"origin", b"\xff"), (b"created_at", b"yesterday"), (b"timeout", b"ten"),
                         (b"timeout", b"nan"), (b"retry_intervals", b"[1,"), (b"result", b"\xff")]:  # fmt: skip
        with pytest.raises(CLEAN_ERRORS):
            _restore_and_read({b"data": data, field: value}, JSONSerializer)
    with pytest.raises(NoSuchJobError):
        _restore_and_read({b"status": b"queued"}, JSONSerializer)
    with pytest.raises(DeserializationError):
        _restore_and_read({b"data": b"\x00garbage"}, JSONSerializer)
