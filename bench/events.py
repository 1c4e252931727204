"""Commit-to-relay lag of the event outbox at a steady rate, and its cost against a direct
enqueue, in the same run, on the embedded stack.

    python bench/events.py [--rate 500] [--seconds 10]

Two runtimes on one database: an emitter (like an API process) and a relay (like a
worker: its own connections, woken by polling only, ``[events] relay_poll_ms``). Lag is
``relayed_at - at`` of each outbox entry (both MongoDB times, ms precision).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from core import Event, Listener, Plugin, hookimpl
from core.devstack import DevStack
from core.outbox import collection
from core.pluginhost import InstalledPlugin, PluginHost, plugin_settings_types
from core.relay import get_relay
from core.runtime import close_keel, open_keel
from core.settings import load_settings


class Ticked(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "bench.ticked"
    n: int


class BenchPlugin(Plugin):
    name = "bench"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [Ticked]

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        async def noop(_keel: Any, _event: Ticked) -> None:
            return None

        return [Listener("bench.ticked", noop, mode="durable", name="noop")]


async def noop_job(_ctx: dict[str, Any]) -> None:
    return None


async def run(config: Path, overrides: dict[str, Any], rate: int, seconds: float) -> None:
    installed = {"bench": InstalledPlugin("bench", BenchPlugin, "0", "bench")}
    types = plugin_settings_types(installed)
    settings = load_settings(config, environ={}, overrides=overrides, plugin_types=types)
    emitter = await open_keel(settings, PluginHost(settings, installed))
    relay_keel = await open_keel(settings, PluginHost(settings, installed))
    relay = asyncio.create_task(get_relay(relay_keel).run())
    try:
        n, began, costs = rate * seconds, time.perf_counter(), []
        for i in range(int(n)):
            t0 = time.perf_counter()
            await emitter.events.emit(Ticked(n=i))
            costs.append(time.perf_counter() - t0)
            await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.perf_counter()))
        while await collection(emitter).count_documents({"relayed_at": None}):  # noqa: ASYNC110 - polls MongoDB
            await asyncio.sleep(0.05)
        docs = collection(emitter).find({}, {"at": 1, "relayed_at": 1})
        lags = sorted([(d["relayed_at"] - d["at"]).total_seconds() * 1000 async for d in docs])
        direct = []
        for i in range(1000):
            t0 = time.perf_counter()
            await emitter.jobs.enqueue(
                "core.deliver_event",
                key=f"direct:{i}",
                event="bench.ticked",
                payload='{"n":0}',
                plugin="bench",
                listener="noop",
            )
            direct.append(time.perf_counter() - t0)
        q = statistics.quantiles(lags, n=100)
        print(f"rate {rate}/s for {seconds} s: {len(lags)} events")
        print(f"commit-to-relay lag ms: p50 {q[49]:.1f}  p99 {q[98]:.1f}  max {lags[-1]:.1f}")
        print(
            f"emit (outbox insert) per event ms: p50 {statistics.median(costs) * 1000:.2f}"
            f"  mean {statistics.mean(costs) * 1000:.2f}"
        )
        print(
            f"direct enqueue per event ms: p50 {statistics.median(direct) * 1000:.2f}"
            f"  mean {statistics.mean(direct) * 1000:.2f}"
        )
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await close_keel(relay_keel)
        await close_keel(emitter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        config.write_text("[plugins]\nenabled = []\n", encoding="utf-8")
        base = load_settings(config, environ={}, overrides={"database.url": "", "valkey.url": ""})
        with DevStack(base, [], data_dir=Path(tmp), ephemeral=True) as stack:
            overrides = {
                **stack.overrides,
                "plugins.enabled": ["bench"],
                "app.log_level": "WARNING",
                "database.name": "bench_events",
            }
            asyncio.run(run(config, overrides, args.rate, args.seconds))


if __name__ == "__main__":
    main()
