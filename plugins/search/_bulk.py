"""Loading a generation being built with plain variadic commands (no Lua: much faster).

Listeners keep writing to that generation meanwhile through the revision-checked
``APPLY`` script and mark what they touched in ``dirty``; the rebuild re-applies those
documents from the source before the swap, so a bulk write can never leave older data
over a newer change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


def deletes(word: bytes) -> set[bytes]:
    """The deletion neighbourhood of a vocabulary word, as ``_lua.deletes`` (bytes)."""
    depth = 2 if len(word) >= 7 else 1 if len(word) >= 4 else 0  # noqa: PLR2004
    out: set[bytes] = set()
    layer = {word}
    for _ in range(depth):
        layer = {s[:i] + s[i + 1 :] for s in layer for i in range(len(s))} - out
        out |= layer
    return out


def meta(revision: int, payload: dict[str, Any] | None) -> bytes:
    """What the scripts keep of a document to remove it later (see ``_lua.APPLY``)."""
    if payload is None:
        return _encode({"r": revision, "dead": True})
    keep = {k: payload[k] for k in ("t", "a", "s", "f")}
    return _encode({"r": revision, **keep, "d": dict.fromkeys(payload["d"], 1)})


@dataclass
class Vocabulary:
    """The words written so far in one load, and their deletion neighbourhoods.

    A listener adding a brand-new word to the generation during the load may lose its
    deletion entries (no typo matches for that word until the next change or rebuild).
    """

    words: set[str] = field(default_factory=set)
    deletions: dict[str, dict[bytes, str]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, key: str, touched: dict[str, set[bytes]]) -> str:
        """Record ``fam:token``; returns the token, noting the deletions it changed."""
        self.words.add(key)
        fam, tok = key.split(":", 1)
        table = self.deletions[fam]
        for part in deletes(tok.encode()):
            table[part] = f"{table[part]} {tok}" if part in table else tok
            touched[fam].add(part)
        return tok


def queue_batch(
    pipe: Any,
    base: str,
    docs: Sequence[tuple[str, str, int, dict[str, Any] | None]],
    vocabulary: Vocabulary,
) -> None:
    """Queue on ``pipe`` the writes of ``(space, id, revision, payload)`` under ``base``."""
    zsets: dict[str, dict[str, float]] = defaultdict(dict)
    hashes: dict[str, dict[str | bytes, str | bytes]] = defaultdict(dict)
    touched: dict[str, set[bytes]] = defaultdict(set)
    for space, doc_id, revision, payload in docs:
        hashes[f"{base}m:{space}"][doc_id] = meta(revision, payload)
        if payload is None:
            continue
        for key, weight in payload["t"].items():
            zsets[f"{base}p:{key}"][doc_id] = weight
            if key not in vocabulary.words:
                zsets[f"{base}v:{key.split(':', 1)[0]}"][vocabulary.add(key, touched)] = 0
        for set_name, members in payload["a"].items():
            zsets[base + set_name].update(dict.fromkeys(members, 0))
        for set_name in payload["s"]:
            zsets[base + set_name][doc_id] = 0
        for name, value in payload["f"].items():
            zsets[f"{base}f:{name}"][doc_id] = value
        for name, body in payload["d"].items():
            hashes[base + name][doc_id] = body
    for fam, parts in touched.items():
        table = vocabulary.deletions[fam]
        hashes[f"{base}d:{fam}"].update({part: table[part] for part in parts})
    for key, scores in zsets.items():
        pipe.zadd(key, scores)
    for key, values in hashes.items():
        pipe.hset(key, mapping=values)
