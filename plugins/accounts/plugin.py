"""The accounts plugin class: users, authentication, sessions and roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from core import Job, Metric, Plugin, hookimpl

if TYPE_CHECKING:
    from datetime import datetime

    import click
    import odmantic

    from core.context import Keel
    from core.events import Event
    from core.records import Authenticator
    from core.settings import Settings


class AccountsPlugin(Plugin):
    """Users, registration, login with emailed codes, sessions, password reset, roles.

    Essential and always on: every other plugin's authorization (``current_user``,
    ``require_role``, ``owned_or_404`` from :mod:`plugins.accounts`) builds on it.
    Publishes ``user.created``, ``user.updated``, ``user.deleted`` and
    ``user.sessions_revoked`` (:mod:`plugins.accounts.events`). Its settings are the
    ``[auth]`` table (the signing key comes from ``KEEL_AUTH__JWT_SECRET``).
    """

    name = "accounts"
    essential: ClassVar[Literal["always", "default"] | None] = "always"

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.accounts.routes import route_handlers  # noqa: PLC0415 - Litestar lazily

        return route_handlers()

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.accounts.documents import MODELS  # noqa: PLC0415

        return MODELS

    @hookimpl
    def register_event_types(self) -> Sequence[type[Event]]:
        from plugins.accounts.events import EVENT_TYPES  # noqa: PLC0415

        return EVENT_TYPES

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.accounts.jobs import jobs  # noqa: PLC0415

        return jobs()

    @hookimpl
    def register_metrics(self) -> Sequence[Metric]:
        from plugins.accounts._throttle import METRICS  # noqa: PLC0415

        return METRICS

    @hookimpl
    def register_cli_commands(self) -> Sequence[click.Command]:
        from plugins.accounts.cli import users_group  # noqa: PLC0415

        return [users_group]

    @hookimpl
    def check_settings(self, settings: Settings) -> Sequence[str]:
        from plugins.accounts.tokens import check_settings  # noqa: PLC0415

        return check_settings(settings)

    @hookimpl
    def register_authenticator(self) -> Authenticator:
        from plugins.accounts.security import authenticate  # noqa: PLC0415

        return authenticate

    @hookimpl
    async def create_user(  # noqa: PLR0917 - pluggy passes hook arguments by name
        self,
        keel: Keel,
        email: str,
        password: str,
        name: str,
        role: str,
        verified: bool,
        publish: bool,
    ) -> Any:
        from plugins.accounts._auth import create_user  # noqa: PLC0415

        return await create_user(
            keel,
            email=email,
            password=password,
            name=name,
            role=role,  # type: ignore[arg-type]
            verified=verified,
            publish=publish,
        )

    @hookimpl(optionalhook=True)
    async def report_figures(self, keel: Keel, start: datetime, end: datetime) -> Mapping[str, Any]:
        """The cron plugin's daily report: accounts created that day."""
        from plugins.accounts.documents import User  # noqa: PLC0415

        span = {"created_at": {"$gte": start, "$lt": end}}
        return {"new_users": await keel.db.get_collection(User).count_documents(span)}
