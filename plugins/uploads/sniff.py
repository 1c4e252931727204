"""Content types from the bytes themselves (magic numbers), never from a header or a name.

A :class:`Sniffer` is fed a file's chunks as they stream in: the first bytes decide the
type; a file that starts like text is checked to be UTF-8 without control characters
all the way to its last byte.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["KINDS", "Kind", "Sniffer", "normalize_declared"]

HEAD_BYTES = 16
"""Bytes needed to tell every binary type apart."""


@dataclass(frozen=True, slots=True)
class Kind:
    """A content type keel can recognise.

    Attributes:
        mime: the content type, e.g. ``image/png``.
        ext: the extension of stored files (with the dot).
        image: whether Pillow makes a thumbnail of it and it is served inline.
        other_exts: further extensions that name this type.
    """

    mime: str
    ext: str
    image: bool
    other_exts: tuple[str, ...] = ()

    def names_type(self, filename: str) -> bool:
        """Whether ``filename`` ends in an extension of this type."""
        return filename.lower().endswith((self.ext, *self.other_exts))


KINDS: dict[str, Kind] = {
    k.mime: k
    for k in (
        Kind("image/jpeg", ".jpg", image=True, other_exts=(".jpeg", ".jpe")),
        Kind("image/png", ".png", image=True),
        Kind("image/gif", ".gif", image=True),
        Kind("image/webp", ".webp", image=True),
        Kind("application/pdf", ".pdf", image=False),
        Kind("text/plain", ".txt", image=False, other_exts=(".text",)),
    )
}
"""Every recognisable type by content type."""

_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_UNDECLARED = {"", "application/octet-stream"}
# Text may hold tabs, newlines, form feeds and carriage returns; any other C0 control
# character (or DEL) means the bytes are not plain text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _magic(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def normalize_declared(value: str | None) -> str | None:
    """A part's declared content type, lower-cased without parameters; None if undeclared.

    ``application/octet-stream`` (what browsers send for an unknown extension) counts as
    undeclared: the sniffed type is then taken as is.
    """
    mime = (value or "").split(";", 1)[0].strip().lower()
    if mime in _UNDECLARED:
        return None
    return _ALIASES.get(mime, mime)


class Sniffer:
    """Incremental type detection over a stream of chunks.

    Feed every chunk to :meth:`feed`, then call :meth:`result` once: the sniffed
    content type, or None when the bytes are none of the known types.
    """

    def __init__(self) -> None:
        self._head = b""
        self._mime: str | None = None
        self._decided = False
        self._text_ok = True
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the file."""
        if not self._decided:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
            if len(self._head) >= HEAD_BYTES:
                self._decide()
        if self._mime == "text/plain" or not self._decided:
            self._check_text(chunk)

    def _decide(self) -> None:
        self._decided = True
        self._mime = _magic(self._head) or "text/plain"

    def _check_text(self, chunk: bytes, *, final: bool = False) -> None:
        if not self._text_ok:
            return
        try:
            text = self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self._text_ok = False
            return
        if _CONTROL.search(text):
            self._text_ok = False

    def result(self) -> str | None:
        """The content type of everything fed, or None when it is not a known type."""
        if not self._decided:
            self._decide()
        if self._mime == "text/plain":
            self._check_text(b"", final=True)
            return "text/plain" if self._text_ok and self._head else None
        return self._mime
