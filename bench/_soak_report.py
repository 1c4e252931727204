"""The tables and PASS/FAIL lines of ``bench/soak.py`` (its docstring defines the targets)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench import _soak_load as load
from bench import _soak_probe as probe
from bench._soak_stack import SoakSystem

RSS_GROWTH = 0.10
KEY_SLACK = 5
Verdicts = list[tuple[str, bool]]


def load_avg() -> str:
    """The 1, 5 and 15 minute load averages of the machine."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"


def _rss(args: argparse.Namespace, r: dict[str, Any]) -> Verdicts:
    verdicts = []
    start, end = r["rss"][0], r["rss"][-1]
    print(f"\nRSS per process, MiB (start = after {args.warmup:.0f} s warm-up, under load)")
    print(f"{'process':<10}{'start':>9}{'end':>9}{'growth':>9}{'max':>9}{'drained':>9}")
    for name in start:
        peak = max(s[name] for s in r["rss"])
        growth = (end[name] - start[name]) / start[name] if start[name] else float("inf")
        verdicts.append((f"RSS growth {name} <= {RSS_GROWTH:.0%}", growth <= RSS_GROWTH))
        print(
            f"{name:<10}{start[name] / 1024:>9.1f}{end[name] / 1024:>9.1f}{growth:>+9.1%}"
            f"{peak / 1024:>9.1f}{r['rss_drained'][name] / 1024:>9.1f}"
        )
    return verdicts


def _keys(system: SoakSystem, r: dict[str, Any]) -> Verdicts:
    k0, k1 = r["keys"]
    print(f"\nValkey keys (both snapshots after a drain; <p> = key prefix {system.prefix})")
    print(f"{'':<66}{'start':>8}{'end':>8}{'max TTL':>10}")
    print(f"{'DBSIZE':<66}{k0.total:>8}{k1.total:>8}")
    mib0, mib1 = k0.used_memory / 2**20, k1.used_memory / 2**20
    print(f"{'used_memory, MiB':<66}{mib0:>8.1f}{mib1:>8.1f}")
    for label, a, b in (
        ("without TTL", k0.no_ttl, k1.no_ttl),
        ("with TTL", k0.with_ttl, k1.with_ttl),
    ):
        print(f"{'  ' + label:<66}{sum(a.values()):>8}{sum(b.values()):>8}")
        for fam in sorted(set(a) | set(b)):
            shown = "    " + fam.replace(system.prefix, "<p>")
            ttl = max(k0.ttl_max.get(fam, 0), k1.ttl_max.get(fam, 0))
            print(f"{shown:<66}{a[fam]:>8}{b[fam]:>8}{_duration(ttl) if ttl else '':>10}")
    slack = max(KEY_SLACK, k0.no_ttl_total // 100)
    grown = [f.replace(system.prefix, "<p>") for f in k1.no_ttl if k1.no_ttl[f] > k0.no_ttl[f]]
    if grown:
        print(f"  TTL-less families that grew: {', '.join(grown)}")
    flat = k1.no_ttl_total - k0.no_ttl_total <= slack
    return [(f"Valkey keys without TTL flat (+{slack} at most)", flat)]


def _stores(r: dict[str, Any]) -> Verdicts:
    m0, m1 = r["mongo"]
    print("\nMongoDB documents per collection (start and end after a drain)")
    print(f"{'collection':<36}{'start':>9}{'end':>9}{'delta':>9}")
    for name in sorted(set(m0) | set(m1)):
        a, b = m0.get(name, 0), m1.get(name, 0)
        print(f"{name:<36}{a:>9}{b:>9}{b - a:>+9}")
    print(f"\nSAQ queues after the load stopped ({r['drained_s']:.0f} s drain wait)")
    print(f"{'queue':<16}{'queued':>8}{'active':>8}{'overdue':>8}{'later':>8}")
    for d in r["depths"]:
        print(f"{d.name:<16}{d.queued:>8}{d.active:>8}{d.overdue:>8}{d.later:>8}")
    print(f"outbox entries not relayed: {r['outbox']}")
    drained = all(d.drained for d in r["depths"]) and r["outbox"] == 0
    return [("queues drained, outbox relayed", drained)]


def _logs(system: SoakSystem) -> Verdicts:
    logs = probe.log_counts(system.log_dir, [p.log_path for p in system.processes])
    print("\nLog lines of the keel processes (whole run, shutdown included), by level")
    files = len(list(system.log_dir.glob("*.log*")))
    levels = ", ".join(f"{lvl} {n}" for lvl, n in sorted(logs.levels.items())) or "none"
    print(f"  {levels} (in {files} files of {system.log_dir.name}/)")
    print(f"  tracebacks on stdout/stderr: {logs.tracebacks}")
    for level, lines in logs.samples.items():
        for line in lines:
            print(f"  {level}: {line}")
    print(f"  (WARNING lines: {logs.at('WARNING')}, not a target)")
    errors = logs.at("ERROR") + logs.at("CRITICAL") + logs.tracebacks
    return [("no ERROR lines", errors == 0)]


def _client(system: SoakSystem, r: dict[str, Any]) -> Verdicts:
    tally: load.Tally = r["tally"]
    mails = len(list(system.stack.mail_dir.glob("*.eml")))
    print("\nClient side (whole run)")
    for op in load.MIX | {"payment": 0, "cancel": 0, "wsFrame": 0}:
        print(
            f"  {op:<12} ok {tally.ok[op]:>7}  failed {tally.failed[op]:>5}"
            f"  p50 {tally.pct(op, 0.5):>7.0f} ms  p99 {tally.pct(op, 0.99):>7.0f} ms"
        )
    print(f"  frames received: {dict(tally.frames)}")
    print(f"  ticks skipped (>{load.MAX_IN_FLIGHT} in flight): {tally.skipped}")
    hooks = r["mongo"][1].get("payments_webhook_events", 0)
    print(f"  bookings {r['bookings']}, emails in the SMTP sink {mails}, webhook deliveries")
    print(f"  from localstripe recorded by keel (payments_webhook_events) {hooks}")
    for line in tally.samples:
        print(f"  failed: {line}")
    return [
        ("no failed client operations", sum(tally.failed.values()) == 0),
        (f"a webhook recorded per payment ({hooks} for {r['paid']})", hooks >= r["paid"]),
    ]


def report(system: SoakSystem, args: argparse.Namespace, r: dict[str, Any]) -> bool:
    """Print the tables and a PASS/FAIL line per target; True when all pass."""
    verdicts = [
        *_rss(args, r),
        *_keys(system, r),
        *_stores(r),
        *_logs(system),
        *_client(system, r),
    ]
    print(f"\nload average at the end: {load_avg()} (2 cores, shared)")
    for name, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return all(ok for _, ok in verdicts)
