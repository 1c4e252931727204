"""Metrics recorded by real traffic in this process (real MongoDB, Valkey and SAQ worker),
read back through the same exposition ``/metrics`` serves; the plugins' own metrics
through ``register_metrics``. Multiprocess aggregation and protection on a real
``keel serve --workers 2``: tests/e2e/test_metrics_serve.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar

import pytest

from core import Event, Job, Listener, Metric, Plugin, hookimpl
from core.context import Keel
from core.errors import PluginError
from core.metrics import QueueCollector, process_metrics, render
from core.runtime import run_worker
from core.testing import AppFactory, KeelFactory

TAG = uuid.uuid4().hex[:8]


class ProbeHappened(Event, frozen=True, kw_only=True):
    name: ClassVar[str] = "probe.happened"
    value: int


async def on_ok(keel: Keel, event: ProbeHappened) -> None:
    keel.metrics.counter("keel_probe_things_total").labels("ok").inc(event.value)


async def on_boom(keel: Keel, event: ProbeHappened) -> None:
    raise RuntimeError("boom")


async def work(ctx: dict[str, Any], *, n: int) -> int:
    ctx["keel"].metrics.histogram("keel_probe_work_seconds").observe(0.2)
    return n


class ProbePlugin(Plugin):
    name = "probe"

    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [ProbeHappened]

    @hookimpl
    def register_listeners(self) -> list[Listener]:
        return [
            Listener("probe.happened", on_ok, name="inline_ok"),
            Listener("probe.happened", on_boom, name="inline_boom"),
            Listener("probe.happened", on_ok, mode="durable", name="durable_ok"),
        ]

    @hookimpl
    def register_jobs(self) -> list[Job]:
        return [Job("work", work)]

    @hookimpl
    def register_metrics(self) -> list[Metric]:
        return [
            Metric("keel_probe_things_total", "Things the probe saw.", labels=["kind"]),
            Metric("keel_probe_work_seconds", "Work time.", kind="histogram", buckets=[0.1, 1]),
            Metric("keel_probe_level", "A level.", kind="gauge", multiprocess_mode="livemax"),
        ]


class BadNamePlugin(Plugin):
    name = "badname"

    @hookimpl
    def register_metrics(self) -> list[Metric]:
        return [Metric("requests_total", "No keel_badname_ prefix.")]


class NoTotalPlugin(Plugin):
    name = "nototal"

    @hookimpl
    def register_metrics(self) -> list[Metric]:
        return [Metric("keel_nototal_requests", "A counter without _total.")]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of ``name{labels}`` in an exposition (0 when absent)."""
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found[1] != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', found[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(found[3])
    return 0.0


