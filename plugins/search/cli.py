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
    """Rebuild this host's search index from MongoDB; searches keep working meanwhile.

    The host's writer (``keel worker`` / ``keel run``) swaps the new index in; when none
    runs, this command does.
    """
    from rich.progress import Progress  # noqa: PLC0415 - keeps --help fast

    from core.cli import with_keel  # noqa: PLC0415
    from core.errors import ConflictError, ServiceUnavailableError  # noqa: PLC0415
    from plugins.search.reindex import reindex  # noqa: PLC0415

    async def work(keel: Keel) -> ReindexResult | str:
        try:
            with Progress() as bar:
                task = bar.add_task("indexing", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return await reindex(keel, progress)
        except (ConflictError, ServiceUnavailableError) as exc:
            return str(exc)  # an expected refusal: a message, not a traceback

    result = with_keel(config, work)
    if isinstance(result, str):
        raise click.ClickException(result)
    click.echo(
        f"search index generation {result.generation}: {result.services} service(s), "
        f"{result.users} user(s)"
    )
