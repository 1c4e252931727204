"""``keel users create-admin`` and ``keel users list``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

import click

from core.cli import config_option, fail, with_keel
from core.errors import UnprocessableError

if TYPE_CHECKING:
    from core.context import Keel

PASSWORD_ENV = "KEEL_ADMIN_PASSWORD"  # noqa: S105 - a variable name
T = TypeVar("T")


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
        user_id = with_keel(config, work)
    except UnprocessableError as exc:
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
        page = await list_users(keel, page=1, limit=limit, role=role, sort="-createdAt")  # type: ignore[arg-type]
        return [
            (u.id, u.email, u.name, u.role, "yes" if u.verified else "no", u.created_at.isoformat())
            for u in page.items
        ]

    rows = with_keel(config, work)
    header = ("id", "email", "name", "role", "verified", "created")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
