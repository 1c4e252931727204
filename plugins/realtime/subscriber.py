"""The hub's Valkey pub/sub subscription: one channel, each message handed over at once.

valkey-py's ``PubSub`` reads a message through a dozen coroutine layers (retry, timeout,
health check, parser) in a task that the socket's read callback has to wake: every
process pays that for every frame of the deployment, and the wake-up is one more
event-loop turn on each typing indicator's trip (``bench/realtime.py`` measures it). This
subscriber is an ``asyncio.Protocol`` on the same C parser valkey-py uses (libvalkey):
the read callback parses the bytes and hands each message to the hub there and then.

It does only what a subscription needs: connect (TCP, TLS or a Unix socket, from the
same URL as the rest of keel), ``AUTH``, ``SUBSCRIBE``, a ``PING`` when the channel has
been quiet for a while (a dead server is noticed), and reconnecting with a short backoff.
Messages published while it reconnects are lost, as with any pub/sub subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import libvalkey
from valkey.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

log = logging.getLogger("plugins.realtime")
RECONNECT_S = 0.5
"""Pause between a lost subscription and the next attempt; doubles while attempts fail."""
RECONNECT_MAX_S = 5.0
"""The longest pause (an outage logs one line per attempt)."""


def command(*args: str | bytes) -> bytes:
    """A command in the Valkey protocol (RESP)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    """The connection: replies are parsed as bytes arrive; messages go to ``on_message``."""

    def __init__(self, channel: bytes, on_message: Callable[[bytes], None]) -> None:
        self.channel = channel
        self.on_message = on_message
        self.reader = libvalkey.Reader()
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[Exception | None] = loop.create_future()
        """None once subscribed, or why subscribing failed."""
        self.lost: asyncio.Future[str] = loop.create_future()
        """Why the connection was lost, once it is."""
        self.last_heard = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def connection_lost(self, exc: Exception | None) -> None:
        why = f"connection lost ({exc or 'closed by the server'})"
        if not self.subscribed.done():
            self.subscribed.set_result(ConnectionError(why))
        if not self.lost.done():
            self.lost.set_result(why)

    def data_received(self, data: bytes) -> None:
        self.last_heard = time.monotonic()
        reader = self.reader
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if _is(reply, b"message"):
                try:
                    self.on_message(reply[2])
                except Exception:
                    log.exception("realtime: delivering a pub/sub message failed")
            else:
                self._control(reply)

    def _control(self, reply: Any) -> None:
        if isinstance(reply, Exception):  # AUTH refused, or anything else the server rejects
            if not self.subscribed.done():
                self.subscribed.set_result(reply)
            log.error("realtime: Valkey refused a pub/sub command: %s", reply)
            if self.transport is not None:
                self.transport.close()
        elif _is(reply, b"subscribe") and not self.subscribed.done():
            self.subscribed.set_result(None)

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class Subscriber:
    """Keeps one subscription to ``channel`` alive until :meth:`run` is cancelled.

    Args:
        url: the Valkey URL (``redis://``, ``rediss://`` or ``unix://``).
        channel: the channel to subscribe to.
        on_message: called with each message's payload, inside the read callback.
        timeout_s: bound on connecting, subscribing and each health check.
        health_s: a quiet subscription is PINGed after this many seconds.
        name: the connection's name in ``CLIENT LIST``.
        on_lost: called when Valkey stays unreachable after a subscription was lost
            (see :meth:`run`): what is published until the next one never arrives here.
        resolve: when given, asked for the URL before each (re)connection instead of
            ``url`` (the primary that ``[valkey] sentinels`` name now).
    """

    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[bytes], None],
        *,
        timeout_s: float,
        health_s: float,
        name: str = "keel-realtime",
        on_lost: Callable[[], None] | None = None,
        resolve: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.url = url
        self.resolve = resolve
        self.channel = channel.encode()
        self.on_message = on_message
        self.timeout_s = timeout_s
        self.health_s = health_s
        self.name = name
        self.on_lost = on_lost
        self.subscribed = asyncio.Event()
        """Set while subscribed (cleared while reconnecting)."""
        self.connections = 0
        """Subscriptions made so far (1 + reconnects)."""

    async def run(self) -> None:
        """Subscribe, stay subscribed, reconnect when the connection is lost.

        ``on_lost`` is called once per outage, when the first attempt to subscribe again
        fails (Valkey is down, not just this connection): a quick reconnect after a
        dropped connection keeps the sockets, as the resubscribe's checks cover it.
        """
        pause = RECONNECT_S
        outage = False  # a subscription was lost and the next attempt is still to succeed
        while True:
            protocol: _Protocol | None = None
            try:
                protocol = await self._subscribe()
                self.connections += 1
                self.subscribed.set()
                pause, outage = RECONNECT_S, False
                await self._watch(protocol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "realtime: pub/sub subscription lost (%s); reconnecting in %.1f s", exc, pause
                )
                if protocol is None and outage and self.on_lost is not None:
                    self.on_lost()
                    outage = False  # reported; the next success starts over
            finally:
                outage = outage or self.subscribed.is_set()
                self.subscribed.clear()
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abort()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_S)

    async def _subscribe(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout_s):
            url = await self.resolve() if self.resolve is not None else self.url
        options = parse_url(url)
        kind = options.get("connection_class")

        def factory() -> _Protocol:
            return _Protocol(self.channel, self.on_message)

        async with asyncio.timeout(self.timeout_s):
            if kind is UnixDomainSocketConnection:
                _, protocol = await loop.create_unix_connection(factory, options["path"])
            else:
                tls = ssl.create_default_context() if kind is SSLConnection else None
                _, protocol = await loop.create_connection(
                    factory, options.get("host", "localhost"), options.get("port", 6379), ssl=tls
                )
            try:
                if options.get("password"):
                    auth = [options["password"]]
                    if options.get("username"):
                        auth.insert(0, options["username"])
                    protocol.send(command("AUTH", *auth))
                protocol.send(command("CLIENT", "SETNAME", self.name))
                protocol.send(command("SUBSCRIBE", self.channel))
                error = await protocol.subscribed
            except BaseException:
                if protocol.transport is not None:
                    protocol.transport.abort()
                raise
        if error is not None:
            raise error
        return protocol

    async def _watch(self, protocol: _Protocol) -> None:
        """Raise when the connection is lost or stops answering PINGs."""
        while True:
            quiet = time.monotonic() - protocol.last_heard
            if quiet >= self.health_s:
                protocol.send(command("PING"))
                pinged = time.monotonic()
                await self._until_lost(protocol, self.timeout_s)
                if protocol.last_heard < pinged:
                    raise ConnectionError(f"no answer to PING within {self.timeout_s} s")
            else:
                await self._until_lost(protocol, self.health_s - quiet)

    @staticmethod
    async def _until_lost(protocol: _Protocol, wait_s: float) -> None:
        """Wait ``wait_s``; raise ConnectionError as soon as the connection is lost."""
        with contextlib.suppress(TimeoutError):
            why = await asyncio.wait_for(asyncio.shield(protocol.lost), wait_s)
            raise ConnectionError(why)


def _is(reply: Any, kind: bytes) -> bool:
    """Whether ``reply`` is a pub/sub push of ``kind`` (``message``, ``subscribe``)."""
    return type(reply) is list and len(reply) == 3 and reply[0] == kind  # noqa: PLR2004
