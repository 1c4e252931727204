"""``keel users create-admin`` and ``keel users list``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.cli._common import config_option, fail, load
from core.errors import BadRequestError, ConfigError, PluginError
from core.pluginhost import PluginHost

if TYPE_CHECKING:
    from core.context import Keel
    from core.settings import Settings

PASSWORD_ENV = "KEEL_ADMIN_PASSWORD"  # noqa: S105 - a variable name
T = TypeVar("T")


def _with_keel(config: str | None, work: Callable[[Keel], Awaitable[T]]) -> T:
    """Run ``work`` with a :class:`Keel` opened on the configured services.

    Where ``[database] url`` or ``[valkey] url`` is empty (development), the embedded
    services are started on ``[devstack] data_dir`` for the duration of the command, so
    ``keel users create-admin`` works before ``keel run`` (not while it runs: the
    database files are locked then).
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


@click.group("users")
def users_group() -> None:
    """Manage user accounts."""


@users_group.command("create-admin")
@config_option
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--name", required=True, help="The admin's display name.")
@click.option(
    "--password",
    default=None,
    help=f"The password (default: ${PASSWORD_ENV}, else a hidden prompt).",
)
def create_admin_command(config: str | None, email: str, name: str, password: str | None) -> None:
    """Create a verified admin account (the only way to make the first admin)."""
    secret = password or os.environ.get(PASSWORD_ENV) or ""
    if not secret:
        secret = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    from pymongo.errors import DuplicateKeyError  # noqa: PLC0415 - keeps --help fast

    from ._auth import create_user  # noqa: PLC0415

    async def work(keel: Keel) -> str:
        user = await create_user(
            keel, email=email, password=secret, name=name, role="admin", verified=True
        )
        return str(user.id)

    try:
        user_id = _with_keel(config, work)
    except BadRequestError as exc:
        fail(exc)
    except DuplicateKeyError:
        fail(ValueError(f"a user with email {email!r} already exists"))
    click.echo(f"created admin {email} (id {user_id})")


@users_group.command("list")
@config_option
@click.option("--role", type=click.Choice(["customer", "provider", "admin"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
def list_command(config: str | None, role: str | None, limit: int) -> None:
    """List users, newest first."""
    from ._users import list_users  # noqa: PLC0415 - keeps --help fast

    async def work(keel: Keel) -> list[tuple[str, ...]]:
        page = await list_users(keel, page=1, limit=limit, role=role, sort="-created_at")  # type: ignore[arg-type]
        return [
            (u.id, u.email, u.name, u.role, "yes" if u.verified else "no", u.created_at.isoformat())
            for u in page.items
        ]

    rows = _with_keel(config, work)
    header = ("id", "email", "name", "role", "verified", "created")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
