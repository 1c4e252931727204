"""The event catalog and the listener index, validated at start-up (see :mod:`core.events`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core._event import Event
from core.errors import ConfigError, KeelError
from core.records import Listener

if TYPE_CHECKING:
    from core.pluginhost import PluginHost

log = logging.getLogger("core.events")


class UnknownEventError(KeelError, LookupError):
    """An event was emitted or delivered whose type is not in the catalog."""


def build_catalog(event_types: Sequence[tuple[str, Any]]) -> dict[str, type[Event]]:
    """Event name -> type, from ``(plugin, Event subclass)`` pairs.

    Raises:
        ConfigError: a type is not an :class:`Event` with a ``name``, or two types share
            a name.
    """
    problems: list[str] = []
    catalog: dict[str, type[Event]] = {}
    owners: dict[str, str] = {}
    for plugin, tp in event_types:
        name = getattr(tp, "name", None)
        if not (isinstance(tp, type) and issubclass(tp, Event) and isinstance(name, str)):
            problems.append(f"plugins.{plugin}: {tp!r} is not an Event type with a name")
        elif name in catalog and catalog[name] is not tp:
            problems.append(
                f"plugins.{plugin}: event name {name!r} is already used by plugin {owners[name]!r}"
            )
        else:
            catalog[name], owners[name] = tp, plugin
    if problems:
        raise ConfigError(problems)
    return catalog


def core_event_types() -> list[tuple[str, Any]]:
    """The core's own event types, as ``("core", type)`` pairs (none: every event is a
    plugin's, ``user.*`` the accounts plugin's)."""
    return []


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """The event catalog and the listeners, indexed (see :func:`build_subscriptions`)."""

    catalog: dict[str, type[Event]]
    by_event: dict[str, list[tuple[str, Listener]]]
    by_key: dict[tuple[str, str], Listener]


def build_subscriptions(host: PluginHost, queue_names: Sequence[str]) -> Subscriptions:
    """Validate and index the event types and listeners of the enabled plugins.

    A listener of an event no enabled plugin publishes is only a logged warning (its
    publisher may be disabled on purpose).

    Raises:
        ConfigError: duplicate event names, a durable listener on an unknown queue, or
            two listeners of one plugin with the same name.
    """
    catalog = build_catalog([*core_event_types(), *host.event_types()])
    by_event: dict[str, list[tuple[str, Listener]]] = defaultdict(list)
    by_key: dict[tuple[str, str], Listener] = {}
    problems: list[str] = []
    for plugin, listener in host.listeners():
        where = f"plugins.{plugin}: listener {listener.key!r}"
        if (plugin, listener.key) in by_key:
            problems.append(f"{where}: duplicate listener name (set Listener.name)")
        elif listener.mode == "durable" and listener.queue not in queue_names:
            problems.append(f"{where}: unknown queue {listener.queue!r}")
        else:
            by_key[plugin, listener.key] = listener
            by_event[listener.event].append((plugin, listener))
        if listener.event != "*" and listener.event not in catalog:
            log.warning("%s: no enabled plugin publishes event %r", where, listener.event)
    if problems:
        raise ConfigError(problems)
    return Subscriptions(catalog, dict(by_event), by_key)
