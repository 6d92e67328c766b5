"""Context-local objects: the ``rq.local`` module of upstream RQ (after werkzeug's ``local``).

rq itself keeps the job being performed in a ``contextvars.ContextVar`` (``rq.job``); this
module is for code written against upstream, which imports these names from here.

``Local``
    An object whose attributes are separate for each thread (or greenlet, when the
    ``greenlet`` package is installed).
``LocalStack``
    A per-context stack: ``push``, ``pop``, ``top``; calling it gives a proxy to ``top``.
``LocalProxy``
    Forwards attribute access, items, operators and calls to the object it resolves to:
    a name on a ``Local``, or whatever a function returns. Unbound, it raises RuntimeError.
``LocalManager``
    Releases several locals at once (``cleanup``), for the current context.
``release_local(local)``
    Drops what ``local`` holds for the current context.
"""

from __future__ import annotations

import importlib
import operator
import threading
from typing import Any, Callable, Iterable, Iterator, Optional, Union


def _greenlet_ident() -> Optional[Callable[[], Any]]:
    try:
        return importlib.import_module("greenlet").getcurrent
    except ImportError:
        return None


# What tells contexts apart: the current greenlet if greenlet is installed, else the thread.
get_ident: Callable[[], Any] = _greenlet_ident() or threading.get_ident

__all__ = ["Local", "LocalManager", "LocalProxy", "LocalStack", "get_ident", "release_local"]


def release_local(local: Any) -> None:
    """Drop the values ``local`` (a ``Local`` or ``LocalStack``) holds for the current context."""
    local.__release_local__()


class Local:
    """Attributes stored per context: set in one thread, they are not seen in another."""

    __slots__ = ("__storage__", "__ident_func__")

    def __init__(self) -> None:
        object.__setattr__(self, "__storage__", {})
        object.__setattr__(self, "__ident_func__", get_ident)

    def _context(self, create: bool = False) -> Optional[dict[str, Any]]:
        storage: dict[Any, dict[str, Any]] = self.__storage__
        ident = self.__ident_func__()
        if create:
            return storage.setdefault(ident, {})
        return storage.get(ident)

    def __iter__(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        """(context ident, that context's values) pairs."""
        return iter(self.__storage__.items())

    def __call__(self, name: str) -> "LocalProxy":
        """A proxy to this local's attribute ``name``."""
        return LocalProxy(self, name)

    def __release_local__(self) -> None:
        self.__storage__.pop(self.__ident_func__(), None)

    def __getattr__(self, name: str) -> Any:
        values = self._context()
        if values is None or name not in values:
            raise AttributeError(name)
        return values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        values = self._context(create=True)
        assert values is not None
        values[name] = value

    def __delattr__(self, name: str) -> None:
        values = self._context()
        if values is None or name not in values:
            raise AttributeError(name)
        del values[name]


class LocalStack:
    """A stack per context. Popping its last item releases the context.

    ``stack()`` (calling it) gives a ``LocalProxy`` to the item on top.
    """

    def __init__(self) -> None:
        self._local = Local()

    def __release_local__(self) -> None:
        self._local.__release_local__()

    @property
    def __ident_func__(self) -> Callable[[], Any]:
        return self._local.__ident_func__

    @__ident_func__.setter
    def __ident_func__(self, value: Callable[[], Any]) -> None:
        object.__setattr__(self._local, "__ident_func__", value)

    def __call__(self) -> "LocalProxy":
        def top_or_error() -> Any:
            item = self.top
            if item is None:
                raise RuntimeError("object unbound")
            return item

        return LocalProxy(top_or_error)

    def _stack(self) -> Optional[list[Any]]:
        return getattr(self._local, "stack", None)

    def push(self, obj: Any) -> list[Any]:
        """Put ``obj`` on top; returns this context's stack."""
        stack = self._stack()
        if stack is None:
            stack = []
            self._local.stack = stack
        stack.append(obj)
        return stack

    def pop(self) -> Any:
        """Take the top item off (None if the stack is empty)."""
        stack = self._stack()
        if not stack:
            return None
        if len(stack) == 1:
            release_local(self._local)
            return stack[-1]
        return stack.pop()

    @property
    def top(self) -> Any:
        """The item on top, or None."""
        stack = self._stack()
        return stack[-1] if stack else None

    def __len__(self) -> int:
        return len(self._stack() or ())


class LocalManager:
    """Releases its locals (``cleanup``) for the current context; ``ident_func`` sets how contexts are told apart."""

    def __init__(
        self,
        locals: Union[None, Local, LocalStack, Iterable[Union[Local, LocalStack]]] = None,
        ident_func: Optional[Callable[[], Any]] = None,
    ) -> None:
        if locals is None:
            self.locals: list[Any] = []
        elif isinstance(locals, Local):
            self.locals = [locals]
        else:
            self.locals = list(locals)  # type: ignore[arg-type]
        self.ident_func: Callable[[], Any] = ident_func if ident_func is not None else get_ident
        if ident_func is not None:
            for local in self.locals:
                object.__setattr__(local, "__ident_func__", ident_func)

    def get_ident(self) -> Any:
        """The identifier of the current context, as the managed locals see it."""
        return self.ident_func()

    def cleanup(self) -> None:
        """Release every managed local for the current context."""
        for local in self.locals:
            release_local(local)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} storages: {len(self.locals)}>"


