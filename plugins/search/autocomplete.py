"""Autocomplete: names starting with the query, in alphabetical order, via the term index.

Each name is indexed as untokenized terms ``"<words>\\x01<id>"`` (the whole name, then the
name from each later word on), so tantivy's sorted term dictionary answers "the first N
names starting with this text" directly; deleted documents are filtered out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import tantivy
from tantivy import Query

from core.errors import BadRequestError
from plugins.search import _query as q
from plugins.search._schema import AC_SETS, SEP, SERVICE_FIELDS
from plugins.search.documents import service_key, user_key
from plugins.search.service import _user_query, run_search
from plugins.search.text import normalize, phrase

if TYPE_CHECKING:
    from core.context import Keel

AUTOCOMPLETE_MIN = 2
EMPTY = b'{"items":[]}'


def _prefixed(
    searcher: tantivy.Searcher, fields: tuple[str, ...], text: str, limit: int
) -> list[str]:
    """Ids of the first ``limit`` distinct documents with a term starting with ``text``."""
    ids: list[str] = []
    seen: set[str] = set()
    alive = Query.all_query()
    for field in fields:
        for term, _ in searcher.terms_with_prefix(field, text, filter_query=alive, limit=limit * 4):
            doc_id = term.rpartition(SEP)[2]
            if doc_id not in seen:
                seen.add(doc_id)
                ids.append(doc_id)
                if len(ids) >= limit:
                    return ids
    return ids


def _bodies(
    searcher: tantivy.Searcher, schema: tantivy.Schema, keys: list[str], body: str
) -> list[bytes]:
    query = Query.term_set_query(schema, "key", keys)
    found = {}
    for _, addr in searcher.search(query, len(keys), count=False).hits:
        doc = searcher.doc(addr)
        found[doc["key"][0]] = bytes(doc[body][0])
    return [found[k] for k in keys if k in found]


def _suggest(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: str,
    *,
    kind: str,
    admin: bool,
    limit: int,
) -> bytes:
    text = phrase(query)
    users = kind == "users"
    body = ("body_x" if admin else "body") if users else "sugg"
    ids = _prefixed(searcher, AC_SETS[kind, admin and users], text, limit)
    if ids:
        keys = [user_key(i) if users else service_key(i) for i in ids]
        return b'{"items":[%s]}' % b",".join(_bodies(searcher, schema, keys, body))
    words = q.words_of(query)  # nothing starts with it: the best hits, typos allowed
    if users:
        match = _user_query(schema, words, admin)
    else:
        match = q.conjunction(
            [
                *(q.word_query(schema, w, SERVICE_FIELDS) for w in words),
                q.term(schema, "space", "s"),
            ]
        )
    found = q.page(searcher, match, None, True, 0, limit, body)
    return b'{"items":[%s]}' % b",".join(found.bodies)


async def autocomplete(
    keel: Keel, query: str, *, kind: Literal["services", "users"], admin: bool, limit: int
) -> bytes:
    """Up to ``limit`` suggestions whose name starts with the query (typo-tolerant fallback).

    Raises:
        BadRequestError: the query has fewer than 2 characters.
    """
    if len(normalize(query).strip()) < AUTOCOMPLETE_MIN:
        raise BadRequestError(
            f"autocomplete needs a query of at least {AUTOCOMPLETE_MIN} characters",
            details={"query": query},
        )
    if not phrase(query):
        return EMPTY
    found = await run_search(
        keel, lambda s, schema: _suggest(s, schema, query, kind=kind, admin=admin, limit=limit)
    )
    return found or EMPTY
