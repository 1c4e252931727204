"""Notifications throughput: events/s through to a delivered email, with one worker.

Starts the embedded stack (SecantusDB, valkey-server, the SMTP sink), opens one keel
runtime with the notifications plugin and a bench publisher, and in the same run:

1. a baseline: ``--events`` no-op SAQ jobs, enqueued, then drained by one burst worker;
2. ``--events`` events (``payment.completed`` by default: a user lookup, preferences,
   an in-app notification + ``notification.created``, a rendered receipt), emitted, then
   one burst worker runs every listener and mail job until the SMTP sink holds one
   ``.eml`` per event.

The worker is :func:`core.runtime.run_worker` (one SAQ worker per queue, ``[queue]
concurrency`` jobs at once each), as ``keel worker`` runs it.

    .venv/bin/python bench/notifications.py [--events 500] [--event payment.completed]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bson import ObjectId

from core import Event, Job, Plugin, hookimpl
from core.context import Keel
from core.devstack import DevStack
from core.pluginhost import InstalledPlugin, PluginHost, discover, plugin_settings_types
from core.runtime import close_keel, open_keel, run_worker
from core.settings import Settings, load_settings
from plugins.accounts.documents import User
from plugins.accounts.events import UserCreated


class PaymentCompleted(Event, frozen=True, kw_only=True):
    """The shape notifications expects of the payments plugin's ``payment.completed``."""

    name: ClassVar[str] = "payment.completed"
    booking_id: str
    payment_id: str
    customer_id: str
    amount: int
    currency: str


async def noop(_ctx: dict[str, Any]) -> None:
    """The baseline job."""


class BenchPlugin(Plugin):
    """Publishes ``payment.completed`` and registers the no-op job."""

    name = "bench"

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        return [PaymentCompleted]

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        return [Job("noop", noop)]


def _settings(stack: DevStack) -> tuple[Settings, dict[str, InstalledPlugin]]:
    installed = discover()
    installed["bench"] = InstalledPlugin("bench", BenchPlugin, "0", "bench")
    settings = load_settings(
        None,
        environ={},
        overrides={
            **stack.overrides,
            "plugins.enabled": ["notifications", "bench"],
            "app.env": "test",
            "valkey.key_prefix": "bench",
        },
        plugin_types=plugin_settings_types(installed),
    )
    return settings, installed


async def _drain(keel: Keel) -> float:
    start = time.perf_counter()
    await run_worker(keel, burst=True, scheduler=False)
    return time.perf_counter() - start


async def _baseline(keel: Keel, count: int) -> float:
    await asyncio.gather(*(keel.jobs.enqueue("bench.noop") for _ in range(count)))
    return count / await _drain(keel)


def _count(mail_dir: Path) -> int:
    return sum(1 for _ in mail_dir.glob("*.eml"))


async def _events(keel: Keel, count: int, kind: str, mail_dir: Path) -> tuple[float, float]:
    users = [
        User(
            id=ObjectId(),
            name=f"User {i}",
            email=f"u{i}@example.com",
            email_key=f"u{i}@example.com",
            password_hash="x",  # noqa: S106 - never used to log in
        )
        for i in range(count)
    ]
    await keel.db.get_collection(User).insert_many([u.model_dump_doc() for u in users])
    events: list[Event] = [
        PaymentCompleted(
            booking_id="b" * 24,
            payment_id=f"pi_{i}",
            customer_id=str(u.id),
            amount=1250,
            currency="EUR",
        )
        if kind == "payment.completed"
        else UserCreated(user_id=str(u.id), email=u.email, display_name=u.name, role="customer")
        for i, u in enumerate(users)
    ]
    before = await asyncio.to_thread(_count, mail_dir)
    start = time.perf_counter()
    await asyncio.gather(*(keel.events.emit(e) for e in events))
    emitted = time.perf_counter() - start
    drained = await _drain(keel)
    # the sink is another process: poll its directory until every message is there
    while await asyncio.to_thread(_count, mail_dir) - before < count:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    total = time.perf_counter() - start
    return count / emitted, count / (total if total > 0 else drained)


async def _run(stack: DevStack, count: int, kind: str) -> None:
    settings, installed = _settings(stack)
    host = PluginHost(settings, installed)
    keel = await open_keel(settings, host)
    try:
        await host.startup(keel)
        baseline = await _baseline(keel, count)
        emit_rate, delivered = await _events(keel, count, kind, stack.mail_dir)
    finally:
        await host.shutdown(keel)
        await close_keel(keel)
    q = settings.queue
    print(f"one worker (concurrency {q.concurrency} per queue), {count} each:")
    print(f"  no-op SAQ job, enqueue -> done     {baseline:8.0f} jobs/s")
    print(f"  {kind} emit() only          {emit_rate:8.0f} events/s")
    print(
        f"  {kind} -> email in sink     {delivered:8.0f} events/s "
        f"({delivered / baseline:.0%} of the no-op rate; each event = 2 jobs + SMTP)"
    )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument(
        "--event", choices=["payment.completed", "user.created"], default="payment.completed"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(None, environ={}, plugin_types=plugin_settings_types(discover()))
        with DevStack(settings, [], data_dir=Path(tmp) / "stack", ephemeral=True) as stack:
            asyncio.run(_run(stack, args.events, args.event))


if __name__ == "__main__":
    main()
