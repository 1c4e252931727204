"""A small HTTP/1.1 keep-alive load generator for the benchmarks (asyncio + uvloop).

Python is the client here, so each benchmark compares servers measured with the same
client in the same run (ratios), never absolute numbers across runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class Result:
    """Throughput and latency of one measured run."""

    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.pct(0.99)


def _request(
    host: str, port: int, method: str, path: str, *, headers: Mapping[str, str], body: bytes
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def _client(
    host: str, port: int, raw: bytes, *, deadline: float, result: Result, ok: set[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(raw)
            status = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            result.requests += 1
            if status not in ok:
                result.errors += 1
    finally:
        writer.close()


async def measure(
    name: str,
    port: int,
    path: str,
    *,
    host: str = "127.0.0.1",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    concurrency: int = 16,
    seconds: float = 3.0,
    warmup: float = 0.5,
    ok: frozenset[int] = frozenset({200}),
) -> Result:
    """Run ``concurrency`` keep-alive clients against one URL for ``seconds``."""
    raw = _request(host, port, method, path, headers=headers or {}, body=body)
    if warmup:
        scratch = Result(name, 0, 0, 0.0, [])
        end = time.perf_counter() + warmup
        await asyncio.gather(
            *(
                _client(host, port, raw, deadline=end, result=scratch, ok=set(ok))
                for _ in range(concurrency)
            )
        )
    result = Result(name, 0, 0, 0.0, [])
    start = time.perf_counter()
    await asyncio.gather(
        *(
            _client(host, port, raw, deadline=start + seconds, result=result, ok=set(ok))
            for _ in range(concurrency)
        )
    )
    result.seconds = time.perf_counter() - start
    return result


def table(results: list[Result], baseline: str) -> str:
    """A printable table with each result's req/s relative to ``baseline``."""
    base = next(r for r in results if r.name == baseline).rps or 1.0
    rows = [
        f"{'server':<28}{'req/s':>10}{'vs ' + baseline:>18}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'errors':>8}"
    ]
    for r in results:
        rows.append(
            f"{r.name:<28}{r.rps:>10.0f}{r.rps / base:>17.0%} {r.p50:>10.2f}"
            f"{r.p99:>10.2f}{r.errors:>8}"
        )
    return "\n".join(rows)
