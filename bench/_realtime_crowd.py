"""The crowd of ``bench/realtime.py``: every connection but the measured pair.

It runs in its own process, so the background load and the fan-out counting never
share a CPU turn with the latency probe. The parent drives it with one JSON command
per line on stdin and reads one JSON answer per line on stdout:

- ``{"cmd": "open", "uids": [...], "start": i}``: connect them; ``{"open": n}``.
- ``{"cmd": "close"}``: drop every connection; ``{"closed": n}``.
- ``{"cmd": "load", "pairs": k, "rate": r}``: start sending ``r`` typing frames/s in
  total, evenly paced, from connection 2i to connection 2i+1 for i < k.
- ``{"cmd": "stop"}``: stop the load; ``{"sent": n, "received": n, "seconds": s}``.
- ``{"cmd": "fanout", "messages": m, "members": [...]}``: send ``m`` room messages from
  the first connection; ``{"delivered": n, "seconds": s}`` once every connection got
  all of them (or after 120 s).

Run by the benchmark as ``python -m bench._realtime_crowd PEER_JSON_FILE``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from bench._realtime_clients import Client, Peer, close_all, listen, open_many

PACE_S = 0.002
"""The load sends a small batch this often, so it flows evenly rather than in bursts."""


class Crowd:
    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.clients: list[Client] = []
        self.stop = asyncio.Event()
        self.loader: asyncio.Task[tuple[int, float]] | None = None
        self.received = 0

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        cmd = command["cmd"]
        if cmd == "open":
            self.clients += await open_many(self.peer, command["uids"], command["start"])
            return {"open": len(self.clients)}
        if cmd == "close":
            closed = len(self.clients)
            close_all(self.clients)
            self.clients = []
            return {"closed": closed}
        if cmd == "load":
            self.stop.clear()
            self.loader = asyncio.create_task(self.load(command["pairs"], command["rate"]))
            return {"load": True}
        if cmd == "stop":
            assert self.loader is not None
            self.stop.set()
            sent, seconds = await self.loader
            await asyncio.sleep(0.5)  # frames still on their way
            return {"sent": sent, "received": self.received, "seconds": seconds}
        if cmd == "fanout":
            return await self.fanout(command["messages"], command["members"])
        raise ValueError(f"unknown command {cmd!r}")

    def _count(self, _payload: bytes) -> None:
        self.received += 1

    async def load(self, pairs: int, rate: float) -> tuple[int, float]:
        # neighbours are on different server processes: every frame crosses over
        senders, receivers = self.clients[0 : 2 * pairs : 2], self.clients[1 : 2 * pairs : 2]
        frames = [self.peer.typing(r.uid) for r in receivers]
        for receiver in receivers:
            listen(receiver, self._count)
        sent, start = 0, time.perf_counter()
        while not self.stop.is_set():
            due = int((time.perf_counter() - start) * rate) + 1
            while sent < due:
                i = sent % pairs
                senders[i].send(frames[i])
                sent += 1
            await asyncio.sleep(PACE_S)
        return sent, time.perf_counter() - start

    async def fanout(self, messages: int, members: list[str]) -> dict[str, Any]:
        expected = messages * len(self.clients)
        count = 0
        done = asyncio.Event()

        def seen(payload: bytes) -> None:
            nonlocal count
            if b"fan-out" in payload:
                count += 1
                if count >= expected:
                    done.set()

        for client in self.clients:
            listen(client, seen)
        start = time.perf_counter()
        for i in range(messages):
            self.clients[0].send(self.peer.fanout(members, i))
        try:
            async with asyncio.timeout(120):
                await done.wait()
        except TimeoutError:
            print(f"crowd: only {count}/{expected} fan-out deliveries", file=sys.stderr)
        return {"delivered": count, "seconds": time.perf_counter() - start}


async def main(peer: Peer) -> None:
    crowd = Crowd(peer)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        try:
            answer = await crowd.handle(json.loads(line))
        except Exception as exc:  # reported to the parent, which stops the run
            answer = {"error": repr(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    close_all(crowd.clients)


if __name__ == "__main__":
    uvloop.run(main(Peer(**json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
