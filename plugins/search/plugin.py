"""The search plugin class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core import Job, Listener, Plugin, hookimpl
from plugins.search.settings import SearchSettings

if TYPE_CHECKING:
    import click
    import odmantic

    from core.context import Keel


class SearchPlugin(Plugin):
    """Global search, service search and autocomplete over an index kept in Valkey.

    The index follows ``service.*`` and ``user.*`` events through durable listeners;
    ``keel search reindex`` (or the ``search.reindex`` job) rebuilds it from MongoDB,
    and a start that finds no index at all enqueues that job by itself.
    """

    name = "search"
    settings_type = SearchSettings
    requires: ClassVar[tuple[str, ...]] = ("bookings",)
    settings: SearchSettings

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        from plugins.search.routes import route_handlers  # noqa: PLC0415 - Litestar lazily

        return route_handlers()

    @hookimpl
    def register_models(self) -> Sequence[type[odmantic.Model]]:
        from plugins.search.models import MODELS  # noqa: PLC0415

        return MODELS

    @hookimpl
    def register_listeners(self) -> Sequence[Listener]:
        from plugins.search import listeners as on  # noqa: PLC0415

        return [
            Listener("service.created", on.on_service_changed, "durable", "service_created"),
            Listener("service.updated", on.on_service_changed, "durable", "service_updated"),
            Listener("service.deleted", on.on_service_deleted, "durable"),
            Listener("user.created", on.on_user_changed, "durable", "user_created"),
            Listener("user.updated", on.on_user_changed, "durable", "user_updated"),
            Listener("user.deleted", on.on_user_changed, "durable", "user_deleted"),
        ]

    @hookimpl
    def register_jobs(self) -> Sequence[Job]:
        from plugins.search.reindex import reindex_job  # noqa: PLC0415

        return [Job("reindex", reindex_job, timeout=3600, retries=1)]

    @hookimpl
    def register_cli_commands(self) -> Sequence[click.Command]:
        from plugins.search.cli import search_group  # noqa: PLC0415

        return [search_group]

    @hookimpl
    async def on_startup(self, keel: Keel) -> None:
        from plugins.accounts.api import count_users  # noqa: PLC0415
        from plugins.search.index import SearchIndex  # noqa: PLC0415
        from plugins.search.store import count_services  # noqa: PLC0415

        if not await SearchIndex.of(keel).ensure():
            return
        # a new (or lost) index: build it from what MongoDB holds, once, on a worker
        if await count_services(keel) or await count_users(keel):
            await keel.jobs.enqueue("search.reindex", key="search.reindex")
