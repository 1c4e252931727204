"""Text normalisation shared by indexing and querying: one tokenizer for both sides.

Text is decomposed (NFKD), stripped of combining marks (accents), case-folded and split
into runs of letters and digits; everything else separates words. Nothing from a query
is ever interpreted as a pattern: ``.*`` or ``(a|b)`` are just separators.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TOKEN = 40
"""Longer words are cut to this many characters (on both sides, so they still match)."""
MAX_QUERY_WORDS = 10
"""Words of a query beyond this are ignored (bounds the work of one query)."""
_WORD = re.compile(r"[^\W_]+")


def normalize(text: str) -> str:
    """``text`` without accents and case: ``"Café"`` -> ``"cafe"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``, in order (duplicates kept)."""
    return [w[:MAX_TOKEN] for w in _WORD.findall(normalize(text))]


def phrase(text: str) -> str:
    """The normalised words of ``text`` joined by single spaces (autocomplete keys)."""
    return " ".join(tokens(text))


def typos_allowed(word: str) -> int:
    """Meilisearch's defaults: 1 typo for words of 5+ characters, 2 for 9+."""
    if len(word) >= 9:  # noqa: PLR2004
        return 2
    return 1 if len(word) >= 5 else 0  # noqa: PLR2004
