"""Autocomplete: names starting with the query, in alphabetical order, ties by id.

Each name is indexed as untokenized, sortable terms ``"<words>\\x01<id>"`` (the whole
name, then the name from each later word on, one field per position), so a prefix query
ordered by that field gives the first names starting with the text alphabetically, as a
sorted set would, however many names match.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import tantivy
from tantivy import FieldType, Order, Query

from core.errors import UnprocessableError
from plugins.search import _query as q
from plugins.search._schema import AC_SETS, KEY, SEP, SERVICE_FIELDS
from plugins.search.documents import lex_key
from plugins.search.service import _user_query, run_search
from plugins.search.text import normalize, phrase

if TYPE_CHECKING:
    from core.context import Keel

AUTOCOMPLETE_MIN = 2
EMPTY = b'{"items":[]}'
Hit = tuple[str, tantivy.DocAddress]
KEY_BYTES = 8


def _first(
    searcher: tantivy.Searcher, schema: tantivy.Schema, field: str, text: str, n: int
) -> list[Hit]:
    """The first ``n`` terms of ``field`` starting with ``text``, in order.

    A short prefix narrows the key range from just above the prefix upwards (x16 each
    try) until ``n`` terms are in it, so the work follows ``n``, not how many names match.
    """
    data = text.encode()
    if len(data) > KEY_BYTES:
        query = Query.fuzzy_term_query(schema, field, text, 0, True, True)
        return _ordered(searcher, query, field, n)[0]
    low, high = lex_key(data), lex_key(data, b"\xff")
    width = 1 << (8 * (KEY_BYTES - 1 - len(data))) if len(data) < KEY_BYTES else 1
    while True:
        top = min(high, low + width - 1)
        keys = Query.range_query(
            schema, field + KEY, FieldType.Integer, low, top, use_inverted_index=True
        )
        hits, total = _ordered(searcher, keys, field, n)
        if total >= n or top >= high:
            return hits
        width *= 16


def _ordered(searcher: tantivy.Searcher, query: Query, field: str, n: int) -> tuple[list[Hit], int]:
    found = searcher.search(query, n, count=True, order_by_field=field, order=Order.Asc)
    total = int(found.count)  # type: ignore[attr-defined] # the stub lacks it; count=True
    return [(str(term), addr) for term, addr in found.hits], total


def _group(
    searcher: tantivy.Searcher, schema: tantivy.Schema, fields: tuple[str, ...], text: str, n: int
) -> list[Hit]:
    """The first ``n`` terms starting with ``text`` in each of ``fields``, merged in order."""
    found: list[Hit] = []
    for field in fields:
        found += _first(searcher, schema, field, text, n)
    return sorted(found, key=lambda hit: hit[0]) if len(fields) > 1 else found


def _prefixed(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    groups: tuple[tuple[str, ...], ...],
    text: str,
    limit: int,
) -> list[tantivy.DocAddress]:
    """The first ``limit`` distinct documents with a term starting with ``text``, group by
    group (whole names first)."""
    chosen: list[tantivy.DocAddress] = []
    seen: set[str] = set()
    for fields in groups:
        for term, addr in _group(searcher, schema, fields, text, limit * 2):
            doc_id = term.rpartition(SEP)[2]
            if doc_id not in seen:
                seen.add(doc_id)
                chosen.append(addr)
                if len(chosen) >= limit:
                    return chosen
    return chosen


def _suggest(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: str,
    *,
    kind: str,
    admin: bool,
    limit: int,
) -> bytes:
    users = kind == "users"
    body = ("body_x" if admin else "body") if users else "sugg"
    addrs = _prefixed(searcher, schema, AC_SETS[kind, admin and users], phrase(query), limit)
    if addrs:
        return b'{"items":[%s]}' % b",".join(bytes(searcher.doc(a)[body][0]) for a in addrs)
    words = q.words_of(query)  # nothing starts with it: the best hits, typos allowed
    if users:
        match = _user_query(schema, words, admin)
    else:
        found = [q.word_query(schema, w, SERVICE_FIELDS) for w in words]
        match = q.conjunction([*found, q.term(schema, "space", "s")])
    best = q.page(searcher, match, None, True, 0, limit, body)
    return b'{"items":[%s]}' % b",".join(best.bodies)


async def autocomplete(
    keel: Keel, query: str, *, kind: Literal["services", "users"], admin: bool, limit: int
) -> bytes:
    """Up to ``limit`` suggestions whose name starts with the query (typo-tolerant fallback).

    Raises:
        UnprocessableError: the query has fewer than 2 characters once trimmed (a
            shorter one is refused by its documented ``minLength`` with a 400).
    """
    if len(normalize(query).strip()) < AUTOCOMPLETE_MIN:
        raise UnprocessableError(
            f"autocomplete needs a query of at least {AUTOCOMPLETE_MIN} characters",
            details={"query": query},
        )
    if not phrase(query):
        return EMPTY
    found = run_search(
        keel, lambda s, schema: _suggest(s, schema, query, kind=kind, admin=admin, limit=limit)
    )
    return found or EMPTY
