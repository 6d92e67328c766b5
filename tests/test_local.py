"""``rq.local``: context-local objects, as upstream RQ ships them (after werkzeug.local)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rq.local import Local, LocalManager, LocalProxy, LocalStack, get_ident, release_local


def in_thread(function: Any) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join(30)
    return result[0]


def test_local_values_belong_to_one_thread() -> None:
    local = Local()
    local.user = "ada"
    assert local.user == "ada"
    assert in_thread(lambda: hasattr(local, "user")) is False
    in_thread(lambda: setattr(local, "user", "bob"))
    assert local.user == "ada"
    assert dict(iter(local))[get_ident()] == {"user": "ada"}
    del local.user
    with pytest.raises(AttributeError):
        del local.user
    with pytest.raises(AttributeError):
        local.user  # noqa: B018


def test_release_local() -> None:
    local = Local()
    local.value = 42
    release_local(local)
    assert not hasattr(local, "value")


def test_local_stack() -> None:
    stack = LocalStack()
    assert (stack.top, len(stack), stack.pop()) == (None, 0, None)
    assert stack.push(42) == [42]
    stack.push(23)
    assert (stack.top, len(stack)) == (23, 2)
    assert in_thread(lambda: stack.top) is None
    assert stack.pop() == 23
    assert stack.pop() == 42  # the last item: the context is released
    assert (stack.top, len(stack)) == (None, 0)


def test_stack_proxy_follows_the_top() -> None:
    stack = LocalStack()
    current = stack()
    assert repr(current) == "<LocalProxy unbound>"
    with pytest.raises(RuntimeError, match="unbound"):
        current._get_current_object()
    stack.push({"job": 1})
    assert current["job"] == 1 and "job" in current and len(current) == 1
    current["other"] = 2
    assert stack.top == {"job": 1, "other": 2}
    stack.push([3])
    assert current == [3] and current + [4] == [3, 4]
    stack.pop()
    assert current._get_current_object() == {"job": 1, "other": 2}


def test_proxy_forwards_to_the_object() -> None:
    class Thing:
        def __init__(self) -> None:
            self.size = 3

        def __call__(self, x: int) -> int:
            return x * 2

    local = Local()
    thing = local("thing")
    with pytest.raises(RuntimeError, match="no object bound to thing"):
        thing.size  # noqa: B018
    assert dir(thing) == []
    local.thing = Thing()
    assert thing.size == 3 and thing(4) == 8
    thing.colour = "red"
    assert local.thing.colour == "red" and vars(thing) == {"size": 3, "colour": "red"}
    del thing.colour
    assert "colour" not in thing.__dict__
    assert "size" in dir(thing) and "size" in thing.__members__

    number = LocalProxy(lambda: 7)
    assert (number + 1, number - 1, number * 2, number // 2, number % 4, number**2) == (8, 6, 14, 3, 3, 49)
    assert (number / 2, divmod(number, 2), -number, +number, abs(number), ~number) == (3.5, (3, 1), -7, 7, 7, -8)
    assert (number << 1, number >> 1, number & 3, number | 8, number ^ 1) == (14, 3, 3, 15, 6)
    assert (int(number), float(number), complex(number), hex(number), oct(number)) == (7, 7.0, 7 + 0j, "0x7", "0o7")
    assert number < 8 and number <= 7 and number > 6 and number >= 7 and number != 8 and hash(number) == hash(7)
    assert str(number) == "7" and list(LocalProxy(lambda: "ab")) == ["a", "b"]


def test_proxy_as_a_context_manager() -> None:
    lock = threading.Lock()
    with LocalProxy(lambda: lock):
        assert lock.locked()
    assert not lock.locked()


def test_local_manager() -> None:
    local, stack = Local(), LocalStack()
    manager = LocalManager([local, stack])
    assert repr(manager) == "<LocalManager storages: 2>"
    assert manager.get_ident() == get_ident()
    local.value, _ = 1, stack.push(1)
    manager.cleanup()
    assert not hasattr(local, "value") and stack.top is None

    contexts = iter(["a", "b"])
    current = {"ident": next(contexts)}
    custom = Local()
    manager = LocalManager(custom, ident_func=lambda: current["ident"])
    assert manager.locals == [custom] and manager.get_ident() == "a"
    custom.value = "in a"
    current["ident"] = next(contexts)
    assert not hasattr(custom, "value")
    assert LocalManager().locals == []
