"""The event bus: inline and durable listeners against real Valkey, SAQ and MongoDB."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

import pytest
from odmantic import Model

from core import Event, Listener, Plugin, StashKey, hookimpl
from core.context import Keel
from core.errors import ConfigError
from core.events import UnknownEventError
from core.runtime import run_worker
from core.testing import KeelFactory

GATE = StashKey[asyncio.Event]("test.gate")
"""What slow listeners wait on (opened by a test, or at teardown)."""


class ThingHappened(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "thing.happened"
    value: int


class Unregistered(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "thing.unregistered"


class Effect(Model):
    listener: str
    event_id: str
    value: int


async def record(keel: Any, listener: str, event: ThingHappened) -> None:
    await keel.db.save(Effect(listener=listener, event_id=event.id, value=event.value))  # type: ignore[call-arg]


async def effects(keel: Any, listener: str) -> list[Effect]:
    found: list[Effect] = await keel.db.find(Effect, Effect.listener == listener)
    return found


async def attempt(keel: Any, name: str) -> int:
    return int(await keel.valkey.incr(keel.key("test", "attempts", name)))


async def on_ok(keel: Any, event: ThingHappened) -> None:
    await record(keel, "ok", event)


async def on_boom(keel: Any, event: ThingHappened) -> None:
    raise RuntimeError("boom")


async def on_slow(keel: Any, event: ThingHappened) -> None:
    await keel.stash[GATE].wait()
    await record(keel, "slow", event)


async def on_flaky(keel: Any, event: ThingHappened) -> None:
    if await attempt(keel, "flaky") <= 2:
        raise RuntimeError("not yet")
    await record(keel, "flaky", event)


async def on_steady(keel: Any, event: ThingHappened) -> None:
    await attempt(keel, "steady")
    await record(keel, "steady", event)


class EmitterPlugin(Plugin):
    name = "emitter"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [ThingHappened]

    @hookimpl
    def register_models(self) -> list[type[Model]]:
        return [Effect]


class InlinePlugin(Plugin):
    name = "inline"

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [
            Listener("thing.happened", on_boom),
            Listener("thing.happened", on_ok),
            Listener("thing.happened", on_slow),
        ]


class DurablePlugin(Plugin):
    name = "durable"

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [
            Listener("thing.happened", on_flaky, mode="durable"),
            Listener("thing.happened", on_steady, mode="durable", queue="notifications"),
        ]


class SteadyPlugin(Plugin):
    name = "steady"

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [Listener("thing.happened", on_steady, mode="durable")]


class RivalPlugin(Plugin):
    """Publishes an event under a name another plugin already uses."""

    name = "rival"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        class Clash(Event, frozen=True, kw_only=True):
            name: ClassVar[str] = "thing.happened"

        return [Clash]


@pytest.fixture
async def make_keel(keel_factory: KeelFactory) -> Any:
    """``make(*plugins, **dotted)``: a Keel with only ``plugins`` enabled, fast retries,
    and a ``gate`` that slow listeners wait on (opened at teardown)."""
    opened: list[Keel] = []

    async def make(*plugins: type[Plugin], **overrides: Any) -> Keel:
        keel = await keel_factory(*plugins, **{"queue__retry_delay_s": 0.05, **overrides})
        keel.stash[GATE] = asyncio.Event()
        opened.append(keel)
        return keel

    yield make
    for keel in opened:
        keel.stash[GATE].set()


async def drain(keel: Any) -> None:
    async with asyncio.timeout(30):
        await run_worker(keel, burst=True)


async def test_inline_failure_is_isolated_and_logged(make_keel: Any, caplog: Any) -> None:
    keel = await make_keel(EmitterPlugin, InlinePlugin)
    keel.stash[GATE].set()
    event = ThingHappened(value=1)

    with caplog.at_level(logging.ERROR, logger="core.events"):
        await keel.events.emit(event)  # on_boom raises: the emitter never sees it
        await keel.events.drain()

    assert [e.event_id for e in await effects(keel, "ok")] == [event.id]
    assert [e.event_id for e in await effects(keel, "slow")] == [event.id]
    failures = [r for r in caplog.records if "inline listener 'on_boom'" in r.getMessage()]
    assert len(failures) == 1
    assert "plugin inline" in failures[0].getMessage()


async def test_slow_inline_listener_does_not_block_emit(make_keel: Any) -> None:
    keel = await make_keel(EmitterPlugin, InlinePlugin)

    started = time.perf_counter()
    await keel.events.emit(ThingHappened(value=2))
    assert time.perf_counter() - started < 0.5
    assert keel.events.pending >= 1  # on_slow waits for the gate
    assert await effects(keel, "slow") == []

    keel.stash[GATE].set()
    await keel.events.drain()
    assert len(await effects(keel, "slow")) == 1


async def test_durable_listener_retries_until_it_succeeds_once(make_keel: Any) -> None:
    keel = await make_keel(EmitterPlugin, DurablePlugin)
    event = ThingHappened(value=3)

    await keel.events.emit(event)
    await drain(keel)

    flaky = await effects(keel, "flaky")
    assert [(e.event_id, e.value) for e in flaky] == [(event.id, 3)]
    assert await keel.valkey.get(keel.key("test", "attempts", "flaky")) == b"3"
    # the other durable listener ran once, unaffected by the failures
    assert len(await effects(keel, "steady")) == 1
    assert await keel.valkey.get(keel.key("test", "attempts", "steady")) == b"1"


async def test_redelivered_event_is_a_noop(make_keel: Any) -> None:
    keel = await make_keel(EmitterPlugin, SteadyPlugin)
    event = ThingHappened(value=4)

    await keel.events.emit(event)
    await keel.events.emit(event)  # collapsed by the job key while the first is queued
    await drain(keel)
    await keel.events.emit(event)  # delivered again after completion: the done-marker wins
    await drain(keel)

    assert len(await effects(keel, "steady")) == 1
    assert await keel.valkey.get(keel.key("test", "attempts", "steady")) == b"1"


async def test_catalog_and_unknown_events(make_keel: Any) -> None:
    keel = await make_keel(EmitterPlugin, InlinePlugin)

    assert keel.events.catalog()["thing.happened"] is ThingHappened
    with pytest.raises(UnknownEventError, match=r"thing\.unregistered"):
        await keel.events.emit(Unregistered())


async def test_duplicate_event_names_are_a_config_error(make_keel: Any) -> None:
    with pytest.raises(ConfigError, match=r"plugins\.rival: event name 'thing\.happened'"):
        await make_keel(EmitterPlugin, RivalPlugin)
