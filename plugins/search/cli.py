"""``keel search reindex``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from core.cli import config_option

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.search.reindex import ReindexResult


@click.group("search")
def search_group() -> None:
    """The search index."""


@search_group.command("reindex")
@config_option
def reindex_command(config: str | None) -> None:
    """Rebuild the search index from MongoDB; searches keep working meanwhile."""
    from rich.progress import Progress  # noqa: PLC0415 - keeps --help fast

    from core.cli import with_keel  # noqa: PLC0415
    from plugins.search.reindex import reindex  # noqa: PLC0415

    async def work(keel: Keel) -> ReindexResult:
        with Progress() as bar:
            task = bar.add_task("indexing", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return await reindex(keel, progress)

    result = with_keel(config, work)
    click.echo(
        f"search index generation {result.generation}: {result.services} service(s), "
        f"{result.users} user(s); {result.dropped_keys} old key(s) dropped"
    )
