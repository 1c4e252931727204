"""Workers stopped or killed with jobs running: nothing lost, no effect twice.

Real ``keel worker`` processes, real signals. The jobs are the hello fixture plugin's
``hello.slow_effect`` (it notes each attempt in ``hello_slow_runs``, takes as long as its
argument says, then writes one undeduplicated document to ``hello_slow_effects``) and the
customer's booking email, sent to a sink in this process that kills the sending worker at a
chosen point of the SMTP transaction.

How soon a dead worker's job runs again: its worker beat its heartbeat every
``heartbeat_s / 3``; a sweep (every ``heartbeat_s // 2`` s, at least 1) finds it once the
heartbeat is ``heartbeat_s`` old, waits 5 s for a live worker to stop it, and retries it
(delay up to ``retry_delay_s``, then up to a 1 s scheduling poll). With ``heartbeat_s = 2``
that is at most about 2 + 1 + 5 + 1 + 1 = 10 s (measured: 8.5 s); :data:`RERUN_WITHIN_S`
allows 14.

Runtime: 17-33 s per case, 90-130 s for the file on 2 shared cores (most of it keel
processes starting and the 10 s re-run bound); about 70 s with ``-n 2``.
"""

from __future__ import annotations

import email
import json
import signal
import time
import uuid
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
import valkey
from conftest import (
    Cluster,
    Trap,
    TrapSink,
    booking_body,
    enqueue,
    live_workers,
    make_service,
    signup,
)

pytestmark = pytest.mark.e2e

HEARTBEAT_S = 2
GRACE_S = 5.0  # write_config's [server] grace_period_s
RERUN_WITHIN_S = 14.0
SLOW = f"""
[queue]
heartbeat_s = {HEARTBEAT_S}
retry_delay_s = 0.5

[plugins.hello]
slow_jobs = true
tick_cron = "0 0 1 1 * 0"
"""


def runs(cluster: Cluster, token: str) -> list[dict[str, Any]]:
    with cluster.mongo() as client:
        found = client[cluster.db_name]["hello_slow_runs"].find({"token": token})
        return sorted(found, key=lambda d: d["started_at"])


def effects(cluster: Cluster, token: str) -> list[dict[str, Any]]:
    with cluster.mongo() as client:
        return list(client[cluster.db_name]["hello_slow_effects"].find({"token": token}))


def started_worker(cluster: Cluster, name: str, expect: int) -> Any:
    proc = cluster.worker(name)
    cluster.wait_for(lambda: live_workers(cluster) >= expect, 30, f"{name} to serve its queues")
    return proc


def slow(token: str, seconds: float) -> tuple[str, dict[str, Any]]:
    return "hello.slow_effect", {"token": token, "seconds": seconds}


def test_sigterm_short_jobs_finish_long_ones_go_back_and_run_once(cluster_factory: Any) -> None:
    cluster = cluster_factory(extra=SLOW, plugins=["hello"])
    first = started_worker(cluster, "worker1", 1)
    tag = uuid.uuid4().hex[:6]
    short, long = [f"{tag}-short{i}" for i in range(2)], f"{tag}-long"
    enqueue(cluster, [slow(short[0], 2), slow(short[1], 3), slow(long, GRACE_S + 3)])
    everyone = [*short, long]
    cluster.wait_for(lambda: all(runs(cluster, t) for t in everyone), 15, "three jobs to start")

    first.send(signal.SIGTERM)
    second = cluster.worker("worker2")  # up while the first one drains
    late = f"{tag}-late"  # enqueued while the first worker drains: it must not start it
    enqueue(cluster, [slow(late, 1)])
    code, took = first.wait(GRACE_S + 5)
    assert code == 0, first.output()[-3000:]
    assert took < GRACE_S + 3

    pid1, pid2 = first.proc.pid, second.proc.pid
    for token in short:  # finished within the grace period, by the first worker
        assert [e["pid"] for e in effects(cluster, token)] == [pid1]
        assert [r["pid"] for r in runs(cluster, token)] == [pid1]
    cluster.wait_for(lambda: effects(cluster, long) and effects(cluster, late), 20, "a re-run")
    time.sleep(1.0)  # a second effect would land by now
    # cut short at the end of the grace period (no effect), then run again on the second
    assert [(r["pid"], r["attempt"]) for r in runs(cluster, long)] == [(pid1, 1), (pid2, 2)]
    assert [e["pid"] for e in effects(cluster, long)] == [pid2]
    assert [r["pid"] for r in runs(cluster, late)] == [pid2]
    assert [e["pid"] for e in effects(cluster, late)] == [pid2]


