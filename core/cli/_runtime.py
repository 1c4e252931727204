"""``with_keel``: run async work on a runtime opened on the configured (or embedded) services."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.cli._common import fail, load
from core.errors import ConfigError, PluginError
from core.pluginhost import PluginHost

if TYPE_CHECKING:
    from core.context import Keel
    from core.settings import Settings

T = TypeVar("T")


def with_keel(config: str | None, work: Callable[[Keel], Awaitable[T]]) -> T:
    """Run ``work`` with a :class:`Keel` opened on the configured services.

    Where ``[database] url``, ``[valkey] url`` or ``[mail] host`` is empty (development),
    the command uses the embedded services of the ``keel run`` serving
    ``[devstack] data_dir`` when one runs (found through its descriptor, see
    :func:`core.devstack.running_stack`), and otherwise starts its own on that data
    directory for the duration of the command. Configured URLs always win. For plugins'
    CLI commands::

        @click.command("count")
        @config_option
        def count(config: str | None) -> None:
            n = with_keel(config, lambda keel: keel.db.get_collection(Thing).count_documents({}))
            click.echo(n)
    """
    from core.runtime import close_keel, open_keel  # noqa: PLC0415 - keeps --help fast

    settings, installed = load(config)

    async def main(settings: Settings) -> T:
        keel = await open_keel(settings, PluginHost(settings, installed))
        try:
            result = await work(keel)
            async with asyncio.timeout(10):  # let user.* listeners run before closing
                await keel.events.drain()
            return result
        finally:
            await close_keel(keel)

    try:
        if settings.database.url and settings.valkey.url:
            return asyncio.run(main(settings))
        return _with_devstack(config, settings, main)
    except (ConfigError, PluginError) as exc:
        fail(exc)


def _with_devstack(
    config: str | None, settings: Settings, main: Callable[[Settings], Coroutine[Any, Any, T]]
) -> T:
    from core.devstack import (  # noqa: PLC0415
        DevStack,
        DevStackError,
        StackNotAnsweringError,
        running_stack,
    )

    data_dir = Path(settings.devstack.data_dir)
    try:
        running = running_stack(data_dir)
    except StackNotAnsweringError as exc:
        fail(exc)
    shared: dict[str, Any] = {}
    if running is not None:
        shared = _unconfigured(settings, running.settings)
        if shared:
            click.echo(f"keel: using the services of keel run (pid {running.pid})", err=True)
            settings, _ = load(config, overrides=shared)
    try:
        # Starts only what is still missing: nothing when keel run provides it all.
        with DevStack(settings, [], data_dir=data_dir) as stack:
            embedded, _ = load(config, overrides={**shared, **stack.overrides})
            return asyncio.run(main(embedded))
    except DevStackError as exc:
        fail(
            ValueError(
                f"could not start the embedded services on {data_dir} ({exc}); if another"
                " keel command is using them, retry once it ends, or set [database] url and"
                " [valkey] url"
            )
        )


def _unconfigured(settings: Settings, offered: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``keel run``'s services for what ``settings`` leaves empty."""
    empty = {
        "database": not settings.database.url,
        "valkey": not settings.valkey.url,
        "mail": not settings.mail.host,
    }
    return {key: value for key, value in offered.items() if empty.get(key.split(".")[0])}
