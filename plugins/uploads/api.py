"""What uploads offers other plugins: checking that uploads belong to someone.

A field that points at a file (an avatar, a service's images) must name an upload of
the user it is for, or anyone could show anyone's file as theirs::

    from plugins.uploads.api import require_owned

    await require_owned(keel, caller.object_id, data.images, field="images")

A value is an upload id (24 hex digits) or the upload's content URL
``/api/uploads/{id}/content`` (the ``url`` an upload answers with); both name the same
upload. With the uploads plugin switched off there are no uploads, so nothing passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bson import ObjectId

from core.errors import BadRequestError

from .documents import Upload

if TYPE_CHECKING:
    from core.context import Keel

__all__ = ["owned_upload_ids", "require_owned", "upload_id_of"]

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
        BadRequestError: 400 naming ``field`` and the values that are not the owner's
            uploads (someone else's, deleted, or not an upload reference at all).
    """
    wanted = list(dict.fromkeys(values))
    owned = await owned_upload_ids(keel, owner_id, wanted)
    missing = [v for v in wanted if v not in owned]
    if missing:
        raise BadRequestError(
            f"{field}: not an upload of yours: {', '.join(repr(v[:80]) for v in missing[:5])}",
            details={"field": field, "invalid": [v[:80] for v in missing[:10]]},
        )
