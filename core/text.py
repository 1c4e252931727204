"""Text types for request bodies: what a single-line and a multi-line string may hold.

Public toolkit for every plugin's schemas. Each type is an ``Annotated[str, Meta(pattern=
...)]``, so msgspec refuses a bad value while decoding (the usual 400 naming the field) and
the OpenAPI document shows the constraint. Add lengths with another ``Meta``; msgspec
merges them::

    Name = Annotated[SingleLine, Meta(min_length=1, max_length=100)]

- :data:`SingleLine` (names, titles, categories): at least one non-space character, and
  no control character at all -- no C0 (line breaks and tab included), no DEL, no C1, no
  Unicode line or paragraph separator (U+2028, U+2029) and no bidirectional embedding,
  override or isolate (U+202A-U+202E, U+2066-U+2069), which could make a name display
  as something else ("Trojan source" spoofing).
- :data:`MultiLine` (descriptions, messages, comments, reasons): line breaks ``\\n`` and
  ``\\r\\n`` and tab are allowed; a lone ``\\r``, any other C0 control, DEL and C1 are
  not. Bidirectional marks stay allowed here: right-to-left writers use them in prose.
  :data:`NonBlankMultiLine` also needs one non-space character.

The patterns end with ``(?![\\s\\S])`` rather than ``$``: Python's ``$`` also matches
before a final ``\\n``, which would let one line break through a single-line field.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

__all__ = [
    "MULTI_LINE_PATTERN",
    "NON_BLANK_MULTI_LINE_PATTERN",
    "SINGLE_LINE_PATTERN",
    "MultiLine",
    "NonBlankMultiLine",
    "SingleLine",
]

_END = r"(?![\s\S])"
_NON_BLANK = r"(?=[\s\S]*\S)"
_LINE_CHAR = r"[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
# tab (\x09) and \n (\x0a) pass; \r only right before \n (the unrolled loop keeps it fast)
_TEXT_CHAR = r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]"
_TEXT = rf"{_TEXT_CHAR}*(?:\r\n{_TEXT_CHAR}*)*{_END}"

SINGLE_LINE_PATTERN = rf"^{_NON_BLANK}{_LINE_CHAR}*{_END}"
"""One line of visible text: see :data:`SingleLine`."""
MULTI_LINE_PATTERN = rf"^{_TEXT}"
"""Text with line breaks and tabs: see :data:`MultiLine`."""
NON_BLANK_MULTI_LINE_PATTERN = rf"^{_NON_BLANK}{_TEXT}"
""":data:`MULTI_LINE_PATTERN` with at least one non-space character."""

SingleLine = Annotated[
    str,
    Meta(
        pattern=SINGLE_LINE_PATTERN,
        description="One line: no control characters, line breaks or bidi overrides.",
    ),
]
"""A name, title or category: one line, not blank, no control characters."""
MultiLine = Annotated[
    str,
    Meta(
        pattern=MULTI_LINE_PATTERN,
        description="Text: line breaks (\\n, \\r\\n) and tabs, no other control characters.",
    ),
]
"""A description, message or comment: line breaks and tabs, no other control characters."""
NonBlankMultiLine = Annotated[
    str,
    Meta(
        pattern=NON_BLANK_MULTI_LINE_PATTERN,
        description="Text, not blank: line breaks (\\n, \\r\\n) and tabs, no other control "
        "characters.",
    ),
]
"""A :data:`MultiLine` text with at least one non-space character (a reason, ...)."""
