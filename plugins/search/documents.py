"""What the index stores for a service or a user: built from event snapshots and users.

A payload tells the ``APPLY`` script every key the document touches (postings, sets,
sort fields, autocomplete entries, served JSON), so removing it later needs no lookup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from plugins.bookings.events import ServiceSnapshot
from plugins.search.schemas import ServiceHit, ServiceSuggestion, UserHit
from plugins.search.text import phrase, tokens

NAME, CATEGORY, DESCRIPTION, EMAIL = 3, 2, 1, 1
"""Field weights: a word in the name counts more than one in the description."""
SEP = "\x01"
"""Separates the text of an autocomplete entry from the id (sorts below every letter)."""
_encode = msgspec.json.Encoder().encode


def _postings(fam: str, fields: list[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for text, weight in fields:
        for tok in tokens(text):
            key = f"{fam}:{tok}"
            out[key] = max(out.get(key, 0), weight)
    return out


def _lex(text: str, doc_id: str) -> tuple[list[str], list[str]]:
    """Autocomplete entries: the whole text, and the text from each later word on."""
    words = phrase(text).split(" ")
    if not words[0]:
        return [], []
    starts = [" ".join(words[i:]) + SEP + doc_id for i in range(1, len(words))]
    return [" ".join(words) + SEP + doc_id], starts


def category_key(category: str) -> str:
    """The set of a category (case and accents ignored)."""
    return "cat:" + phrase(category)


def service_payload(snap: ServiceSnapshot) -> dict[str, Any]:
    """The index payload of a service; an inactive one is indexed as nothing at all."""
    if not snap.active:
        return {"t": {}, "a": {}, "s": [], "f": {}, "d": {}}
    hit = ServiceHit(
        id=snap.id,
        provider_id=snap.provider_id,
        name=snap.name,
        description=snap.description,
        category=snap.category,
        price=snap.price,
        currency=snap.currency,
        duration_minutes=snap.duration_minutes,
        images=snap.images,
        rating_average=snap.rating_average,
        rating_count=snap.rating_count,
        created_at=snap.created_at,
    )
    suggestion = ServiceSuggestion(id=snap.id, name=snap.name, category=snap.category)
    whole, later = _lex(snap.name, snap.id)
    return {
        "t": _postings(
            "s", [(snap.name, NAME), (snap.category, CATEGORY), (snap.description, DESCRIPTION)]
        ),
        "a": {"ac:s0": whole, "ac:s1": later},
        "s": [category_key(snap.category)],
        "f": {
            "price": snap.price,
            "rating": snap.rating_average,
            "created": snap.created_at.timestamp(),
        },
        "d": {"doc:s": _encode(hit).decode(), "acd:s": _encode(suggestion).decode()},
    }


def user_revision(doc: dict[str, Any]) -> int:
    """A user's revision: its ``updated_at`` in milliseconds (users have no counter)."""
    updated: datetime = doc["updated_at"]
    return int(updated.timestamp() * 1000)


def user_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The index payload of a user document from the ``users`` collection.

    Everyone finds providers by name; admins find every user by name or email.
    """
    uid, name, role = str(doc["_id"]), str(doc["name"]), str(doc["role"])
    public = UserHit(id=uid, name=name, role=role, avatar=doc.get("avatar"))
    full = UserHit(id=uid, name=name, role=role, avatar=doc.get("avatar"), email=doc["email"])
    whole, later = _lex(name, uid)
    email_whole, email_later = _lex(doc["email"], uid)
    provider = role == "provider"
    return {
        "t": {**_postings("ue", [(doc["email"], EMAIL)]), **_postings("un", [(name, NAME)])},
        "a": {
            "ac:u0": whole if provider else [],
            "ac:u1": later if provider else [],
            "ac:x0": whole,
            "ac:x1": later,
            "ac:xe": email_whole + email_later,
        },
        "s": ["prov:u"] if provider else [],
        "f": {},
        "d": {"doc:u": _encode(public).decode(), "docx:u": _encode(full).decode()},
    }
