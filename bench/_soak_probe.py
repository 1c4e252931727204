"""What ``bench/soak.py`` measures: process RSS, Valkey keys, MongoDB counts, SAQ depths, logs.

Every probe reads the real thing: ``/proc`` for memory, ``SCAN`` + ``TTL`` on the shared
valkey-server, ``count_documents`` on the soak's database, SAQ's own keys
(``saq:<prefix>:<queue>:queued|active|incomplete``) and the JSON lines in ``[app] log_dir``.
"""

from __future__ import annotations

import collections
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymongo
import valkey

_VARIABLE = re.compile(r"^(?:[0-9a-f]{12,}|\d+(?:\.\d+)?|[0-9A-Za-z_-]{20,}|.*\d{6,}.*)$")
"""A key segment that names one thing (an id, a digest, a time, a token): not a family."""


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (``keel serve`` may fork uvicorn workers)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def family(key: str) -> str:
    """``key`` with its variable segments as ``*``: ``soak:realtime:presence:*``."""
    parts = key.split(":")
    return ":".join(p if i == 0 or not _VARIABLE.match(p) else "*" for i, p in enumerate(parts))


@dataclass
class KeySnapshot:
    """Every key of the database at one moment, by family, with and without a TTL."""

    total: int
    used_memory: int = 0
    """Valkey's ``used_memory`` (bytes) at the snapshot."""
    no_ttl: collections.Counter[str] = field(default_factory=collections.Counter)
    with_ttl: collections.Counter[str] = field(default_factory=collections.Counter)
    ttl_max: dict[str, int] = field(default_factory=dict)
    """The longest remaining TTL (s) in each family with TTLs: how long it may grow."""

    @property
    def no_ttl_total(self) -> int:
        return sum(self.no_ttl.values())


def valkey_keys(client: valkey.Valkey) -> KeySnapshot:
    """``DBSIZE`` and each key's family and TTL (``SCAN``, pipelined ``TTL``)."""
    total: int = client.dbsize()  # type: ignore[assignment]
    memory: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
    snap = KeySnapshot(total, int(memory["used_memory"]))
    keys = [k.decode(errors="replace") for k in client.scan_iter(count=1000)]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.ttl(key)
        for key, ttl in zip(chunk, pipe.execute(), strict=True):
            if ttl == -2:  # expired between SCAN and TTL
                continue
            name = family(key)
            if ttl == -1:
                snap.no_ttl[name] += 1
            else:
                snap.with_ttl[name] += 1
                snap.ttl_max[name] = max(ttl, snap.ttl_max.get(name, 0))
    return snap


def mongo_counts(client: pymongo.MongoClient[Any], database: str) -> dict[str, int]:
    """Documents per collection of ``database``."""
    db = client[database]
    return {name: db[name].count_documents({}) for name in sorted(db.list_collection_names())}


@dataclass
class QueueDepth:
    """One SAQ queue: jobs waiting, running, and due-but-unfinished (retries included)."""

    name: str
    queued: int
    active: int
    overdue: int
    later: int

    @property
    def drained(self) -> bool:
        return self.queued == 0 and self.active == 0 and self.overdue == 0


def queue_depths(client: valkey.Valkey, prefix: str, names: list[str]) -> list[QueueDepth]:
    """Depth of each named queue; ``later`` are jobs scheduled for the future (cron ticks,
    delayed retries past now are ``overdue``)."""
    now = time.time()
    found = []
    for name in names:
        base = f"saq:{prefix}:{name}"
        incomplete = f"{base}:incomplete"
        found.append(
            QueueDepth(
                name,
                queued=client.llen(f"{base}:queued"),  # type: ignore[arg-type]
                active=client.llen(f"{base}:active"),  # type: ignore[arg-type]
                overdue=client.zcount(incomplete, "-inf", now),  # type: ignore[arg-type]
                later=client.zcount(incomplete, f"({now}", "+inf"),  # type: ignore[arg-type]
            )
        )
    return found


@dataclass
class LogCounts:
    """Lines per level in the processes' JSON log files, and a few ERROR/WARNING samples."""

    levels: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    tracebacks: int = 0

    def at(self, level: str) -> int:
        return self.levels[level]


def log_counts(log_dir: Path, outputs: list[Path]) -> LogCounts:
    """Count the levels of every line in ``log_dir`` (rotated copies too), and the
    ``Traceback`` lines in the processes' captured stdout/stderr ``outputs``."""
    counts = LogCounts()
    for path in sorted(log_dir.glob("*.log*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                counts.levels["(not JSON)"] += 1
                continue
            level = str(record.get("level", "?"))
            counts.levels[level] += 1
            if level in {"ERROR", "CRITICAL", "WARNING"}:
                bucket = counts.samples.setdefault(level, [])
                text = f"{record.get('logger', '')}: {record.get('msg', '')}"[:240]
                if record.get("exc"):
                    text += " | " + str(record["exc"]).strip().splitlines()[-1][:200]
                if len(bucket) < 5 and text not in bucket:
                    bucket.append(text)
    for path in outputs:
        text = path.read_text(encoding="utf-8", errors="replace")
        counts.tracebacks += text.count("Traceback (most recent call last)")
    return counts
