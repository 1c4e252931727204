"""Typed per-process state: :class:`Stash` and its keys (pytest's ``Stash`` pattern).

A module owns the keys it needs, declared once at module level with the type of their
value; ``keel.stash`` holds the values for one process::

    ACCOUNTS = StashKey[Accounts]("accounts")

    def accounts(keel: Keel) -> Accounts:
        return keel.stash.get_or_create(ACCOUNTS, lambda: Accounts(keel.settings))

Two keys never clash (a key is its object, not its name), and mypy knows the type of
every value read back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, overload

__all__ = ["Stash", "StashKey"]

T = TypeVar("T")
D = TypeVar("D")
_MISSING: Any = object()


class StashKey(Generic[T]):
    """A key of a :class:`Stash`, for values of type ``T``: ``StashKey[Hub]("realtime.hub")``.

    Each key is unique: two keys with the same name are still different keys. Declare it
    once, at module level, in the module that owns the value.

    Args:
        name: shown in ``repr`` and in errors only (``<plugin>.<thing>`` by convention).
    """

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"StashKey({self.name!r})" if self.name else f"<StashKey at {id(self):#x}>"


class Stash:
    """A type-safe mapping of :class:`StashKey` to values, one per :class:`~core.context.Keel`.

    Holds a process's runtime objects (clients, hubs, caches) that would otherwise be
    module globals. Not thread-safe: use it from the event loop.
    """

    __slots__ = ("_storage",)

    def __init__(self) -> None:
        self._storage: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        """Set the value of ``key``."""
        self._storage[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        """The value of ``key``.

        Raises:
            KeyError: ``key`` was never set (or was deleted).
        """
        return cast("T", self._storage[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        """The value of ``key``, or ``default`` when it is not set."""
        return cast("T | D", self._storage.get(key, default))

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """The value of ``key``; sets it to ``default`` first when it is not set."""
        return cast("T", self._storage.setdefault(key, default))

    def get_or_create(self, key: StashKey[T], factory: Callable[[], T]) -> T:
        """The value of ``key``; when it is not set, ``factory()`` builds and stores it.

        The factory runs only when the key is missing, so it can be costly (a client, a
        hub). It is synchronous: between the check and the store nothing else runs on the
        event loop, so concurrent tasks get one and the same object, built once. When it
        raises, nothing is stored and the next call tries again.
        """
        found = self._storage.get(key, _MISSING)
        if found is _MISSING:
            found = self._storage[key] = factory()
        return cast("T", found)

    @overload
    def pop(self, key: StashKey[T]) -> T: ...

    @overload
    def pop(self, key: StashKey[T], default: D) -> T | D: ...

    def pop(self, key: StashKey[T], default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (or ``default`` when it is not set).

        Raises:
            KeyError: ``key`` is not set and no ``default`` was given.
        """
        if default is _MISSING:
            return self._storage.pop(key)
        return self._storage.pop(key, default)

    def __delitem__(self, key: StashKey[T]) -> None:
        """Remove ``key``.

        Raises:
            KeyError: ``key`` is not set.
        """
        del self._storage[key]

    def __contains__(self, key: StashKey[T]) -> bool:
        """Whether ``key`` is set."""
        return key in self._storage

    def __len__(self) -> int:
        """How many keys are set."""
        return len(self._storage)

    def __repr__(self) -> str:
        return f"Stash({', '.join(map(repr, self._storage))})"
