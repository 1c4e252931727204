"""``keel cron list|run|pause|resume|history``, ``keel backup`` and ``keel restore ARCHIVE``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.cli import config_option, fail, with_keel

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.cron.schemas import JobInfo, RunPage

OUTCOMES = ("running", "success", "failed", "skipped", "aborted")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _row(job: JobInfo) -> tuple[str, ...]:
    last = job.last_run
    state = "off" if not job.enabled else "paused" if job.paused else "on"
    return (
        job.name,
        job.cron,
        job.tz,
        state,
        _when(job.next_run),
        _when(last.started_at) if last else "-",
        f"{last.duration_s:.2f}s" if last and last.duration_s is not None else "-",
        last.outcome if last else "-",
        (last.error or "")[:60] if last else "",
    )


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print ``rows`` as aligned columns under ``header``."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@click.group("cron")
def cron_group() -> None:
    """Schedules of every enabled plugin: list, run now, pause, resume, history."""


@cron_group.command("list")
@config_option
def list_command(config: str | None) -> None:
    """Every schedule with its cron, time zone, state, next and last run (times in UTC)."""
    from plugins.cron.operator import list_jobs  # noqa: PLC0415

    async def work(keel: Keel) -> list[tuple[str, ...]]:
        return [_row(job) for job in (await list_jobs(keel)).items]

    header = ("name", "cron", "tz", "state", "next run", "last run", "took", "outcome", "error")
    print_table(header, with_keel(config, work))


@cron_group.command("run")
@config_option
@click.argument("name")
def run_command(config: str | None, name: str) -> None:
    """Run schedule NAME's job here and now, in the foreground, and print its result.

    The run is recorded in the history and holds the schedule's overrun lock like any
    other run (it is skipped while another run of NAME is in progress).
    """
    from core.errors import NotFoundError  # noqa: PLC0415
    from core.runtime import get_scheduler  # noqa: PLC0415
    from core.schedule_runs import run_in_foreground  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")

    async def work(keel: Keel) -> Any:
        entry = get_scheduler(keel).entries[_known(keel, name)]
        await keel.host.startup(keel)
        try:
            return await run_in_foreground(keel, entry)
        finally:
            await keel.host.shutdown(keel)

    try:
        result = with_keel(config, work)
    except NotFoundError as exc:
        fail(exc)
    except Exception as exc:  # the job failed: it is recorded; show it and exit 1
        fail(RuntimeError(f"{name} failed: {type(exc).__name__}: {exc}"))
    click.echo(json.dumps(result, default=str, indent=2))


def _known(keel: Keel, name: str) -> str:
    """``name`` if it is a schedule, else ``NotFoundError`` listing the known ones."""
    from core.errors import NotFoundError  # noqa: PLC0415
    from core.runtime import get_scheduler  # noqa: PLC0415

    entries = get_scheduler(keel).entries
    if name not in entries:
        raise NotFoundError(f"no schedule named {name!r}; known: {', '.join(sorted(entries))}")
    return name


def _set_paused(config: str | None, name: str, *, paused: bool) -> None:
    from core.errors import NotFoundError  # noqa: PLC0415
    from plugins.cron import operator  # noqa: PLC0415

    async def work(keel: Keel) -> JobInfo:
        change = operator.pause if paused else operator.resume
        return await change(keel, _known(keel, name))

    try:
        job = with_keel(config, work)
    except NotFoundError as exc:
        fail(exc)
    if paused:
        click.echo(f"paused {job.name}: it fires nowhere until `keel cron resume {job.name}`")
    elif not job.enabled:
        click.echo(f"resumed {job.name}, but it is switched off in the configuration")
    else:
        click.echo(f"resumed {job.name}: next run {_when(job.next_run)} UTC")


@cron_group.command("pause")
@config_option
@click.argument("name")
def pause_command(config: str | None, name: str) -> None:
    """Stop schedule NAME firing in every process, until resumed (survives restarts).

    `keel cron run NAME` still runs it on demand.
    """
    _set_paused(config, name, paused=True)


@cron_group.command("resume")
@config_option
@click.argument("name")
def resume_command(config: str | None, name: str) -> None:
    """Fire schedule NAME again from its next tick on."""
    _set_paused(config, name, paused=False)


@cron_group.command("history")
@config_option
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None, help="Only these runs.")
def history_command(
    config: str | None, name: str, limit: int, page: int, outcome: str | None
) -> None:
    """Schedule NAME's runs, newest first (times in UTC)."""
    from core.errors import NotFoundError  # noqa: PLC0415
    from plugins.cron import operator  # noqa: PLC0415

    async def work(keel: Keel) -> RunPage:
        known = _known(keel, name)
        return await operator.history(keel, known, page=page, limit=limit, outcome=outcome)

    try:
        runs = with_keel(config, work)
    except NotFoundError as exc:
        fail(exc)
    if not runs.items:
        click.echo(f"no runs of {name}" + (f" with outcome {outcome}" if outcome else ""))
        return
    header = ("started", "trigger", "outcome", "took", "attempt", "worker", "error")
    rows: list[tuple[str, ...]] = [
        (
            _when(run.started_at),
            run.trigger,
            run.outcome,
            f"{run.duration_s:.2f}s" if run.duration_s is not None else "-",
            str(run.attempt),
            run.worker,
            (run.error or "")[:60],
        )
        for run in runs.items
    ]
    print_table(header, rows)
    first = (page - 1) * limit + 1
    click.echo(f"runs {first}-{first + len(rows) - 1} of {runs.total}")


