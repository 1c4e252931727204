"""``keel run`` (development, all in one), ``keel serve`` (API) and ``keel worker``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import click

from core.cli._common import config_option, fail, load
from core.errors import ConfigError, PluginError
from core.pluginhost import InstalledPlugin, PluginHost
from core.settings import Settings


def _uvicorn_kwargs(settings: Settings) -> dict[str, object]:
    return {
        "host": settings.server.host,
        "port": settings.server.port,
        "log_config": None,
        "access_log": False,  # keel's own middleware writes the access log
        "timeout_graceful_shutdown": int(settings.server.grace_period_s),
        "lifespan": "on",
        "ws_per_message_deflate": settings.server.ws_per_message_deflate,
        "ws_max_size": settings.server.ws_max_bytes,  # refused before it is buffered
        # The client IP (throttles, rate limits, the session list) comes from
        # X-Forwarded-For only when the connection comes from one of these proxies.
        "proxy_headers": bool(settings.server.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.server.trusted_proxies) or None,
    }


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _run_uvicorn(target: object, **kwargs: object) -> None:
    """uvicorn with graceful drains (:mod:`core.http._drain`) that exits 0 after a
    graceful shutdown on SIGTERM or SIGINT.

    uvicorn restores the previous handler and re-raises the signal it caught once it has
    shut down; with the default handlers that kills the process (-15) or prints a
    KeyboardInterrupt traceback, so install handlers that exit 0 instead.
    """
    from core.http._drain import run  # noqa: PLC0415 - keeps `keel --help` fast

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    run(target, **kwargs)


def _serve_metrics(settings: Settings) -> dict[str, str]:
    """Choose the metric files' directory and start the ``[metrics] bind`` listener.

    Returns:
        Banner lines about metrics.
    """
    from core.metrics import prepare, start_listener  # noqa: PLC0415

    if prepare(settings) is None:
        return {}
    if not settings.metrics.bind:
        return {"Metrics": f"http://{settings.server.host}:{settings.server.port}/metrics"}
    try:
        start_listener(settings)
    except OSError as exc:
        fail(ConfigError([f"metrics.bind: cannot listen on {settings.metrics.bind}: {exc}"]))
    return {"Metrics": f"http://{settings.metrics.bind}/metrics"}


def _banner(settings: Settings, extra: dict[str, str]) -> None:
    base = f"http://{settings.server.host}:{settings.server.port}"
    lines = {
        "API": f"{base}/api",
        "OpenAPI": f"{base}/schema (Swagger: {base}/schema/swagger)",
        "Health": f"{base}/health/ready",
        **extra,
    }
    width = max(map(len, lines))
    click.echo("keel is starting:")
    for label, url in lines.items():
        click.echo(f"  {label:<{width}}  {url}")


PUBLIC_HELP = (
    "Allow a non-loopback [server] host; the development pages then need an admin's token."
)


def _public_problem(settings: Settings, public: bool) -> str | None:
    """Why ``keel run`` must not start on this address, or None."""
    from core.devstack import is_loopback  # noqa: PLC0415

    host = settings.server.host
    if public or is_loopback(host):
        return None
    return (
        f"server.host: {host!r} is not a loopback address, and keel run serves development"
        " pages (every mailed code and reset link at /dev/mailbox, the realtime demo,"
        " localstripe's public webhook secret); bind 127.0.0.1, or pass --public to serve"
        " them to admins only"
    )


@click.command("run")
@config_option
@click.option("--public", is_flag=True, help=PUBLIC_HELP)
def run_command(config: str | None, public: bool) -> None:
    """Development: embedded services + API + worker + scheduler in one process."""
    from core.app import create_app  # noqa: PLC0415 - keeps `keel --help` fast
    from core.devstack import (  # noqa: PLC0415
        DevStack,
        StackNotAnsweringError,
        is_loopback,
        published,
        running_stack,
        serving_dev_pages,
    )
    from core.logging import configure_logging  # noqa: PLC0415

    settings, installed = load(config)
    if problem := _public_problem(settings, public):
        fail(ConfigError([problem]))
    configure_logging(settings, role="run")
    admins_only = not is_loopback(settings.server.host)
    try:
        host = PluginHost(settings, installed)
        data_dir = Path(settings.devstack.data_dir)
        if other := running_stack(data_dir):  # removes a stale descriptor
            where = f"{other.data_dir} (pid {other.pid}, {other.api})"
            fail(RuntimeError(f"keel run is already running on {where}; stop it first"))
        api = f"http://{settings.server.host}:{settings.server.port}"
        with (
            DevStack(settings, host.dev_services(), data_dir=data_dir) as stack,
            published(stack, api),  # removed before the services stop
            serving_dev_pages(admins_only=admins_only),
        ):
            os.environ.update(stack.environ())
            settings, installed = load(config, overrides=stack.overrides)
            extra = _serve_metrics(settings)
            app = create_app(settings, installed=installed, run_worker=True)
            if "mail.host" in stack.overrides:
                extra["Mail sink"] = str(data_dir / "mail")
            if admins_only:
                extra["Dev pages"] = "admins only (--public)"
            _banner(settings, extra)
            _run_uvicorn(app, **_uvicorn_kwargs(settings))
    except (ConfigError, PluginError, StackNotAnsweringError) as exc:
        fail(exc)


@click.command("serve")
@config_option
@click.option("--workers", type=int, default=None, help="API processes (default [server] workers).")
@click.option("--port", type=int, default=None, help="Port (default [server] port).")
def serve_command(config: str | None, workers: int | None, port: int | None) -> None:
    """Production API server: N uvicorn worker processes, no embedded services."""
    from core.app import create_app  # noqa: PLC0415

    overrides = {"server.port": port} if port else None
    settings, installed = load(config, overrides=overrides)
    if port:
        os.environ["KEEL_SERVER__PORT"] = str(port)
    # before any metric exists; the workers inherit the directory, the listener runs here
    metrics = _serve_metrics(settings)
    try:  # fail here, once, with a clean message rather than in every worker
        create_app(settings, installed=installed)
    except (ConfigError, PluginError) as exc:
        fail(exc)
    n = workers or settings.server.workers
    _banner(settings, {"Workers": str(n), **metrics})
    _run_uvicorn("core.app:app_factory", factory=True, workers=n, **_uvicorn_kwargs(settings))


@click.command("worker")
@config_option
@click.option("--no-scheduler", is_flag=True, help="Run queue workers only.")
def worker_command(config: str | None, no_scheduler: bool) -> None:
    """Queue workers (every named queue) and, unless told otherwise, the scheduler."""
    settings, installed = load(config)
    try:
        if problems := PluginHost(settings, installed).settings_problems():
            raise ConfigError(problems)  # e.g. no signing key: jobs issue codes and tokens
        from core.metrics import prepare  # noqa: PLC0415

        prepare(settings)  # recorded here, scraped through an API process of this host
        asyncio.run(_worker(settings, installed, scheduler=not no_scheduler))
    except (ConfigError, PluginError) as exc:
        fail(exc)


async def _worker(
    settings: Settings, installed: dict[str, InstalledPlugin], *, scheduler: bool
) -> None:
    from core.logging import configure_logging  # noqa: PLC0415
    from core.runtime import close_keel, open_keel, run_worker  # noqa: PLC0415

    configure_logging(settings, role="worker")
    host = PluginHost(settings, installed)
    keel = await open_keel(settings, host)
    keel.runs_worker = True
    try:
        await host.startup(keel)
        await keel.toggles.start(runs_worker=True)
        task = asyncio.create_task(run_worker(keel, scheduler=scheduler))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await host.shutdown(keel)
        await close_keel(keel)
