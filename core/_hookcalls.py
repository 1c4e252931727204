"""Bookkeeping of hook calls for :class:`core.pluginhost.PluginHost`: which plugin
returned what, errors named after their plugin, the call trace's wording, lifespan order."""

from __future__ import annotations

import inspect
from collections.abc import Collection, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pluggy

from core.errors import PluginError

_PASSED_ON = (PluginError, pluggy.PluginValidationError, pluggy.HookCallError)
"""Raised by pluggy, or by another plugin, and already saying whose fault it is."""


@dataclass(slots=True)
class _Frame:
    """One hook call in progress: who was called and what each implementation returned."""

    hook: str
    firstresult: bool
    called: list[str] = field(default_factory=list)
    returned: list[tuple[pluggy.HookImpl, object]] = field(default_factory=list)


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, with plugins registered in reverse dependency order (see
    :class:`PluginHost`); it still lists them in dependency order."""

    def list_name_plugin(self) -> list[tuple[str, object]]:
        """``(name, plugin)`` pairs, in dependency order (the reverse of registration)."""
        return super().list_name_plugin()[::-1]


@contextmanager
def _naming(plugin: str, hook: str) -> Iterator[None]:
    """Re-raise an exception from ``plugin``'s ``hook`` as a :class:`PluginError`."""
    try:
        yield
    except _PASSED_ON:
        raise
    except Exception as exc:
        raise PluginError(plugin, f"hook {hook} failed: {str(exc) or repr(exc)}") from exc


def _match(
    returned: Sequence[tuple[pluggy.HookImpl, object]], items: Iterable[object]
) -> tuple[list[tuple[pluggy.HookImpl, Any]], list[object]]:
    """Pair each of ``items`` with the implementation that returned that very object.

    Returns:
        the pairs, in the order of ``items``, and the items no implementation returned.
    """
    unused = list(returned)
    pairs: list[tuple[pluggy.HookImpl, Any]] = []
    strays: list[object] = []
    for item in items:
        index = next((i for i, (_, obj) in enumerate(unused) if obj is item), None)
        if index is None:
            strays.append(item)
        else:
            pairs.append((unused.pop(index)[0], item))
    return pairs, strays


def _items(frame: _Frame, result: object) -> list[object]:
    """A hook call's result as a list: pluggy's list, or a firstresult hook's one value."""
    if frame.firstresult:
        return [] if result is None else [result]
    return list(cast("list[object]", result)) if isinstance(result, list) else []


def _old_style(
    teardown: Generator[None, pluggy.Result[object], None],
) -> Generator[None, pluggy.Result[object], pluggy.Result[object]]:
    """Run an old-style ``hookwrapper`` as pluggy does; returns the outcome it was sent."""
    try:
        next(teardown)
    except StopIteration:
        raise RuntimeError("the hookwrapper did not yield") from None
    outcome = yield
    try:
        teardown.send(outcome)
    except StopIteration:
        return outcome
    raise RuntimeError("the hookwrapper yielded twice")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _outcome_text(outcome: pluggy.Result[object], firstresult: bool) -> str:
    """What a hook call gave, for the trace: a count of records, or the exception."""
    exc = outcome.exception
    if exc is not None:
        return f"raised {type(exc).__name__}: {exc}"
    result = outcome.get_result()
    if firstresult:
        return "no result" if result is None else f"1 result ({type(result).__name__})"
    items = list(cast("list[object]", result))
    if items and all(inspect.isawaitable(item) for item in items):
        return f"{_plural(len(items), 'awaitable')} (the core awaits them)"
    if all(isinstance(item, Collection) and not isinstance(item, str) for item in items):
        return _plural(sum(len(cast("Collection[object]", item)) for item in items), "record")
    return _plural(len(items), "result")


def _close(pending: Iterable[tuple[pluggy.HookImpl, Any]]) -> None:
    """Close the coroutines a failed lifespan step did not await (no 'never awaited')."""
    for _, awaitable in pending:
        if inspect.iscoroutine(awaitable):
            awaitable.close()


def _shutdown_order(
    pending: list[tuple[pluggy.HookImpl, Any]],
) -> list[tuple[pluggy.HookImpl, Any]]:
    """``pending`` (in call order) reversed, but ``tryfirst`` first and ``trylast`` last."""
    first = [pair for pair in pending if pair[0].tryfirst]
    last = [pair for pair in pending if pair[0].trylast]
    rest = [pair for pair in pending if not (pair[0].tryfirst or pair[0].trylast)]
    return [*first[::-1], *rest[::-1], *last[::-1]]