class LocalProxy:
    """Stands for the object a local currently holds, and forwards almost everything to it.

    ``LocalProxy(local, name)`` resolves to ``local.<name>``; ``LocalProxy(function)``
    resolves to ``function()``. ``_get_current_object()`` returns the object itself.
    Assignments to the proxy's attributes and items go to the object too.
    """

    __slots__ = ("__local", "__name__")

    def __init__(self, local: Any, name: Optional[str] = None) -> None:
        object.__setattr__(self, "_LocalProxy__local", local)
        object.__setattr__(self, "__name__", name)

    def _get_current_object(self) -> Any:
        """The object the proxy stands for now; RuntimeError if there is none."""
        local = object.__getattribute__(self, "_LocalProxy__local")
        if not hasattr(local, "__release_local__"):
            return local()  # a function
        name = object.__getattribute__(self, "__name__")
        try:
            return getattr(local, name)
        except AttributeError:
            raise RuntimeError(f"no object bound to {name}") from None

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        try:
            return self._get_current_object().__dict__
        except RuntimeError:
            raise AttributeError("__dict__") from None

    def __repr__(self) -> str:
        try:
            current = self._get_current_object()
        except RuntimeError:
            return f"<{type(self).__name__} unbound>"
        return repr(current)

    def __dir__(self) -> list[str]:
        try:
            return dir(self._get_current_object())
        except RuntimeError:
            return []

    def __getattr__(self, name: str) -> Any:
        current = self._get_current_object()
        if name == "__members__":
            return dir(current)
        return getattr(current, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get_current_object(), name)


def _forwarder(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def forward(self: LocalProxy, *args: Any, **kwargs: Any) -> Any:
        return function(self._get_current_object(), *args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    return forward


# Everything else a proxy does is done to the object it stands for (upstream's list; no
# reflected operators).
_FORWARDED: dict[str, Callable[..., Any]] = {
    "__str__": str,
    "__lt__": operator.lt,
    "__le__": operator.le,
    "__eq__": operator.eq,
    "__ne__": operator.ne,
    "__gt__": operator.gt,
    "__ge__": operator.ge,
    "__hash__": hash,
    "__call__": lambda current, *args, **kwargs: current(*args, **kwargs),
    "__len__": len,
    "__getitem__": operator.getitem,
    "__setitem__": operator.setitem,
    "__delitem__": operator.delitem,
    "__iter__": iter,
    "__contains__": operator.contains,
    "__add__": operator.add,
    "__sub__": operator.sub,
    "__mul__": operator.mul,
    "__floordiv__": operator.floordiv,
    "__mod__": operator.mod,
    "__divmod__": lambda current, other: current.__divmod__(other),
    "__pow__": operator.pow,
    "__lshift__": operator.lshift,
    "__rshift__": operator.rshift,
    "__and__": operator.and_,
    "__xor__": operator.xor,
    "__or__": operator.or_,
    "__div__": lambda current, other: current.__div__(other),
    "__truediv__": lambda current, other: current.__truediv__(other),
    "__neg__": operator.neg,
    "__pos__": operator.pos,
    "__abs__": abs,
    "__invert__": operator.invert,
    "__complex__": complex,
    "__int__": int,
    "__float__": float,
    "__oct__": oct,
    "__hex__": hex,
    "__index__": operator.index,
    "__enter__": lambda current: current.__enter__(),
    "__exit__": lambda current, *args, **kwargs: current.__exit__(*args, **kwargs),
}

for _name, _function in _FORWARDED.items():
    setattr(LocalProxy, _name, _forwarder(_name, _function))
del _name, _function
