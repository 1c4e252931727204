"""The outbox relay: moves outbox entries to the SAQ queues, one relay per cluster.

Every worker process (``keel worker``, ``keel run``) runs a :class:`Relay`; the one
holding the ``outbox-relay`` lease (:mod:`core.lease`, in MongoDB) relays, the others
stand by and take over within ``[events] lease_s`` when it stops renewing. A round reads
the oldest unrelayed entries, enqueues one ``core.deliver_event`` job per delivery (key
``<event id>:<plugin>.<listener>``) and marks the longest prefix that made it as relayed;
on a Valkey error the rest waits for the next round, so nothing is skipped. A crash
between enqueue and mark enqueues again: the job key (while queued) and the delivery's
done-marker (after) make that a no-op, so each listener still runs once.

Order per aggregate: each job names the previous event of the same aggregate delivered
to the same listener (``after``), and the delivery waits for that one's done-marker
(:meth:`core.events.EventBus.deliver`).

Valkey losing its data (restarted without persistence, flushed, an empty replica promoted)
takes the queued jobs and the done-markers with it. The active relay notices within
``VALKEY_CHECK_S``: a marker it keeps in Valkey (``core:valkey-epoch``, its value also in
MongoDB's ``core_valkey``) is gone. It then hands every relayed entry with a delivery not
recorded done (:func:`core.outbox.recover`) back to itself; those deliveries look for the
MongoDB record before running, so a listener that ran before the loss does not run again.
Only the outbox is recovered this way: other jobs (mail queued by a listener, retries,
schedules) and Valkey's other state are gone, which is why production Valkey must persist
(docs/deploy.md). The loss is logged as an error either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError
from valkey.exceptions import ValkeyError

from core import outbox
from core.errors import ServiceUnavailableError
from core.lease import Lease
from core.stash import StashKey

if TYPE_CHECKING:
    from core.context import Keel

LEASE = "outbox-relay"
PRUNE_EVERY_S = 60.0
WARN_EVERY_S = 10.0
BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)
CACHE_SIZE = 10_000
PREDECESSOR_SCAN = 1000
VALKEY_CHECK_S = 1.0
"""How often the active relay checks that Valkey still holds its data."""
EPOCH_COLLECTION = "core_valkey"
RELAY = StashKey["Relay"]("core.relay")
"""``keel.stash`` key of the process's :class:`Relay`."""
log = logging.getLogger("core.relay")


def get_relay(keel: Keel) -> Relay:
    """This process's relay (one per :class:`core.context.Keel`)."""
    return keel.stash.get_or_create(RELAY, lambda: Relay(keel))


