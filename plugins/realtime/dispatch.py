"""The table of client events, realtime's and other plugins', and the dispatch of a frame.

The table is built once per process, while the app or worker is built (the realtime
plugin's ``check_settings``, which ``keel config check`` runs too), from the
``register_ws_events`` hook of every enabled plugin; realtime's own events come through
the same hook (:mod:`plugins.realtime.builtin_events`). So a name clash is a
configuration problem found before the first socket, naming both plugins. Every frame
then takes one path: look its event up, check the event's feature switch, decode its
data, call its handler with the socket's :class:`WsContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from core.errors import DomainError
from plugins.realtime.hookspecs import WsContext, WsEvent
from plugins.realtime.protocol import (
    BAD_FRAME,
    FEATURE_DISABLED,
    INTERNAL,
    INVALID_DATA,
    UNKNOWN_EVENT,
    WsError,
    error_frame,
    parse_frame,
)
from plugins.realtime.settings import FEATURES

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger("plugins.realtime")
HOOK = "register_ws_events"


@dataclass(frozen=True, slots=True)
class RegisteredEvent:
    """An event of the table: its record, the plugin that returned it, its data decoder."""

    event: WsEvent
    plugin: str
    decoder: msgspec.json.Decoder[Any]

    def decode(self, raw: msgspec.Raw) -> Any:
        """The frame's ``data`` as the event's ``data_type``.

        Raises:
            WsError: ``invalid_data`` naming the event and the bad field.
        """
        try:
            return self.decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise WsError(INVALID_DATA, f"invalid data for {self.event.name!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class EventTable:
    """Every client event of the process by name, and what was wrong with the rest."""

    events: dict[str, RegisteredEvent]
    problems: list[str]
    """One line per refused record, starting with ``plugins.<name>``; the process must
    not start while there is one."""


def build_event_table(contributions: Iterable[tuple[str, Iterable[Any]]]) -> EventTable:
    """The table of ``(plugin, records)`` pairs, in order: a later clash is refused."""
    events: dict[str, RegisteredEvent] = {}
    problems: list[str] = []
    for plugin, records in contributions:
        for record in records:
            problem = _problem(plugin, record, events)
            if problem is None:
                problem = _add(plugin, record, events)
            if problem is not None:
                problems.append(f"plugins.{plugin}: {problem}")
    return EventTable(events, problems)


def _problem(plugin: str, record: Any, events: dict[str, RegisteredEvent]) -> str | None:
    if not isinstance(record, WsEvent):
        return f"{HOOK} returned {record!r}, not a WsEvent"
    if record.feature is not None and record.feature not in FEATURES:
        switches = ", ".join(FEATURES)
        return (
            f"WebSocket event {record.name!r}: unknown feature {record.feature!r} "
            f"(a switch of [plugins.realtime]: {switches})"
        )
    taken = events.get(record.name)
    if taken is not None:
        by = "itself" if taken.plugin == plugin else f"plugin {taken.plugin!r}"
        return f"WebSocket event {record.name!r} already exists (registered by {by})"
    return None


def _add(plugin: str, event: WsEvent, events: dict[str, RegisteredEvent]) -> str | None:
    try:
        decoder = msgspec.json.Decoder(Any if event.data_type is None else event.data_type)
    except TypeError as exc:
        return f"WebSocket event {event.name!r}: data_type {event.data_type!r}: {exc}"
    events[event.name] = RegisteredEvent(event, plugin, decoder)
    return None


def collect_event_table(plugin_manager: pluggy.PluginManager, own: str) -> EventTable:
    """Call every plugin's ``register_ws_events``, plugin ``own`` (realtime) first.

    The others follow in registration order (the core registers plugins in dependency
    order), so a clash is reported against the plugin that came later.
    """
    order = [name for name, _ in plugin_manager.list_name_plugin()]
    impls = sorted(
        getattr(plugin_manager.hook, HOOK).get_hookimpls(),
        key=lambda impl: (impl.plugin_name != own, order.index(impl.plugin_name)),
    )
    contributions: list[tuple[str, Iterable[Any]]] = []
    failed: list[str] = []
    for impl in impls:
        try:
            contributions.append((impl.plugin_name, list(impl.function() or ())))
        except Exception as exc:
            failed.append(f"plugins.{impl.plugin_name}: {HOOK} failed: {exc!r}")
    table = build_event_table(contributions)
    table.problems[:0] = failed
    return table


async def dispatch(ctx: WsContext, data: str | bytes) -> None:
    """Run the handler of one frame of ``ctx``'s socket; every failure is an ``error`` frame."""
    hub, conn = ctx.hub, ctx.connection
    try:
        if isinstance(data, bytes):
            raise WsError(BAD_FRAME, "binary frames are not supported; send JSON text")
        parsed = parse_frame(data)
        found = hub.events.get(parsed.event)
        if found is None:
            raise WsError(UNKNOWN_EVENT, f"unknown event {parsed.event!r}")
        feature = found.event.feature
        if not hub.keel.toggles.active(found.plugin):  # its plugin is switched off live
            raise WsError(FEATURE_DISABLED, f"{parsed.event!r}: plugin {found.plugin!r} is off")
        if feature is not None and not hub.feature(feature):
            raise WsError(FEATURE_DISABLED, f"{parsed.event!r}: feature {feature!r} is off")
        await found.event.handler(ctx, found.decode(parsed.data))
    except WsError as exc:
        conn.push(error_frame(exc.code, exc.message))
    except DomainError as exc:
        conn.push(error_frame(exc.code, exc.message))
    except Exception:
        log.exception("realtime: handler of a frame failed (user %s)", conn.user.id)
        conn.push(error_frame(INTERNAL, "the server failed to handle this frame"))
