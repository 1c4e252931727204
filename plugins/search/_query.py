"""Queries over the index, as plain blocking functions (run in a thread by the service).

Relevance is computed by tantivy exactly as documented: per query word the best of its
matches (exact 16, prefix 4, one typo 1, two typos 0.5, times the field weight) through
a disjunction-max of constant scores; words are summed (every word must match).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tantivy
from tantivy import FieldType, Occur, Order, Query

from plugins.search.text import MAX_QUERY_WORDS, tokens, typos_allowed

EXACT, PREFIX, TYPO1, TYPO2 = 16.0, 4.0, 1.0, 0.5
TIE_WINDOW = 64
"""Hits fetched on each side of a page so equal sort keys can be ordered by id."""


@dataclass(frozen=True, slots=True)
class Word:
    """One query word: the text, whether it also matches as a prefix, typos allowed."""

    text: str
    prefix: bool
    typos: int


def words_of(query: str) -> list[Word]:
    """The query's words (at most 10); the last is a prefix unless a space follows it."""
    found = tokens(query)[:MAX_QUERY_WORDS]
    open_end = not query[-1:].isspace()
    last = len(found) - 1
    return [Word(w, i == last and open_end, typos_allowed(w)) for i, w in enumerate(found)]


def _const(query: Query, score: float) -> Query:
    return Query.const_score_query(query, score)


def word_query(schema: tantivy.Schema, word: Word, fields: Sequence[tuple[str, int]]) -> Query:
    """Matches of one word in any of ``fields``, scored by its best match."""
    subs: list[Query] = []
    for field, weight in fields:
        subs.append(_const(Query.term_query(schema, field, word.text), EXACT * weight))
        if word.prefix:
            prefix = Query.fuzzy_term_query(schema, field, word.text, 0, True, True)
            subs.append(_const(prefix, PREFIX * weight))
        if word.typos >= 1:
            typo = Query.fuzzy_term_query(schema, field, word.text, 1, True, False)
            subs.append(_const(typo, TYPO1 * weight))
        if word.typos >= 2:  # noqa: PLR2004
            typo = Query.fuzzy_term_query(schema, field, word.text, 2, True, False)
            subs.append(_const(typo, TYPO2 * weight))
    return Query.disjunction_max_query(subs, 0.0)


def term(schema: tantivy.Schema, field: str, value: str) -> Query:
    """A filter that adds nothing to the score."""
    return _const(Query.term_query(schema, field, value), 0.0)


def int_range(schema: tantivy.Schema, field: str, low: int | None, high: int | None) -> Query:
    """``low <= field <= high`` (either bound may be open), adding nothing to the score."""
    q = Query.range_query(schema, field, FieldType.Integer, low, high)
    return _const(q, 0.0)


def float_range(schema: tantivy.Schema, field: str, low: float) -> Query:
    """``field >= low``, adding nothing to the score."""
    return _const(Query.range_query(schema, field, FieldType.Float, low, None), 0.0)


def conjunction(parts: Sequence[Query]) -> Query:
    """Every part must match; scores are summed."""
    return Query.boolean_query([(Occur.Must, q) for q in parts])


@dataclass(frozen=True, slots=True)
class Page:
    """One page of hits: the stored bodies in order and the exact number of matches."""

    bodies: list[bytes]
    total: int


def _ids(searcher: tantivy.Searcher, addrs: list[tantivy.DocAddress]) -> list[tuple[int, int]]:
    hi = searcher.fast_field_values("id_hi", addrs)
    lo = searcher.fast_field_values("id_lo", addrs)
    return [(int(h or 0), int(low or 0)) for h, low in zip(hi, lo, strict=True)]


def page(  # noqa: PLR0917 - one call with every knob of a sorted page
    searcher: tantivy.Searcher,
    query: Query,
    sort_field: str | None,
    descending: bool,
    offset: int,
    limit: int,
    body: str,
) -> Page:
    """Hits ``offset .. offset+limit`` by ``sort_field`` (None: relevance), ties by id.

    Equal keys are put in id order within a window of :data:`TIE_WINDOW` hits around the
    page (same direction as the sort), so pages never overlap while a tie fits in it.
    """
    if sort_field is None and not descending:  # tantivy ranks scores high to low only
        return _least_relevant(searcher, query, offset, limit, body)
    start = max(0, offset - TIE_WINDOW)
    fetch = offset - start + limit + TIE_WINDOW
    order = Order.Desc if descending else Order.Asc
    result = searcher.search(
        query, fetch, count=True, order_by_field=sort_field, offset=start, order=order
    )
    total = int(result.count)  # type: ignore[attr-defined] # the stub lacks it; count=True
    hits = result.hits
    if not hits:
        return Page([], total)
    addrs = [addr for _, addr in hits]
    ties = _ids(searcher, addrs)
    ranked = sorted(range(len(hits)), key=lambda i: (hits[i][0], ties[i]), reverse=descending)
    chosen = ranked[offset - start : offset - start + limit]
    return Page([bytes(searcher.doc(addrs[i])[body][0]) for i in chosen], total)


def _least_relevant(
    searcher: tantivy.Searcher, query: Query, offset: int, limit: int, body: str
) -> Page:
    """Ascending relevance: the matching page of the descending order, reversed."""
    total = int(searcher.search(query, 1, count=True).count)  # type: ignore[attr-defined]
    end = total - offset
    if end <= 0:
        return Page([], total)
    found = page(searcher, query, None, True, max(0, end - limit), min(limit, end), body)
    return Page(found.bodies[::-1], total)
