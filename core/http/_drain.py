"""Graceful drains for ``keel serve`` / ``keel run``: uvicorn with a shutdown that loses nothing.

uvicorn 0.54.0 (pinned in ``constraints.txt``) shuts down like this (``Server.shutdown``):
it closes the listening sockets, which resets every connection the kernel has queued but
the loop has not accepted yet; then it calls ``shutdown()`` on each connection, and the
HTTP protocols close at once every connection that has no request in progress, including
one accepted a moment ago whose request bytes are still unread; WebSockets get a 1012
("service restart") frame. Under load that turns in-flight requests into resets. uvicorn
has no setting for any of it, hence :class:`DrainingServer`, whose ``shutdown``

1. accepts what the kernel has already queued, then closes the listening sockets (new
   connections are refused from then on);
2. closes every WebSocket with 1001 (going away; :class:`GoingAwayWebSocketProtocol`);
3. waits, up to ``[server] grace_period_s`` in all, until no request is in progress and
   no fresh connection still has its first request to come (unread bytes, or accepted
   less than :data:`FIRST_REQUEST_S` ago); responses given meanwhile say
   ``connection: close``;
4. only then closes idle keep-alive connections, waits for the app's tasks, and runs the
   lifespan shutdown.

With ``--workers N`` uvicorn's ``Multiprocess`` supervisor builds a plain ``Server`` in
each worker (the class is hard-wired in ``uvicorn.supervisors.multiprocess.Process``), so
:class:`_Workers` spawns :class:`_DrainingProcess` instead, and closes its own copy of
the shared listening socket first: otherwise the kernel keeps queueing connections that
no worker will accept, and clients hang until the supervisor exits.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import logging
import socket
import sys
import termios
import time
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors.multiprocess import Multiprocess, Process

if TYPE_CHECKING:
    from uvicorn.server import Protocols

log = logging.getLogger("uvicorn.error")
FIRST_REQUEST_S = 1.0
"""How long a connection accepted without a request yet may take to send its first one."""
GOING_AWAY = 1001
STARTUP_S = 60.0
"""How long a new worker may take to start answering pings (see :class:`_Workers`)."""
TICK_S = 0.05


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, but a shutting-down server says 1001, not 1012."""

    def shutdown(self) -> None:
        """Send close 1001 and tell the app the socket is gone (uvicorn's path, other code)."""
        if not self.handshake_complete or self.close_sent:
            super().shutdown()
            return
        self.stop_keepalive()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, "server shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


def _unread_bytes(connection: Protocols) -> int:
    """Bytes the kernel holds for ``connection`` that the loop has not read yet."""
    transport: asyncio.Transport | None = getattr(connection, "transport", None)
    if transport is None or transport.is_closing():
        return 0
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    pending = array.array("i", [0])
    with contextlib.suppress(OSError):
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, pending)
    return pending[0]