class Relay:
    """Relays this deployment's outbox while it holds the lease (see the module doc)."""

    def __init__(self, keel: Keel) -> None:
        self.keel = keel
        conf = keel.settings.events
        self.lease = Lease(keel, LEASE, conf.lease_s)
        self.relayed = 0
        """Entries this relay has relayed (for tests, metrics and benchmarks)."""
        self._last: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._warned_at = 0.0
        self._pruned_at = 0.0
        self._failures = 0
        self._epoch: str | None = None
        self._checked_at = 0.0

    async def run(self) -> None:
        """Relay until cancelled; gives the lease up on the way out."""
        conf = self.keel.settings.events
        try:
            while True:
                pause = await self._step()
                if pause:
                    await self.keel.events.wait_nudge(pause)
        finally:
            if self.lease.held():
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(conf.lease_s):
                        await asyncio.shield(self.lease.release())

    async def _step(self) -> float:
        """One round; returns how long to wait before the next (0: go on at once)."""
        conf = self.keel.settings.events
        try:
            if not await self._hold():
                return conf.lease_s / 3
            await self.check_valkey()
            moved = await self.relay_once()
            await self._maybe_prune()
        except (PyMongoError, ServiceUnavailableError) as exc:
            self.keel.metrics.core.outbox_relay_errors.inc()
            self._failures += 1
            self._warn(exc)
            return BACKOFF_S[min(self._failures, len(BACKOFF_S)) - 1]
        self._failures = 0
        return 0.0 if moved >= conf.relay_batch else conf.relay_poll_ms / 1000

    async def _hold(self) -> bool:
        remaining = (self.lease.held_until - datetime.now(UTC)).total_seconds()
        if remaining > self.lease.term_s * 2 / 3:
            return True
        was_held = remaining > 0
        held = await self.lease.acquire()
        if held and not was_held:
            log.info("outbox relay active in this process (%s)", self.lease.owner)
        return held

    async def check_valkey(self, *, now: float | None = None) -> int:
        """Notice Valkey having lost its data (at most every ``VALKEY_CHECK_S``) and hand
        the outbox entries whose jobs went with it back to the relay; how many.

        Raises:
            pymongo.errors.PyMongoError: MongoDB unreachable.
        """
        now = time.monotonic() if now is None else now
        if now - self._checked_at < VALKEY_CHECK_S:
            return 0
        try:
            handed = await self._check_epoch()
        except (ValkeyError, OSError):
            return 0  # unreachable: the enqueues say so; check again once it answers
        self._checked_at = now
        return handed

    async def _check_epoch(self) -> int:
        key = self.keel.key("core", "valkey-epoch")
        raw = await self.keel.valkey.get(key)
        current = raw.decode() if isinstance(raw, bytes) else raw
        if self._epoch is None:
            self._epoch = await self._known_epoch(current)
            if current is None and not await self._lost_before():
                await self.keel.valkey.set(key, self._epoch)  # a first start
                return 0
        if current == self._epoch:
            return 0
        handed = await outbox.recover(self.keel)
        self._last.clear()  # the handed-back entries' predecessors come from MongoDB again
        log.error(
            "Valkey lost its data (restarted without persistence?): its queued jobs and"
            " other state are gone; %d outbox entries handed back to the relay",
            handed,
        )
        await self.keel.valkey.set(key, self._epoch)
        self.keel.events.nudge()
        return handed

    async def _known_epoch(self, current: str | None) -> str:
        """The marker value MongoDB keeps; set now (to Valkey's, or a new one) if none."""
        coll = self.keel.db.database[EPOCH_COLLECTION]
        fresh = {"epoch": current or uuid.uuid4().hex, "at": datetime.now(UTC), "new": True}
        await coll.update_one({"_id": "epoch"}, {"$setOnInsert": fresh}, upsert=True)
        found = await coll.find_one({"_id": "epoch"})
        if found is None:  # written just above
            raise PyMongoError("core_valkey: the Valkey epoch just written is missing")
        return str(found["epoch"])

    async def _lost_before(self) -> bool:
        """Whether the epoch in MongoDB was ever seen in Valkey (else this is its first
        start: nothing can have been lost); marks it seen from now on."""
        coll = self.keel.db.database[EPOCH_COLLECTION]
        first = await coll.find_one_and_update(
            {"_id": "epoch", "new": True}, {"$set": {"new": False}}
        )
        return first is None

    async def relay_once(self) -> int:
        """Relay one batch of entries; how many were marked relayed.

        Raises:
            ServiceUnavailableError: Valkey refused a job (the entries before it are
                marked, the rest wait).
            pymongo.errors.PyMongoError: MongoDB unreachable.
        """
        docs = await outbox.unrelayed(self.keel, self.keel.settings.events.relay_batch)
        if not docs:
            return 0
        await self._load_predecessors(docs)
        done: list[Any] = []
        try:
            for doc in docs:
                await self._enqueue(doc)
                done.append(doc["_id"])
        finally:
            if done:
                await outbox.collection(self.keel).update_many(
                    {"_id": {"$in": done}}, {"$set": {"relayed_at": datetime.now(UTC)}}
                )
                self.relayed += len(done)
                self.keel.metrics.core.outbox_relayed.inc(len(done))
        return len(done)

    async def _enqueue(self, doc: dict[str, Any]) -> None:
        jobs = []
        for d in doc["deliveries"]:
            plugin, listener = d["plugin"], d["listener"]
            slot = (doc["aggregate"], f"{plugin}.{listener}")
            after = self._last.get(slot) if doc["aggregate"] else None
            jobs.append(
                self.keel.jobs.enqueue(
                    "core.deliver_event",
                    key=f"{doc['event_id']}:{plugin}.{listener}",
                    queue=d["queue"],
                    event=doc["name"],
                    payload=doc["payload"],
                    plugin=plugin,
                    listener=listener,
                    after=after,
                    recheck=bool(doc.get("recovered")),
                )
            )
        await asyncio.gather(*jobs)
        if doc["aggregate"]:
            for d in doc["deliveries"]:
                self._remember((doc["aggregate"], f"{d['plugin']}.{d['listener']}"), doc)

    def _remember(self, slot: tuple[str, str], doc: dict[str, Any]) -> None:
        self._last[slot] = doc["event_id"]
        self._last.move_to_end(slot)
        while len(self._last) > CACHE_SIZE:
            self._last.popitem(last=False)

    async def _load_predecessors(self, docs: list[dict[str, Any]]) -> None:
        """Fill the cache of last relayed events for aggregates this relay has not seen
        (after a fail-over, or the first event of an aggregate): one query per batch."""
        missing = {
            doc["aggregate"]
            for doc in docs
            if doc["aggregate"]
            and any(
                (doc["aggregate"], f"{d['plugin']}.{d['listener']}") not in self._last
                for d in doc["deliveries"]
            )
        }
        if not missing:
            return
        cursor = (
            outbox.collection(self.keel)
            .find({"aggregate": {"$in": sorted(missing)}, "relayed_at": {"$ne": None}})
            .sort([("at", -1), ("_id", -1)])
            .limit(PREDECESSOR_SCAN)
        )
        found: dict[tuple[str, str], dict[str, Any]] = {}
        async for doc in cursor:
            for d in doc["deliveries"]:
                found.setdefault((doc["aggregate"], f"{d['plugin']}.{d['listener']}"), doc)
        for slot, doc in reversed(list(found.items())):
            if slot not in self._last:
                self._remember(slot, doc)

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        if pruned := await outbox.prune(self.keel):
            log.info("outbox: pruned %d relayed entries past retention", pruned)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at > WARN_EVERY_S:
            self._warned_at = now
            log.warning("outbox relay waiting: %s: %s", type(exc).__name__, exc)