async def test_events_jobs_and_a_plugins_metric_after_real_traffic(
    keel_factory: KeelFactory,
) -> None:
    keel = await keel_factory(ProbePlugin)
    before = render(keel.settings).decode()
    await keel.events.emit(ProbeHappened(value=3))
    await keel.jobs.enqueue("probe.work", n=1)
    await keel.events.drain()
    await run_worker(keel, burst=True, scheduler=False)
    text = render(keel.settings).decode()

    def delta(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert delta("keel_events_emitted_total", event="probe.happened") == 1
    ok = {"listener": "probe.inline_ok", "mode": "inline", "outcome": "ok"}
    assert delta("keel_event_deliveries_total", **ok) == 1
    boom = {"listener": "probe.inline_boom", "mode": "inline", "outcome": "error"}
    assert delta("keel_event_deliveries_total", **boom) == 1
    durable = {"listener": "probe.durable_ok", "mode": "durable", "outcome": "ok"}
    assert delta("keel_event_deliveries_total", **durable) == 1
    assert delta("keel_outbox_relayed_total") >= 1
    assert delta("keel_jobs_enqueued_total", queue="default", function="probe.work") == 1
    done = {"queue": "default", "function": "probe.work", "outcome": "complete"}
    assert delta("keel_jobs_processed_total", **done) == 1
    deliver = {"queue": "default", "function": "core.deliver_event", "outcome": "complete"}
    assert delta("keel_jobs_processed_total", **deliver) == 1
    timing = {"queue": "default", "function": "probe.work"}
    assert delta("keel_job_duration_seconds_count", **timing) == 1
    # the plugin's own, declared with register_metrics and recorded through keel.metrics
    assert delta("keel_probe_things_total", kind="ok") == 6  # inline and durable: 3 each
    assert delta("keel_probe_work_seconds_bucket", le="1.0") == 1
    assert "# TYPE keel_probe_level gauge" in text
    assert sample(text, "keel_queue_stats_up") == 1
    assert sample(text, "keel_queue_depth", queue="default") == 0


async def test_hook_register_metrics(keel_factory: KeelFactory) -> None:
    keel = await keel_factory(ProbePlugin)
    again = await keel_factory(ProbePlugin)  # a second runtime in one process shares them
    assert keel.metrics is again.metrics
    keel.metrics.gauge("keel_probe_level").set(7)
    assert sample(render(keel.settings).decode(), "keel_probe_level") == 7
    with pytest.raises(LookupError, match="keel_probe_missing_total"):
        keel.metrics.counter("keel_probe_missing_total")
    with pytest.raises(LookupError):
        keel.metrics.counter("keel_probe_level")  # a gauge, not a counter
    with pytest.raises(PluginError, match="keel_badname_"):
        await keel_factory(BadNamePlugin)
    with pytest.raises(PluginError, match="_total"):
        await keel_factory(NoTotalPlugin)


async def test_queue_figures_with_valkey_down(keel_settings_factory: Any) -> None:
    settings = keel_settings_factory(valkey__url="valkey://127.0.0.1:9")
    families = {f.name: f for f in QueueCollector(settings).collect()}
    assert families["keel_queue_stats_up"].samples[0].value == 0
    assert families["keel_queue_depth"].samples == []


async def test_oldest_job_age_and_depth(keel_factory: KeelFactory) -> None:
    keel = await keel_factory(ProbePlugin)
    await keel.jobs.enqueue("probe.work", n=1)
    await keel.jobs.enqueue("probe.work", n=2)
    families = {f.name: f for f in QueueCollector(keel.settings).collect()}
    depth = {s.labels["queue"]: s.value for s in families["keel_queue_depth"].samples}
    age = {
        s.labels["queue"]: s.value for s in families["keel_queue_oldest_job_age_seconds"].samples
    }
    assert depth["default"] == 2
    assert depth["email"] == 0
    assert 0 <= age["default"] < 60
    assert age["email"] == 0
    await run_worker(keel, burst=True, scheduler=False)


async def test_login_failures_and_http_routes(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory(plugins=[]) as env:
        user = await env.user()
        before = render(env.settings).decode()
        for _ in range(2):
            response = await env.client.post(
                "/api/auth/login", json={"email": user.email, "password": "wrong password 1"}
            )
            assert response.status_code == 401
        _, admin = await env.signed_in("admin")
        scraped = await env.client.get("/metrics", headers=admin)
        assert scraped.status_code == 200
        text = scraped.text
        failures = "keel_accounts_login_failures_total"
        assert sample(text, failures) - sample(before, failures) == 2
        assert "# TYPE keel_accounts_login_lockouts_total counter" in text
        route = {"method": "POST", "route": "/api/auth/login", "status": "401"}
        count = "keel_http_request_duration_seconds_count"
        assert sample(text, count, **route) - sample(before, count, **route) == 2
        assert process_metrics() is env.keel.metrics


async def test_metrics_route_guards_in_process(keel_app_factory: AppFactory) -> None:
    async with keel_app_factory(plugins=[]) as env:
        assert (await env.client.get("/metrics")).status_code == 401
        _, customer = await env.signed_in("customer")
        assert (await env.client.get("/metrics", headers=customer)).status_code == 403
    async with keel_app_factory(plugins=[], metrics__bind="127.0.0.1:9464") as env:
        _, admin = await env.signed_in("admin")
        assert (await env.client.get("/metrics", headers=admin)).status_code == 404
    async with keel_app_factory(plugins=[], metrics__enabled=False) as env:
        _, admin = await env.signed_in("admin")
        assert (await env.client.get("/metrics", headers=admin)).status_code == 404
