"""Uploads domain logic: store received files, find, list and delete records. No Litestar here."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING

import anyio
from bson import ObjectId
from odmantic.query import desc as query_desc

from core.errors import NotFoundError, ServiceUnavailableError

from . import quota
from ._receive import Received
from .documents import Upload
from .schemas import UploadInfo
from .sniff import KINDS
from .storage import storage_for

if TYPE_CHECKING:
    from core.context import Keel

__all__ = [
    "API_PREFIX",
    "THUMBNAIL_JOB",
    "delete_upload",
    "find_upload",
    "list_uploads",
    "new_upload_id",
    "store",
    "to_info",
]

API_PREFIX = "/api/uploads"
THUMBNAIL_JOB = "uploads.make_thumbnail"
log = logging.getLogger("plugins.uploads")


def new_upload_id() -> ObjectId:
    """A random id: 96 bits from the OS CSPRNG, so ids cannot be guessed from one another."""
    return ObjectId(os.urandom(12))


def to_info(upload: Upload) -> UploadInfo:
    """The API view of a record."""
    url = f"{API_PREFIX}/{upload.id}"
    return UploadInfo(
        id=str(upload.id),
        owner_id=str(upload.owner_id),
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        url=f"{url}/content",
        thumbnail=f"{url}/thumbnail" if upload.thumbnail else None,
        thumbnail_error=upload.thumbnail_error,
        created_at=upload.created_at,
    )


async def store(keel: Keel, owner_id: ObjectId, received: list[Received]) -> list[Upload]:
    """Reserve their quota, move staged files into storage, record them, queue thumbnails.

    On any failure every file stored so far is removed again (and the staged ones), and
    the quota is given back.

    Raises:
        PayloadTooLargeError: the files do not fit in the owner's quota (nothing stored).
    """
    storage = storage_for(keel)
    uploads: list[Upload] = []
    size = sum(item.size for item in received)
    reserved = False
    try:
        await quota.reserve(keel, owner_id, len(received), size)
        reserved = True
        for item in received:
            kind = KINDS[item.mime]
            upload_id = new_upload_id()
            upload = Upload(
                id=upload_id,
                owner_id=owner_id,
                filename=item.filename,
                content_type=item.mime,
                size=item.size,
                storage_name=f"{upload_id}{kind.ext}",
                image=kind.image,
            )
            await storage.save(upload.storage_name, item.staged)
            uploads.append(upload)
        await keel.db.get_collection(Upload).insert_many([u.model_dump_doc() for u in uploads])
    except BaseException:
        if reserved:
            await quota.release(keel, owner_id, len(received), size)
        for upload in uploads:
            await storage.delete(upload.storage_name)
        for item in received:
            with contextlib.suppress(FileNotFoundError):
                await anyio.Path(item.staged).unlink()
        raise
    for upload in uploads:
        if upload.image:
            try:
                await keel.jobs.enqueue(THUMBNAIL_JOB, upload_id=str(upload.id))
            except ServiceUnavailableError:
                # the files are stored and recorded; only the thumbnail is missing
                log.warning("could not queue the thumbnail of upload %s", upload.id)
    return uploads


async def find_upload(keel: Keel, upload_id: ObjectId) -> Upload | None:
    """The record of ``upload_id``, or None."""
    return await keel.db.find_one(Upload, Upload.id == upload_id)


async def list_uploads(
    keel: Keel, owner_id: ObjectId, *, page: int, limit: int
) -> tuple[list[Upload], int]:
    """One page of ``owner_id``'s uploads, newest first, and their total."""
    query = Upload.owner_id == owner_id
    items = await keel.db.find(
        Upload, query, sort=query_desc(Upload.created_at), skip=(page - 1) * limit, limit=limit
    )
    total = await keel.db.count(Upload, query)
    return list(items), total


async def delete_upload(keel: Keel, upload: Upload) -> None:
    """Remove the record and give back its quota, then remove its bytes and thumbnail.

    Raises:
        NotFoundError: it was deleted meanwhile.
    """
    result = await keel.db.get_collection(Upload).delete_one({"_id": upload.id})
    if result.deleted_count == 0:
        raise NotFoundError("upload not found")
    await quota.release(keel, upload.owner_id, 1, upload.size)
    storage = storage_for(keel)
    for name in (upload.storage_name, upload.thumbnail):
        if name:
            try:
                await storage.delete(name)
            except OSError:
                log.exception("could not delete the file %s of upload %s", name, upload.id)
