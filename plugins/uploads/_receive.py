"""Streaming ``multipart/form-data`` into staging files, checking every limit on the way.

Litestar's own form parsing keeps whole files (in memory or a spooled temp file) before
a handler sees them; here each file part streams chunk by chunk to a staging file, so
no more than one chunk is held in memory, an oversized file is refused as soon as it
passes the limit, and the type is sniffed from the bytes as they arrive.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio import AsyncFile
from multipart import (  # type: ignore[import-untyped]
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
)

from core.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from core.settings import UploadsSettings

from .sniff import Sniffer, normalize_declared

__all__ = ["Received", "parse_boundary", "receive_files", "sanitize_filename"]

MAX_FILENAME = 200
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]')
_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.IGNORECASE)


@dataclass(slots=True)
class Received:
    """A file part that passed every check, waiting in its staging file."""

    staged: Path
    filename: str
    mime: str
    size: int


@dataclass(slots=True)
class _Part:
    file: AsyncFile[bytes]
    staged: Path
    filename: str
    declared: str | None
    size: int = 0
    sniffer: Sniffer = field(default_factory=Sniffer)


def sanitize_filename(raw: str | None) -> str:
    """A client's file name made harmless: no directories, control or reserved characters.

    Only kept as metadata (and in ``Content-Disposition``); stored files are named by id.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = ext[:16] if dot and stem else ""
        name = name[: MAX_FILENAME - len(keep) - 1].rstrip(" .") + ("." + keep if keep else "")
    return name or "file"


def parse_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` content type.

    Raises:
        UnsupportedMediaTypeError: the body is not ``multipart/form-data``.
        BadRequestError: no boundary.
    """
    value = content_type or ""
    if value.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            "uploads must be sent as multipart/form-data",
            details={"contentType": value[:100]},
        )
    match = _BOUNDARY.search(value)
    if match is None:
        raise BadRequestError("multipart/form-data without a boundary")
    return match.group(1).encode("latin-1")


class _Receiver:
    def __init__(
        self, settings: UploadsSettings, staging: Path, field: str, max_files: int
    ) -> None:
        self.settings = settings
        self.staging = staging
        self.field = field
        self.max_files = max_files
        self.done: list[Received] = []
        self.part: _Part | None = None

    async def start(self, segment: MultipartSegment) -> None:
        if segment.name != self.field or segment.filename is None:
            raise BadRequestError(
                f"unexpected form field {str(segment.name)[:64]!r}: send files in "
                f"the field {self.field!r}",
                details={"field": self.field},
            )
        if len(self.done) >= self.max_files:  # the document's maxItems: a 400
            raise BadRequestError(
                f"too many files: at most {self.max_files} per request",
                details={"maxFiles": self.max_files},
            )
        await anyio.Path(self.staging).mkdir(parents=True, exist_ok=True)
        staged = self.staging / f"{os.urandom(12).hex()}.part"
        file = await anyio.open_file(staged, "xb")
        declared = normalize_declared(segment.content_type)
        self.part = _Part(file, staged, sanitize_filename(segment.filename), declared)

    async def write(self, chunk: bytes) -> None:
        part = self._current()
        part.size += len(chunk)
        if part.size > self.settings.max_file_bytes:
            raise PayloadTooLargeError(
                f"file {part.filename!r} is larger than {self.settings.max_file_bytes} bytes",
                details={"maxFileBytes": self.settings.max_file_bytes},
            )
        part.sniffer.feed(chunk)
        await part.file.write(chunk)

    async def finish(self) -> None:
        part = self._current()
        await part.file.aclose()
        self.part = None
        self.done.append(Received(part.staged, part.filename, "", part.size))
        if part.size == 0:
            raise BadRequestError(f"file {part.filename!r} is empty")
        self.done[-1].mime = self._check_type(part)

    def _check_type(self, part: _Part) -> str:
        sniffed = part.sniffer.result()
        allowed = self.settings.allowed_types
        if sniffed is None or sniffed not in allowed:
            raise UnsupportedMediaTypeError(
                f"file {part.filename!r} is not of an allowed type ({', '.join(allowed)})",
                details={"sniffed": sniffed, "allowed": list(allowed)},
            )
        if part.declared is not None and part.declared != sniffed:
            raise UnsupportedMediaTypeError(
                f"file {part.filename!r} was declared {part.declared!r} but its content "
                f"is {sniffed!r}",
                details={"declared": part.declared, "sniffed": sniffed},
            )
        return sniffed

    def _current(self) -> _Part:
        if self.part is None:
            raise BadRequestError("invalid multipart/form-data: data outside a part")
        return self.part

    async def discard(self) -> None:
        """Close and remove every staging file (after an error)."""
        paths = [r.staged for r in self.done]
        if self.part is not None:
            await self.part.file.aclose()
            paths.append(self.part.staged)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                await anyio.Path(path).unlink()


async def receive_files(
    stream: AsyncIterator[bytes],
    boundary: bytes,
    settings: UploadsSettings,
    staging: Path,
    *,
    field: str,
    max_files: int,
) -> list[Received]:
    """Stream every file part of the form in ``field`` to a staging file in ``staging``.

    Raises:
        BadRequestError: malformed multipart, another field, an empty file, no file,
            more than ``max_files``.
        PayloadTooLargeError: a file over ``max_file_bytes``.
        UnsupportedMediaTypeError: a type not allowed, or declared unlike its bytes.
    """
    receiver = _Receiver(settings, staging, field, max_files)
    try:
        await _pump(stream, boundary, receiver)
    except BaseException:
        await receiver.discard()
        raise
    if not receiver.done:
        raise BadRequestError(f"no file in the form field {field!r}", details={"field": field})
    return receiver.done


async def _pump(stream: AsyncIterator[bytes], boundary: bytes, receiver: _Receiver) -> None:
    try:
        with PushMultipartParser(boundary) as parser:
            async for chunk in stream:
                if not chunk or parser.closed:
                    continue
                for event in parser.parse(chunk):
                    await _handle(receiver, event)
            if not parser.closed:
                for event in parser.parse(b""):
                    await _handle(receiver, event)
    except MultipartError as exc:
        raise BadRequestError(f"invalid multipart/form-data: {exc}") from None


async def _handle(receiver: _Receiver, event: Any) -> None:
    if isinstance(event, MultipartSegment):
        await receiver.start(event)
    elif event:
        await receiver.write(event)
    elif event is None:
        await receiver.finish()
