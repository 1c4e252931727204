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
    """Global search, service search and autocomplete over a tantivy index on each host.

    Durable listeners of ``service.*`` and ``user.*`` save changes in MongoDB and put them
    on a change feed (a Valkey stream) that each host's writer follows; every process
    reads its host's index. ``keel search reindex`` (or the ``search.reindex`` job)
    rebuilds it from MongoDB, and a writer that finds no usable index builds one itself.
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
        from plugins.search.reader import SearchReader  # noqa: PLC0415
        from plugins.search.writer import SearchWriter  # noqa: PLC0415

        mode = self.settings.writer
        if mode == "always" or (mode == "auto" and keel.runs_worker):
            SearchWriter.of(keel).start()  # builds the index first if there is none
        await SearchReader.of(keel).start(self.settings.refresh_ms / 1000)

    @hookimpl
    async def on_deactivate(self, keel: Keel) -> None:
        # switched off live: the index stops following the feed (its entries wait in the
        # stream, and the durable listeners' deliveries are held by the core) and the
        # reader stops reloading; both resume in on_activate
        await self.on_shutdown(keel)

    @hookimpl
    async def on_activate(self, keel: Keel) -> None:
        await self.on_startup(keel)

    @hookimpl
    async def on_shutdown(self, keel: Keel) -> None:
        from plugins.search.reader import READER  # noqa: PLC0415
        from plugins.search.writer import WRITER  # noqa: PLC0415

        if (reader := keel.stash.get(READER, None)) is not None:
            await reader.stop()
        if (writer := keel.stash.get(WRITER, None)) is not None:
            await writer.stop()