def test_sigkill_mid_job_runs_again_elsewhere_in_bounded_time(cluster_factory: Any) -> None:
    cluster = cluster_factory(extra=SLOW, plugins=["hello"])
    workers = [cluster.worker("worker1"), cluster.worker("worker2")]
    cluster.wait_for(lambda: live_workers(cluster) >= 2, 30, "two workers to serve their queues")
    token = f"{uuid.uuid4().hex[:6]}-killed"
    enqueue(cluster, [slow(token, 6)])
    cluster.wait_for(lambda: runs(cluster, token), 15, "the job to start")
    (running,) = [w for w in workers if w.proc.pid == runs(cluster, token)[0]["pid"]]
    (other,) = [w for w in workers if w is not running]
    time.sleep(HEARTBEAT_S)  # well into the job, a heartbeat or more beaten
    assert not effects(cluster, token)

    running.send(signal.SIGKILL)
    killed_at = time.time()
    running.wait(5)
    cluster.wait_for(lambda: len(runs(cluster, token)) == 2, RERUN_WITHIN_S, "the re-run")
    again = runs(cluster, token)[1]
    rerun_after = again["started_at"].timestamp() - killed_at
    assert rerun_after < RERUN_WITHIN_S
    assert (again["pid"], again["attempt"]) == (other.proc.pid, 2)
    cluster.wait_for(lambda: effects(cluster, token), 10, "the effect")
    time.sleep(1.0)
    assert [e["pid"] for e in effects(cluster, token)] == [other.proc.pid]
    assert len(runs(cluster, token)) == 2


def book_and_trap(cluster: Cluster, sink: TrapSink, phase: str) -> tuple[str, Trap, Any]:
    """A booking whose customer email reaches the sink while ``phase`` kills its worker;
    a second worker, started once the first is dead, takes over."""
    cluster.env.update(sink.environ())
    serve = cluster.serve()
    first = cluster.worker("worker1")
    serve.wait_ready()
    _, provider = signup(cluster, serve.url, "provider")
    service = make_service(serve.url, provider)
    customer, headers = signup(cluster, serve.url, "customer")
    trap = Trap(phase=phase, rcpt=customer, pid=first.proc.pid)
    sink.handler.trap = trap
    made = httpx.post(
        f"{serve.url}/api/bookings", json=booking_body(service, 30), headers=headers, timeout=15
    )
    assert made.status_code == 201, made.text
    cluster.wait_for(trap.sprung.is_set, 20, f"the customer's email to reach {phase!r}")
    first.wait(5)
    second = cluster.worker("worker2")
    return customer, trap, second


def mail_job(cluster: Cluster, to: str) -> dict[str, Any]:
    """The mail job to ``to``, as stored in Valkey."""
    prefix = cluster.env["KEEL_VALKEY__KEY_PREFIX"]
    url = cluster.env["KEEL_VALKEY__URL"].replace("valkey://", "redis://")
    with valkey.Valkey.from_url(url) as client:
        keys = client.scan_iter(f"saq:job:{prefix}:email:*")
        jobs = [json.loads(client.get(k)) for k in keys if not k.endswith(b":smtp-accepted")]
    (job,) = [j for j in jobs if to in j["kwargs"]["to"]]
    return job


def message_ids(paths: list[Path]) -> list[str]:
    parsed = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]
    return [str(m["Message-ID"]) for m in parsed]


def wait_mails(cluster: Cluster, sink: TrapSink, to: str, n: int) -> list[Path]:
    cluster.wait_for(lambda: len(sink.mails_to(to)) >= n, RERUN_WITHIN_S + 10, f"{n} mails")
    time.sleep(1.5)  # a duplicate would land by now
    return sink.mails_to(to)


def test_sigkill_mid_email_before_the_server_accepts(
    cluster_factory: Any, trap_sink: TrapSink
) -> None:
    cluster = cluster_factory(extra=f"[queue]\nheartbeat_s = {HEARTBEAT_S}\n")
    customer, _, _ = book_and_trap(cluster, trap_sink, "data")
    assert trap_sink.mails_to(customer) == []  # the killed attempt left nothing
    assert len(wait_mails(cluster, trap_sink, customer, 1)) == 1
    assert mail_job(cluster, customer)["attempts"] == 2


def test_sigkill_after_the_server_accepted_the_email_sends_it_once(
    cluster_factory: Any, trap_sink: TrapSink
) -> None:
    cluster = cluster_factory(extra=f"[queue]\nheartbeat_s = {HEARTBEAT_S}\n")
    customer, _, _ = book_and_trap(cluster, trap_sink, "quit")
    assert len(trap_sink.mails_to(customer)) == 1
    # the re-run finds the marker written right after the acceptance, and sends nothing
    cluster.wait_for(
        lambda: mail_job(cluster, customer)["status"] == "complete", RERUN_WITHIN_S, "re-run"
    )
    assert mail_job(cluster, customer)["attempts"] == 2
    time.sleep(1.0)
    assert len(trap_sink.mails_to(customer)) == 1, message_ids(trap_sink.mails_to(customer))


def test_sigkill_between_the_servers_commit_and_its_reply_duplicates_with_one_message_id(
    cluster_factory: Any, trap_sink: TrapSink
) -> None:
    """The window SMTP leaves (RFC 1047): the server stored the message, its acceptance
    never reached the worker, so the re-run sends it again. Pinned here: both copies carry
    the same Message-ID, which receivers that deduplicate by Message-ID show once."""
    cluster = cluster_factory(extra=f"[queue]\nheartbeat_s = {HEARTBEAT_S}\n")
    customer, _, _ = book_and_trap(cluster, trap_sink, "stored")
    mails = wait_mails(cluster, trap_sink, customer, 2)
    assert len(mails) == 2
    first, again = message_ids(mails)
    assert first == again