class DrainingServer(uvicorn.Server):
    """A uvicorn ``Server`` whose shutdown lets accepted work finish (see the module doc)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Drain, then close; the steps are in the module docstring."""
        log.info("Shutting down")
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + float(self.config.timeout_graceful_shutdown or 0)
        await self._stop_listening(sockets)
        told: set[Protocols] = set()
        while not self.force_exit:
            busy = self._tell_and_count(told, fresh=loop.time() - began < FIRST_REQUEST_S)
            if not busy or loop.time() >= deadline:
                break
            await asyncio.sleep(TICK_S)
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle: closed now; still busy (grace over): after its response
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.1)):
                await self._wait_tasks_to_complete()
        except TimeoutError:
            log.error(
                "Cancel %s running task(s), grace period exceeded", len(self.server_state.tasks)
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, grace period exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _stop_listening(self, sockets: list[socket.socket] | None) -> None:
        """Accept the connections the kernel has queued, then close the listening sockets."""
        loop = asyncio.get_running_loop()
        accepted: list[socket.socket] = []
        for server in self.servers:
            for listening in server.sockets:
                with listening.dup() as dup:
                    dup.setblocking(False)
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        while True:
                            accepted.append(dup.accept()[0])
            server.close()
        for sock in sockets or []:
            sock.close()
        for conn in accepted:
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                await loop.connect_accepted_socket(self._new_protocol, conn, ssl=self.config.ssl)

    def _new_protocol(self) -> asyncio.Protocol:
        """What uvicorn's ``startup`` builds for each accepted connection."""
        factory: Any = self.config.http_protocol_class
        protocol: asyncio.Protocol = factory(
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=asyncio.get_running_loop(),
        )
        return protocol

    def _tell_and_count(self, told: set[Protocols], *, fresh: bool) -> int:
        """Close new WebSockets with 1001, ask busy HTTP connections to close after their
        response; the number of connections still worth waiting for."""
        busy = 0
        for connection in list(self.server_state.connections):
            if not hasattr(connection, "cycle"):  # a WebSocket
                if connection not in told:
                    told.add(connection)
                    connection.shutdown()
                continue
            cycle = connection.cycle
            if cycle is None:  # accepted, its first request not parsed yet
                busy += bool(fresh or _unread_bytes(connection))
            elif not cycle.response_complete:
                cycle.keep_alive = False  # answered with ``connection: close``
                busy += 1
            elif _unread_bytes(connection):  # the next request on a kept-alive connection
                busy += 1
        return busy


class _DrainingProcess(Process):
    """uvicorn's worker process, running a :class:`DrainingServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class _Workers(Multiprocess):
    """uvicorn's supervisor, spawning :class:`_DrainingProcess` workers (uvicorn's own
    ``keep_subprocess_alive`` minus its hard-wired ``Process``, plus a start-up allowance).

    A worker answers the supervisor's pings from a thread it starts once its ``Process``
    is unpickled, which imports keel (about 1 s of CPU, several on a loaded machine;
    uvicorn's own module alone takes a fifth of that). uvicorn would kill a worker whose
    ping takes over ``timeout_worker_healthcheck`` (5 s) and spawn the next one, which
    starts over, forever; so for :data:`STARTUP_S` after its spawn a worker only has to be
    alive, and is pinged from then on.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self._spawned: dict[int | None, float] = {}

    def _spawn(self) -> Process:
        process = _DrainingProcess(self.config, self.sockets)
        process.start()
        self._spawned[process.pid] = time.monotonic()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn() for _ in range(self.processes_num)]

    def _healthy(self, process: Process) -> bool:
        if time.monotonic() - self._spawned.get(process.pid, 0.0) < STARTUP_S:
            return process.process.is_alive()
        return process.is_alive(timeout=self.config.timeout_worker_healthcheck)

    def keep_subprocess_alive(self) -> None:
        for idx, process in enumerate(self.processes):
            if self.should_exit.is_set() or self._healthy(process):
                continue
            process.kill()  # hung or dead
            process.join()
            self._spawned.pop(process.pid, None)
            if process.exitcode == STARTUP_FAILURE:  # every restart would fail the same way
                log.error("Child process [%s] failed to start, stopping.", process.pid)
                self.should_exit.set()
                return
            log.info("Child process [%s] died", process.pid)
            self.processes[idx] = self._spawn()

    def terminate_all(self) -> None:
        for sock in self.sockets:  # the workers close theirs as they drain
            sock.close()
        super().terminate_all()

    def handle_hup(self) -> None:
        log.warning("keel serve: SIGHUP is not supported; restart the service instead")

    def handle_ttin(self) -> None:
        log.warning("keel serve: SIGTTIN is not supported; set --workers instead")

    def handle_ttou(self) -> None:
        log.warning("keel serve: SIGTTOU is not supported; set --workers instead")


def run(app: Any, **kwargs: Any) -> None:
    """``uvicorn.run`` with :class:`DrainingServer` (and its workers when ``workers > 1``)."""
    config = uvicorn.Config(app, ws=GoingAwayWebSocketProtocol, **kwargs)
    if config.workers > 1:
        _Workers(config, sockets=[config.bind_socket()]).run()
        return
    server = DrainingServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
