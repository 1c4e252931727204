"""What the index holds for a service or a user: tantivy documents built from MongoDB data.

The served JSON (camelCase, :mod:`plugins.search.schemas`) is encoded once here and
stored with the document, so a search never re-encodes a hit.
"""

from __future__ import annotations

from typing import Any

import msgspec
import tantivy

from plugins.bookings.events import ServiceSnapshot
from plugins.search._schema import KEY, LATER, SEP
from plugins.search.schemas import ServiceHit, ServiceSuggestion, UserHit
from plugins.search.text import phrase, tokens

_encode = msgspec.json.Encoder().encode
_SIGN = 1 << 63


def service_key(service_id: str) -> str:
    """The unique ``key`` term of a service's document."""
    return f"s:{service_id}"


def user_key(user_id: str) -> str:
    """The unique ``key`` term of a user's document."""
    return f"u:{user_id}"


def id_order(doc_id: str) -> tuple[int, int]:
    """Two signed integers ordered like the 24-hex id (the tie-break of equal sort keys)."""
    try:
        value = int(doc_id, 16) if len(doc_id) == 24 else int.from_bytes(doc_id.encode()[:12])  # noqa: PLR2004
    except ValueError:
        value = int.from_bytes(doc_id.encode()[:12])
    return (value >> 32) - _SIGN, value & 0xFFFFFFFF


def lex_key(data: bytes, pad: bytes = b"\0") -> int:
    """The first 8 bytes of ``data`` (padded with ``pad``) as a signed integer in the same
    order (autocomplete narrows a prefix to a key range with it)."""
    return int.from_bytes(data[:8].ljust(8, pad), "big") - _SIGN


def _words(text: str) -> str:
    return " ".join(tokens(text))


def _lex(doc: tantivy.Document, prefix: str, text: str, doc_id: str) -> None:
    """Autocomplete terms: ``<prefix>0`` the whole text, then ``<prefix>N`` the text from
    its N+1th word on (every later one in the last field, see ``_schema.LATER``)."""
    words = phrase(text).split(" ")
    if not words[0]:
        return
    for i in range(len(words)):
        field, term = f"{prefix}{min(i, LATER)}", " ".join(words[i:]) + SEP + doc_id
        doc.add_text(field, term)
        doc.add_integer(field + KEY, lex_key(term.encode()))


def _base(key: str, space: str, doc_id: str) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("key", key)
    doc.add_text("space", space)
    hi, lo = id_order(doc_id)
    doc.add_integer("id_hi", hi)
    doc.add_integer("id_lo", lo)
    return doc


def service_document(snap: ServiceSnapshot) -> tantivy.Document | None:
    """The document of a service; None for an inactive one (never found)."""
    if not snap.active:
        return None
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
    doc = _base(service_key(snap.id), "s", snap.id)
    doc.add_text("s_name", _words(snap.name))
    doc.add_text("s_cat", _words(snap.category))
    doc.add_text("s_desc", _words(snap.description))
    doc.add_text("cat", phrase(snap.category))
    doc.add_text("cat_label", snap.category)
    doc.add_integer("price", snap.price)
    doc.add_float("rating", float(snap.rating_average))
    doc.add_integer("created", int(snap.created_at.timestamp() * 1000))
    doc.add_bytes("body", _encode(hit))
    doc.add_bytes(
        "sugg", _encode(ServiceSuggestion(id=snap.id, name=snap.name, category=snap.category))
    )
    _lex(doc, "ac_s", snap.name, snap.id)
    return doc


def user_document(user: dict[str, Any]) -> tantivy.Document:
    """The document of a user from the ``users`` collection.

    Everyone finds providers by name; admins find every user by name or email.
    """
    uid, name, role = str(user["_id"]), str(user["name"]), str(user["role"])
    email, avatar = str(user["email"]), user.get("avatar")
    doc = _base(user_key(uid), "u", uid)
    provider = role == "provider"
    if provider:
        doc.add_text("flag", "provider")
        _lex(doc, "ac_u", name, uid)
    doc.add_text("u_name", _words(name))
    doc.add_text("u_email", _words(email))
    doc.add_bytes("body", _encode(UserHit(id=uid, name=name, role=role, avatar=avatar)))
    full = UserHit(id=uid, name=name, role=role, avatar=avatar, email=email)
    doc.add_bytes("body_x", _encode(full))
    _lex(doc, "ac_x", name, uid)
    _lex(doc, "ac_e", email, uid)
    return doc
