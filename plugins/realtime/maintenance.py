"""The hub's periodic work: heartbeat pings, the presence lease, token rechecks."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from core.clock import utcnow
from plugins.realtime import contacts
from plugins.realtime.protocol import CLOSE_TIMEOUT, frame

if TYPE_CHECKING:
    from plugins.realtime.hub import Hub

log = logging.getLogger("plugins.realtime")
PING = frame("ping", {})


class Maintenance:
    """The loop a started hub runs until it closes.

    Each tick (half the shorter heartbeat setting, at most ``revocation_check_s``) it
    pings quiet sockets and closes those that did not answer in time (4408), renews the
    socket count's and the presence leases every half ``heartbeat_s``, makes open sockets
    forget lapsed contacts every ``contacts_check_s``, and starts a
    recheck of every socket's token every ``revocation_check_s`` or as soon as the
    channel was resubscribed (the subscription may have missed revocations meanwhile).

    Args:
        hub: the process's hub.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._rechecking = False
        self._contacts_since = utcnow()
        """Lapses up to here are known to this process's sockets (learned after it)."""

    async def run(self) -> None:
        """Tick until cancelled."""
        hub, settings = self.hub, self.hub.settings
        tick = min(settings.heartbeat_s, settings.heartbeat_timeout_s) / 2
        tick = min(tick, settings.revocation_check_s, settings.contacts_check_s)
        next_lease = 0.0
        next_contacts = time.monotonic() + settings.contacts_check_s
        next_check = time.monotonic() + settings.revocation_check_s
        subscriptions = 1
        while True:
            await asyncio.sleep(tick)
            self._heartbeat()
            now = time.monotonic()
            made = hub.subscriber.connections if hub.subscriber is not None else 1
            if (now >= next_check or made > subscriptions) and not self._rechecking:
                next_check, subscriptions = now + settings.revocation_check_s, made
                self._rechecking = True
                hub.background(self._recheck())
            if now >= next_lease:
                next_lease = now + settings.heartbeat_s / 2
                await self._renew()
            if now >= next_contacts:
                next_contacts = now + settings.contacts_check_s
                await self._forget_lapsed()

    async def _renew(self) -> None:
        """Renew the leases: the socket count's and, with presence on, presence's."""
        try:
            await self.hub.sockets.renew()
        except Exception:
            log.exception("realtime: socket count lease renewal failed")
        if self.hub.feature("presence"):
            try:
                await self.hub.renew_lease()
            except Exception:
                log.exception("realtime: presence lease renewal failed")

    async def _forget_lapsed(self) -> None:
        """Open sockets forget the contacts that lapsed since the last look."""
        since, self._contacts_since = self._contacts_since, utcnow()
        try:
            pairs = await contacts.lapsed_between(self.hub.keel, since, self._contacts_since)
        except Exception:
            self._contacts_since = since  # look at the same span again next time
            log.exception("realtime: looking for lapsed contacts failed")
            return
        for a, b in pairs:
            self.hub.forget(a, b)
            self.hub.forget(b, a)

    async def _recheck(self) -> None:
        try:
            await self.hub.guard.recheck()
        finally:
            self._rechecking = False

    def _heartbeat(self) -> None:
        settings = self.hub.settings
        now = time.monotonic()
        for conn in list(self.hub.connections):
            if conn.awaiting_pong:
                if now - conn.last_ping > settings.heartbeat_timeout_s:
                    conn.close(CLOSE_TIMEOUT, "heartbeat timeout")
            elif now - conn.last_ping >= settings.heartbeat_s:
                conn.awaiting_pong = True
                conn.last_ping = now
                conn.push(PING)
