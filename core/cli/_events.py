"""``keel events list`` and ``keel events replay``: the outbox as an event log."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from core.cli._common import config_option
from core.cli._runtime import with_keel

if TYPE_CHECKING:
    from core.context import Keel

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
SINCE_HELP = "ISO 8601 time (UTC unless it has an offset) or an age: 30m, 2h, 7d."


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``value`` as an aware datetime: an ISO 8601 time or an age (``30m``, ``2h``, ``7d``).

    Raises:
        click.BadParameter: neither.
    """
    if match := _AGO.match(value.strip()):
        amount, unit = float(match[1]), _UNITS[match[2]]
        return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: {SINCE_HELP}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    return None if value is None else parse_since(value)


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    relayed = doc.get("relayed_at")
    return {
        "at": doc["at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "name": doc["name"],
        "id": doc["event_id"],
        "aggregate": doc.get("aggregate", ""),
        "state": "relayed" if relayed else "pending",
        "deliveries": [f"{d['plugin']}.{d['listener']}" for d in doc.get("deliveries", [])],
        "replays": doc.get("replays", 0),
    }


@click.group("events")
def events_group() -> None:
    """The event log (the outbox): list events, replay them to durable listeners."""


@events_group.command("list")
@config_option
@click.option("--since", callback=_since, default=None, help=SINCE_HELP)
@click.option("--type", "name", default=None, help="Only events of this name (booking.created).")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(
    config: str | None, since: datetime | None, name: str | None, limit: int, as_json: bool
) -> None:
    """Events in the outbox, oldest first (kept for [events] retention_days)."""
    from core import outbox  # noqa: PLC0415 - keeps `keel --help` fast

    async def work(keel: Keel) -> list[dict[str, Any]]:
        return await outbox.find(keel, since=since, name=name, limit=limit)

    for doc in with_keel(config, work):
        row = _row(doc)
        if as_json:
            click.echo(json.dumps(row))
        else:
            targets = ", ".join(row["deliveries"]) or "-"
            click.echo(f"{row['at']}  {row['state']:<7}  {row['name']:<24}  {row['id']}  {targets}")


@events_group.command("replay")
@config_option
@click.option("--since", callback=_since, required=True, help=SINCE_HELP)
@click.option("--plugin", default=None, help="Only this plugin's durable listeners.")
@click.option("--type", "name", default=None, help="Only events of this name.")
def replay_command(
    config: str | None, since: datetime, plugin: str | None, name: str | None
) -> None:
    """Hand events since --since back to the relay, for the durable listeners enabled now.

    A listener that already handled an event skips it (its done-marker), so this runs
    only what is missing: a plugin enabled later, or deliveries that failed.
    """
    from core import outbox  # noqa: PLC0415

    async def work(keel: Keel) -> tuple[int, int]:
        return await outbox.replay(keel, since=since, plugin=plugin, name=name)

    seen, replayed = with_keel(config, work)
    who = f"plugin {plugin}'s" if plugin else "the"
    click.echo(
        f"{replayed} of {seen} event(s) since {since.isoformat()} handed to {who} durable listeners"
    )
