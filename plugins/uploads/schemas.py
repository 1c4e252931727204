"""Response bodies of the uploads API."""

from __future__ import annotations

from datetime import datetime

import msgspec


class UploadInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """An upload's metadata.

    Attributes:
        id: the upload id (24 hex digits; random, not time-ordered).
        owner_id: the user who uploaded it.
        filename: the client's file name, sanitized (files are stored by id).
        content_type: the type sniffed from the bytes.
        size: bytes.
        url: where the bytes are served (``/api/uploads/{id}/content``).
        thumbnail: URL of the thumbnail of an image once it is made; null until then
            (and for non-images or when it failed).
        thumbnail_error: why no thumbnail could be made, if it failed.
        created_at: when it was uploaded (UTC).
    """

    id: str
    owner_id: str
    filename: str
    content_type: str
    size: int
    url: str
    thumbnail: str | None
    thumbnail_error: str | None
    created_at: datetime


class UploadList(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The uploads made by one ``POST /api/uploads/multiple``, in form order."""

    items: list[UploadInfo]


class UploadPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One page of the caller's uploads, newest first."""

    items: list[UploadInfo]
    page: int
    limit: int
    total: int