@click.command("backup")
@config_option
@click.option("--dir", "directory", default=None, help="Archive directory (default backup_dir).")
@click.option("--keep", type=int, default=None, help="Archives to keep (default backup_keep).")
@click.option(
    "--encrypt/--no-encrypt",
    default=None,
    help="Encrypt with the passphrase in $KEEL_BACKUP_KEY (default backup_encrypt).",
)
def backup_command(
    config: str | None, directory: str | None, keep: int | None, encrypt: bool | None
) -> None:
    """Dump every collection of the database into one compressed archive (mode 0600)."""
    from plugins.cron.backup import backup_database  # noqa: PLC0415
    from plugins.cron.errors import BackupError  # noqa: PLC0415
    from plugins.cron.jobs import backup_key_for, cron_settings  # noqa: PLC0415

    async def work(keel: Keel) -> Any:
        settings = cron_settings(keel)
        return await backup_database(
            keel.mongo[keel.settings.database.name],
            Path(directory or settings.backup_dir),
            batch_size=settings.batch_size,
            keep=settings.backup_keep if keep is None else keep,
            key=key if encrypt is not None else backup_key_for(settings.backup_encrypt),
        )

    try:
        key = backup_key_for(bool(encrypt))  # before connecting anywhere
        summary = with_keel(config, work)
    except BackupError as exc:
        fail(exc)
    total = sum(summary.collections.values())
    click.echo(f"{summary.path}: {len(summary.collections)} collections, {total} documents")
    click.echo(json.dumps(dataclasses.asdict(summary), indent=2))


@click.command("restore")
@config_option
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(config: str | None, archive: Path) -> None:
    """Load ARCHIVE (from `keel backup`) into the configured database, which must be empty.

    The whole archive is verified first; an encrypted one is read with $KEEL_BACKUP_KEY.
    """
    from plugins.cron.backup import KEY_ENV, restore_database  # noqa: PLC0415
    from plugins.cron.errors import BackupError  # noqa: PLC0415
    from plugins.cron.jobs import cron_settings  # noqa: PLC0415

    async def work(keel: Keel) -> Any:
        return await restore_database(
            keel.mongo[keel.settings.database.name],
            archive,
            batch_size=cron_settings(keel).batch_size,
            key=os.environ.get(KEY_ENV) or None,
        )

    try:
        summary = with_keel(config, work)
    except BackupError as exc:
        fail(exc)
    if not summary.verified:
        click.echo(
            f"keel: warning: {archive} is a version-1 archive: no checksum to verify", err=True
        )
    total = sum(summary.collections.values())
    click.echo(
        f"restored {total} documents in {len(summary.collections)} collections "
        f"and {summary.indexes} indexes into {summary.database}"
    )


def commands() -> list[click.Command]:
    """The commands the plugin adds to ``keel``."""
    return [cron_group, backup_command, restore_command]
