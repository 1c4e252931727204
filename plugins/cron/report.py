"""The daily report: a day's figures, as every enabled plugin reports them.

The figures come from the ``report_figures`` hook (:mod:`plugins.cron.hookspecs`), which
each plugin implements over its own data: new users (accounts), bookings and reviews
(bookings), payments (payments), and whatever third-party plugins add. A plugin that is
switched off contributes nothing, so its figures count as zero.
"""

from __future__ import annotations

import asyncio
import typing
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from core.clock import utcnow
from core.context import Keel
from core.errors import NotFoundError, PluginError
from plugins.cron.models import REPORTS
from plugins.cron.schemas import DailyReport, ReportPage


def _db(keel: Keel) -> Any:
    return keel.mongo[keel.settings.database.name]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start (inclusive) and end (exclusive) of ``day`` in ``tz`` (23 to 25 hours)."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def yesterday(tz: ZoneInfo) -> date:
    """The day before today in ``tz``."""
    return datetime.now(tz).date() - timedelta(days=1)


async def gather_figures(keel: Keel, start: datetime, end: datetime) -> dict[str, Any]:
    """Every plugin's ``report_figures`` for ``[start, end)``, merged.

    Raises:
        PluginError: a plugin failed, or two plugins returned the same figure.
    """
    caller = keel.host.pm.hook.report_figures
    names = [impl.plugin_name for impl in reversed(caller.get_hookimpls())]
    results = await asyncio.gather(*caller(keel=keel, start=start, end=end))
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name, figures in zip(names, results, strict=True):
        for key, value in dict(figures or {}).items():
            if key in merged:
                raise PluginError(name, f"report figure {key!r} is already {owner[key]!r}'s")
            merged[key], owner[key] = value, name
    return merged


async def build_report(keel: Keel, day: date, tz: ZoneInfo) -> DailyReport:
    """Compute the report of ``day`` (midnight to midnight in ``tz``)."""
    start, end = day_bounds(day, tz)
    figures = await gather_figures(keel, start, end)
    known = {
        "new_users": 0,
        "bookings": {"total": 0, "by_status": {}},
        "reviews": {"count": 0, "average_rating": None},
        "payments": {"count": 0, "totals": []},
    }
    fields = {key: figures.pop(key, default) for key, default in known.items()}
    doc = {
        "date": day.isoformat(),
        "tz": str(tz.key),
        "start": start,
        "end": end,
        "generated_at": utcnow(),
        **fields,
        "figures": figures,
    }
    return msgspec.convert(_encoded_names(doc, DailyReport), DailyReport, builtin_types=(datetime,))


async def store_report(keel: Keel, report: DailyReport) -> None:
    """Save ``report``, replacing an earlier one of the same day (Python field names:
    the camelCase names are the wire's, not the database's)."""
    doc = _python_names(report)
    await _db(keel)[REPORTS].replace_one({"date": report.date}, doc, upsert=True)


def _decode(doc: dict[str, Any]) -> DailyReport:
    doc.pop("_id", None)
    report = msgspec.convert(_encoded_names(doc, DailyReport), DailyReport)
    # figure names are the plugins' (``hello_greetings``); the wire spells them in camelCase
    figures = {_camel(name): value for name, value in report.figures.items()}
    return msgspec.structs.replace(report, figures=figures)


def _python_names(value: Any) -> Any:
    """``value`` as builtins keyed by Python field names, at any depth (datetimes kept)."""
    if isinstance(value, msgspec.Struct):
        return {f: _python_names(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, list):
        return [_python_names(v) for v in value]
    if isinstance(value, dict):
        return {k: _python_names(v) for k, v in value.items()}
    return value


def _encoded_names(value: Any, tp: Any) -> Any:
    """A value keyed by Python field names, re-keyed by the names ``tp`` decodes."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and isinstance(value, dict):
        return {
            f.encode_name: _encoded_names(value[f.name], f.type)
            for f in msgspec.structs.fields(tp)
            if f.name in value
        }
    if typing.get_origin(tp) is list and isinstance(value, list):
        (item,) = typing.get_args(tp)
        return [_encoded_names(v, item) for v in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


async def find_report(keel: Keel, day: date) -> DailyReport | None:
    """The stored report of ``day``, or None."""
    doc = await _db(keel)[REPORTS].find_one({"date": day.isoformat()})
    return None if doc is None else _decode(doc)


async def get_report(keel: Keel, day: date) -> DailyReport:
    """The stored report of ``day``.

    Raises:
        NotFoundError: none was made for that day.
    """
    found = await find_report(keel, day)
    if found is None:
        raise NotFoundError(f"no report for {day.isoformat()}", details={"date": day.isoformat()})
    return found


async def list_reports(keel: Keel, *, page: int, limit: int) -> ReportPage:
    """Stored reports, newest day first."""
    reports = _db(keel)[REPORTS]
    cursor = reports.find({}, sort=[("date", -1)], skip=(page - 1) * limit, limit=limit)
    items = [_decode(doc) async for doc in cursor]
    total = await reports.count_documents({})
    return ReportPage(items=items, page=page, limit=limit, total=int(total))
