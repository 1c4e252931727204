"""What uploads offers other plugins: checking that uploads belong to someone.

A field that points at a file (an avatar, a service's images) must name an upload of
the user it is for, or anyone could show anyone's file as theirs::

    from plugins.uploads.api import require_owned

    await require_owned(keel, caller.object_id, data.images, field="images")

A value is an upload id (24 hex digits) or the upload's content URL
``/api/uploads/{id}/content`` (the ``url`` an upload answers with); both name the same
upload. With the uploads plugin switched off there are no uploads, so nothing passes.
A request field of type :data:`UploadReference` documents (and enforces) that shape, so
a value that is not a reference at all is a 400 before any code runs, and one that names
no upload of the user a 422.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

from bson import ObjectId
from msgspec import Meta

from core.errors import BadRequestError, UnprocessableError

from .documents import Upload

if TYPE_CHECKING:
    from core.context import Keel

__all__ = [
    "UPLOAD_REFERENCE_PATTERN",
    "UploadReference",
    "owned_upload_ids",
    "require_owned",
    "upload_id_of",
]

# ``(?![\s\S])`` and not ``$``, which would let a final "\n" through
UPLOAD_REFERENCE_PATTERN = r"^(?:[0-9a-f]{24}|/api/uploads/[0-9a-f]{24}/content)(?![\s\S])"
"""An upload id or its content URL, as a request schema pattern."""
UploadReference = Annotated[
    str,
    Meta(
        max_length=len("/api/uploads/") + 24 + len("/content"),
        pattern=UPLOAD_REFERENCE_PATTERN,
        description="One of your uploads: its id (24 hex digits) or its URL "
        "`/api/uploads/{id}/content`.",
    ),
]
"""A request field naming one of the caller's uploads (check it with :func:`require_owned`)."""
_REFERENCE = re.compile(r"(?:/api/uploads/)?([0-9a-f]{24})(?:/content)?")


def upload_id_of(value: str) -> str | None:
    """The upload id ``value`` names (an id or ``/api/uploads/{id}/content``), or None."""
    match = _REFERENCE.fullmatch(value)
    if match is None or (value.startswith("/") != value.endswith("/content")):
        return None
    return match.group(1)


async def owned_upload_ids(keel: Keel, owner_id: ObjectId, values: Iterable[str]) -> set[str]:
    """Those of ``values`` (ids or content URLs) that name an upload of ``owner_id``."""
    ids = {value: upload_id_of(value) for value in set(values)}
    wanted = [ObjectId(i) for i in {i for i in ids.values() if i is not None}]
    if not wanted:
        return set()
    cursor = keel.db.get_collection(Upload).find(
        {"_id": {"$in": wanted}, "owner_id": owner_id}, {"_id": 1}
    )
    found = {str(doc["_id"]) async for doc in cursor}
    return {value for value, upload_id in ids.items() if upload_id in found}


async def require_owned(
    keel: Keel, owner_id: ObjectId, values: Iterable[str], *, field: str
) -> None:
    """Refuse any of ``values`` that is not an upload of ``owner_id``.

    Args:
        keel: the runtime context.
        owner_id: whose uploads the values must be.
        values: upload ids or content URLs.
        field: the request field they came from, named in the error.

    Raises:
        BadRequestError: 400 naming ``field`` and the values that are not an upload
            reference at all (a field typed :data:`UploadReference` never lets one in).
        UnprocessableError: 422 naming ``field`` and the references that name no upload
            of the owner (someone else's, deleted, never made).
    """
    wanted = list(dict.fromkeys(values))
    malformed = [v for v in wanted if upload_id_of(v) is None]
    if malformed:
        raise BadRequestError(
            f"{field}: not an upload id or URL: {_listed(malformed)}",
            details={"field": field, "invalid": [v[:80] for v in malformed[:10]]},
        )
    owned = await owned_upload_ids(keel, owner_id, wanted)
    missing = [v for v in wanted if v not in owned]
    if missing:
        raise UnprocessableError(
            f"{field}: not an upload of yours: {_listed(missing)}",
            details={"field": field, "invalid": [v[:80] for v in missing[:10]]},
        )


def _listed(values: list[str]) -> str:
    return ", ".join(repr(v[:80]) for v in values[:5])
