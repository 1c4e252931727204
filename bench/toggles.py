"""What the live-toggle check costs on the request path (issue 19: no regression).

Every route of a plugin passes the plugin's gate (``core.http.guards.plugin_gate``): an
in-memory read of the switchboard, no Valkey or database call. This measures, in one run:

1. ``GET /api/hello/`` (a plugin route, gated) and ``GET /health/live`` (a core route, not
   gated) through one real ``keel serve`` process: req/s and per-request time;
2. the gate itself, awaited in a loop in this process: ns per call;

and prints the gate's share of a plugin request's time. The issue's target is "no
regression beyond noise"; the HTTP rounds' own spread is printed next to it.

    .venv/bin/python bench/toggles.py [--seconds 3] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._load import Result, measure, table
from bench._servers import embedded_keel, free_port, keel_argv, process
from core.http.guards import plugin_gate

CALLS = 200_000


class _Board:
    """The switchboard's read, as the gate sees it (one dict lookup)."""

    def __init__(self) -> None:
        self.plugins = {"hello": True}

    def active(self, plugin: str) -> bool:
        return self.plugins.get(plugin, False)


async def _gate_ns() -> float:
    gate = plugin_gate("hello")
    keel = SimpleNamespace(toggles=_Board())
    connection: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(keel=keel)))
    handler: Any = None
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter_ns()
        for _ in range(CALLS):
            await gate(connection, handler)
        best = min(best, (time.perf_counter_ns() - began) / CALLS)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    paths = {"plugin route (gated)": "/api/hello/", "core route": "/health/live"}
    port = free_port()
    rounds: dict[str, list[Result]] = {name: [] for name in paths}
    with (
        embedded_keel(["hello"], "bench_toggles") as (_, env),
        process(keel_argv(port), env, f"http://127.0.0.1:{port}/health/live"),
    ):
        names = list(paths)
        for i in range(args.rounds):
            for name in names[i % 2 :] + names[: i % 2]:
                result = asyncio.run(
                    measure(
                        name, port, paths[name], concurrency=args.concurrency, seconds=args.seconds
                    )
                )
                rounds[name].append(result)
    gate_ns = asyncio.run(_gate_ns())
    medians = [sorted(rs, key=lambda r: r.rps)[len(rs) // 2] for rs in rounds.values()]
    print(f"{args.concurrency} connections, {args.rounds} rounds of {args.seconds:.0f} s, median")
    print(table(medians, baseline="core route"))
    plugin = medians[0]
    per_request_ns = 1e9 / plugin.rps  # one process: its time per request
    spread = statistics.pstdev([r.rps for r in rounds["plugin route (gated)"]]) / plugin.rps
    print(f"\nthe gate: {gate_ns:.0f} ns per call (best of 5 x {CALLS} calls)")
    print(
        f"share of a plugin request ({per_request_ns / 1000:.0f} us): "
        f"{gate_ns / per_request_ns:.2%}; spread of the HTTP rounds: {spread:.1%}"
    )


if __name__ == "__main__":
    main()
