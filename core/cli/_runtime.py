"""``with_keel``: run async work on a runtime opened on the configured (or embedded) services."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from core.cli._common import fail, load
from core.errors import ConfigError, PluginError
from core.pluginhost import PluginHost

if TYPE_CHECKING:
    from core.context import Keel
    from core.settings import Settings

T = TypeVar("T")


def with_keel(config: str | None, work: Callable[[Keel], Awaitable[T]]) -> T:
    """Run ``work`` with a :class:`Keel` opened on the configured services.

    Where ``[database] url`` or ``[valkey] url`` is empty (development), the embedded
    services are started on ``[devstack] data_dir`` for the duration of the command, so
    a command such as ``keel users create-admin`` works before ``keel run`` (not while it
    runs: the database files are locked then). For plugins' CLI commands::

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
    from core.devstack import DevStack, DevStackError  # noqa: PLC0415

    try:
        with DevStack(settings, [], data_dir=Path(settings.devstack.data_dir)) as stack:
            embedded, _ = load(config, overrides=stack.overrides)
            return asyncio.run(main(embedded))
    except DevStackError as exc:
        fail(
            ValueError(
                f"could not start the embedded services ({exc}); if `keel run` is running, "
                "stop it first, or set [database] url and [valkey] url"
            )
        )
