"""The change feed: a Valkey stream of ``(space, id)`` entries that every host's writer reads.

Listeners (durable jobs, each run once) save the new state to MongoDB and then append the
changed document's id here; each host's index writer reads the stream from its own
cursor (kept with its index) and re-reads those documents from MongoDB, so every index
sees every change, and a repeated or reordered entry only re-applies the current state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from valkey.exceptions import ResponseError

from core.context import settings_of
from plugins.search.settings import SearchSettings

if TYPE_CHECKING:
    from core.context import Keel

ORIGIN = "0-0"
Entry = tuple[str, str, str]
"""``(stream id, space, document id)``; space ``s`` (service) or ``u`` (user)."""


def feed_key(keel: Keel) -> str:
    """The stream's key."""
    return keel.key("search", "feed")


def order(stream_id: str) -> tuple[int, int]:
    """A stream id as a comparable pair."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def publish(keel: Keel, space: str, doc_id: str) -> None:
    """Append a change of ``space``/``doc_id`` (after it is saved in MongoDB)."""
    max_len = settings_of(keel, SearchSettings).feed_max_len
    await keel.valkey.xadd(
        feed_key(keel), {"s": space, "i": doc_id}, maxlen=max_len, approximate=False
    )


async def _info(keel: Keel) -> dict[str, Any] | None:
    try:
        info = await keel.valkey.xinfo_stream(feed_key(keel))
    except ResponseError as exc:  # a missing stream is an error reply
        if "no such key" not in str(exc).lower():
            raise
        return None
    return {_text(k): v for k, v in info.items()}


async def head(keel: Keel) -> str:
    """The id of the newest entry ever added (``0-0`` when the feed does not exist), even
    if trimmed since."""
    info = await _info(keel)
    return ORIGIN if info is None else _text(info.get("last-generated-id", ORIGIN))


async def read(keel: Keel, after: str, *, count: int, block_ms: int | None) -> list[Entry]:
    """Up to ``count`` entries after ``after`` (waiting up to ``block_ms`` for one)."""
    answer = await keel.valkey.xread({feed_key(keel): after}, count=count, block=block_ms)
    entries: list[Entry] = []
    for _, rows in answer or []:
        for stream_id, fields in rows:
            values = {_text(k): _text(v) for k, v in fields.items()}
            entries.append((_text(stream_id), values.get("s", ""), values.get("i", "")))
    return entries


async def has_gap(keel: Keel, cursor: str) -> bool:
    """Whether entries after ``cursor`` may be lost: trimmed away, or the feed recreated.

    Conservative: a cursor just before the oldest kept entry also counts as a gap (the
    stream does not tell whether entries between them were trimmed).
    """
    info = await _info(keel)
    if info is None:
        return cursor != ORIGIN
    last = order(_text(info.get("last-generated-id", ORIGIN)))
    first_entry = info.get("first-entry")
    if order(cursor) > last:
        return True
    if not first_entry:  # empty: everything ever added was trimmed
        return last > order(cursor)
    return order(_text(first_entry[0])) > order(cursor)
