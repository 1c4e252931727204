"""``keel toggles show|set|history`` and ``keel config apply``: the live switchboard."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING, Any

import click

from core.cli._common import config_option, fail, load
from core.cli._runtime import with_keel
from core.errors import DomainError

if TYPE_CHECKING:
    from core.context import Keel

_ON = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}


def parse_switches(words: tuple[str, ...]) -> dict[str, bool]:
    """``search off`` or ``search=off realtime.typing=on`` as key -> on.

    Raises:
        click.BadParameter: anything else.
    """
    pairs: list[tuple[str, str]] = []
    if len(words) == 2 and "=" not in words[0] and "=" not in words[1]:  # noqa: PLR2004
        pairs.append((words[0], words[1]))
    else:
        for word in words:
            key, sep, value = word.partition("=")
            if not sep:
                raise click.BadParameter(f"{word!r}: write KEY=on or KEY=off")
            pairs.append((key, value))
    if not pairs:
        raise click.BadParameter("name at least one switch: search=off")
    out: dict[str, bool] = {}
    for key, value in pairs:
        if value.lower() not in _ON:
            raise click.BadParameter(f"{key}={value}: the value is on or off")
        out[key.strip()] = _ON[value.lower()]
    return out


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_board(board: dict[str, Any]) -> None:
    click.echo(f"switchboard version {board['version']}")
    click.echo("plugins:")
    for p in board["plugins"]:
        state = "on " if p["active"] else "off"
        notes = [p["source"]]
        if p["essential"]:
            notes.append("essential")
        if p["requires"]:
            notes.append("requires " + ", ".join(p["requires"]))
        click.echo(f"  {state}  {p['name']:<16} ({'; '.join(notes)})")
    if board["features"]:
        click.echo("features:")
    for f in board["features"]:
        state = "on " if f["enabled"] else "off"
        click.echo(f"  {state}  {f['key']:<24} ({f['source']}) {f['description']}")


@click.group("toggles")
def toggles_group() -> None:
    """Switch plugins and features on and off on every process, live (docs/toggles.md)."""


@toggles_group.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="The state as JSON.")
def show_command(config: str | None, as_json: bool) -> None:
    """Every loaded plugin and declared feature, on or off, and who set it."""

    async def work(keel: Keel) -> dict[str, Any]:
        return keel.toggles.describe()

    board = with_keel(config, work)
    if as_json:
        click.echo(json.dumps(board, indent=2))
    else:
        _print_board(board)


@toggles_group.command("set")
@config_option
@click.argument("switches", nargs=-1, required=True)
def set_command(config: str | None, switches: tuple[str, ...]) -> None:
    """Switch plugins (``search``) and features (``realtime.typing``): ``keel toggles set
    search off`` or ``keel toggles set search=off realtime.typing=on``."""
    changes = parse_switches(switches)

    async def work(keel: Keel) -> list[Any]:
        return await keel.toggles.set(changes, by=_who(), source="cli")

    try:
        changed = with_keel(config, work)
    except DomainError as exc:
        fail(exc)
    if not changed:
        click.echo("nothing to change")
    for c in changed:
        click.echo(f"{c.key}: {'on' if c.before else 'off'} -> {'on' if c.after else 'off'}")


@toggles_group.command("history")
@config_option
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def history_command(config: str | None, limit: int) -> None:
    """The switchboard's changes, newest first: version, when, who, from where, what."""

    async def work(keel: Keel) -> list[dict[str, Any]]:
        items, _ = await keel.toggles.history(limit=limit)
        return items

    for item in with_keel(config, work):
        at = item["at"].isoformat().replace("+00:00", "Z")
        what = ", ".join(
            f"{c['key']} {'on' if c['before'] else 'off'}->{'on' if c['after'] else 'off'}"
            for c in item["changes"]
        )
        click.echo(f"v{item['version']}  {at}  {item['by']} ({item['source']})  {what}")


@click.command("apply")
@config_option
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
def apply_command(config: str | None, dry_run: bool) -> None:
    """Apply the toggle part of an edited config.toml live (``plugins.enabled``,
    ``plugins.standby``, feature switches such as ``[plugins.realtime] typing``) and say
    which other changes still need a restart."""
    from core.toggles._config import plan_apply  # noqa: PLC0415 - keeps --help fast

    settings, _ = load(config)

    async def work(keel: Keel) -> tuple[list[Any], list[str]]:
        plan = plan_apply(settings, keel.host, await keel.toggles.running_config())
        changed = await keel.toggles.set(
            plan.changes,
            by=_who(),
            source="config apply",
            pin=True,
            defaults=plan.defaults,
            dry_run=dry_run,
        )
        return changed, plan.restart

    try:
        changed, restart = with_keel(config, work)
    except DomainError as exc:
        fail(exc)
    verb = "would apply" if dry_run else "applied"
    for c in changed:
        click.echo(f"{verb} {c.key}: {'on' if c.before else 'off'} -> {'on' if c.after else 'off'}")
    if not changed and not dry_run:
        click.echo("the switchboard already matches config.toml")
    for line in restart:
        click.echo(f"needs a restart: {line}")
