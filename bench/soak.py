"""Soak: minutes of steady mixed load against two ``keel serve`` processes and one
``keel worker``; does anything leak or drift?

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 10] [--warmup 60] [--drain 120]

One embedded stack (SecantusDB, valkey-server, the SMTP sink, localstripe), every
built-in plugin, production settings (JSON logs, WARNING and up, also into one file per
process). The load (``bench/_soak_load.py``): sign-ins, searches, bookings (emailed;
40 % paid with localstripe's test card, localstripe then posting a signed webhook to keel,
the rest cancelled), WebSocket messages from customers to providers over long-lived sockets,
reconnects, inbox reads; ``--rate`` operations per second, paced open-loop.

Timeline: set-up (ending with a burst of concurrent sign-ins on each API process, so
each of its argon2 threads holds its memory block before the start), ``--warmup`` s of
load (caches, pools and allocators fill), **start** sample, ``--minutes`` of load with an
RSS line each minute, **end** sample, then the load stops and the queues drain. Targets:

- RSS growth <= 10 % per keel process, from the start to the end sample (both under load).
- Valkey keys flat: keys *without a TTL* after a drain at the end vs after a drain at the
  start (at most 5 more, or 1 %). Keys with a TTL (rate windows, kept job results,
  presence) come and go with the load, so they are shown but not judged. A family whose
  TTL-less keys grow with the load is a leak: it is listed.
- Queues drained: after the load stops, within ``--drain`` s, no SAQ job queued, active
  or due (scheduled for later is fine: cron ticks, reminders), and no outbox entry
  left unrelayed.
- No error lines: no ERROR/CRITICAL line in any keel process's log (whole run,
  shutdown included), no traceback on their output; WARNING lines are counted apart.
- No failed operation on the client side (non-2xx answer, WebSocket ``error`` frame,
  connection error).

Exit status 1 when a target fails. Runtime: set-up ~30 s + warm-up + minutes + drain.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymongo
import valkey

from bench import _soak_load as load
from bench import _soak_probe as probe
from bench._soak_report import load_avg, report
from bench._soak_stack import SoakSystem, soak_system


def _rss(system: SoakSystem) -> dict[str, int]:
    """KiB per keel process (with any child it forked)."""
    found = {}
    for proc in system.processes:
        assert proc.proc is not None
        found[proc.name] = sum(probe.rss_kb(p) for p in probe.descendants(proc.proc.pid))
    return found


def _outbox_pending(mongo: pymongo.MongoClient[Any], database: str) -> int:
    return mongo[database]["core_outbox"].count_documents({"relayed_at": None})


async def _drain(
    system: SoakSystem,
    kv: valkey.Valkey,
    mongo: pymongo.MongoClient[Any],
    limit_s: float,
    webhooks: int,
) -> tuple[float, list[probe.QueueDepth], int]:
    """Wait until every queue is drained, the outbox relayed and ``webhooks`` deliveries
    from localstripe recorded (they come on their own, after the intent's answer), or
    ``limit_s``."""
    began = time.monotonic()
    names = system.settings.queue.names
    hooks = mongo[system.database]["payments_webhook_events"]
    while True:
        depths = probe.queue_depths(kv, system.prefix, names)
        pending = _outbox_pending(mongo, system.database)
        settled = all(d.drained for d in depths) and pending == 0
        if (settled and hooks.count_documents({}) >= webhooks) or (
            time.monotonic() - began > limit_s
        ):
            return time.monotonic() - began, depths, pending
        for proc in system.processes:
            proc.check_alive()
        await asyncio.sleep(1.0)


def _print_rss_line(label: str, rss: dict[str, int], began: float, note: str = "") -> None:
    cells = "  ".join(f"{name} {kb / 1024:7.1f}" for name, kb in rss.items())
    elapsed = time.monotonic() - began
    print(f"  {label:<10} t={elapsed:5.0f} s  {cells} MiB  load {load_avg()}  {note}", flush=True)


async def session(system: SoakSystem, args: argparse.Namespace) -> dict[str, Any]:
    """Set up, warm up, measure, drain; everything the report needs."""
    kv: valkey.Valkey = valkey.Valkey.from_url(system.valkey_url)
    mongo: pymongo.MongoClient[Any] = pymongo.MongoClient(system.mongo_url)
    began = time.monotonic()
    world = await load.setup(
        system.ports,
        system.mongo_url,
        system.database,
        customers=args.customers,
        providers=args.providers,
    )
    print(
        f"set up: {len(world.tokens)} users signed in, {len(world.services)} services, "
        f"{len(world.sockets)} sockets; warm-up {args.warmup:.0f} s",
        flush=True,
    )
    await load.drive(world, args.rate, args.warmup)
    rss_start = _rss(system)
    _print_rss_line("start", rss_start, began)
    drained_s, _, _ = await _drain(system, kv, mongo, args.drain, world.tally.ok["payment"])
    keys_start = probe.valkey_keys(kv)
    mongo_start = probe.mongo_counts(mongo, system.database)
    print(f"  (start snapshot of Valkey and MongoDB after a {drained_s:.0f} s drain)", flush=True)
    samples = [rss_start]
    minutes = max(1, round(args.minutes))
    for minute in range(minutes):
        last = minute == minutes - 1
        await load.drive(world, args.rate, args.minutes * 60 / minutes, settle=last)
        for proc in system.processes:
            proc.check_alive()
        samples.append(_rss(system))
        failed = sum(world.tally.failed.values())
        label = "end" if last else f"minute {minute + 1}"
        _print_rss_line(label, samples[-1], began, f"failed ops so far {failed}")
    paid = world.tally.ok["payment"]
    drained_s, depths, outbox = await _drain(system, kv, mongo, args.drain, paid)
    rss_drained = _rss(system)
    keys_end = probe.valkey_keys(kv)
    mongo_end = probe.mongo_counts(mongo, system.database)
    await load.close(world)
    kv.close()  # type: ignore[no-untyped-call]
    mongo.close()
    return {
        "rss": samples,
        "rss_drained": rss_drained,
        "keys": (keys_start, keys_end),
        "mongo": (mongo_start, mongo_end),
        "depths": depths,
        "outbox": outbox,
        "drained_s": drained_s,
        "tally": world.tally,
        "bookings": world.bookings,
        "paid": paid,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0, help="operations per second")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the start")
    parser.add_argument("--drain", type=float, default=120.0, help="longest drain wait, s")
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument(
        "--keep",
        type=Path,
        default=Path(tempfile.gettempdir()) / f"keel-soak-{time.strftime('%Y%m%d-%H%M%S')}",
        help="where the processes' logs and output are copied at the end",
    )
    args = parser.parse_args()
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} ops/s after a {args.warmup:g} s warm-up;"
        f" load average {load_avg()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="keel-soak-") as tmp, soak_system(Path(tmp)) as system:
        results = asyncio.run(session(system, args))
        stopped = system.stop()
        print("stopped: " + ", ".join(f"{n} exit {c} in {s} s" for n, c, s in stopped))
        passed = report(system, args, results)
        shutil.copytree(system.log_dir, args.keep / "logs")
        for proc in system.processes:
            shutil.copy(proc.log_path, args.keep)
        print(f"logs kept in {args.keep}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
