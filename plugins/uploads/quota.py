"""Per-user quotas: ``[uploads] max_files_per_user`` and ``max_bytes_per_user``.

The ledger is one :class:`~plugins.uploads.documents.UploadUsage` document per user.
:func:`reserve` takes a batch's count and bytes with a single conditional ``$inc`` (it
matches only while the batch still fits), so parallel uploads cannot pass either limit:
of two racing uploads that do not both fit, one is refused. :func:`release` gives them
back when storing fails or an upload is deleted. :func:`check_room` is a cheap early
refusal before a body is streamed in, when the user is already at a limit.

A user's ledger is created on first use from the uploads they already have, so records
made before quotas existed count too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import PayloadTooLargeError

from .documents import Upload, UploadUsage

if TYPE_CHECKING:
    from bson import ObjectId
    from motor.motor_asyncio import AsyncIOMotorCollection

    from core.context import Keel
    from core.settings import UploadsSettings

__all__ = ["check_room", "release", "reserve", "usage"]


def _ledger(keel: Keel) -> AsyncIOMotorCollection[dict[str, Any]]:
    collection: AsyncIOMotorCollection[dict[str, Any]] = keel.db.get_collection(UploadUsage)
    return collection


async def usage(keel: Keel, owner_id: ObjectId) -> tuple[int, int]:
    """``(files, bytes)`` the user's uploads take (creating their ledger if needed)."""
    ledger = _ledger(keel)
    doc = await ledger.find_one({"_id": owner_id})
    if doc is None:
        pipeline: list[dict[str, Any]] = [
            {"$match": {"owner_id": owner_id}},
            {"$group": {"_id": None, "files": {"$sum": 1}, "bytes": {"$sum": "$size"}}},
        ]
        totals = await keel.db.get_collection(Upload).aggregate(pipeline).to_list(1)
        seed = {"files": totals[0]["files"], "bytes": totals[0]["bytes"]} if totals else {}
        await ledger.update_one(
            {"_id": owner_id},
            {"$setOnInsert": {"files": 0, "bytes": 0, **seed}},
            upsert=True,
        )
        doc = await ledger.find_one({"_id": owner_id}) or {}
    return int(doc.get("files", 0)), int(doc.get("bytes", 0))


def _refusal(
    settings: UploadsSettings, used: tuple[int, int], files: int, size: int
) -> PayloadTooLargeError:
    used_files, used_bytes = used
    if used_files + files > settings.max_files_per_user:
        limit = settings.max_files_per_user
        return PayloadTooLargeError(
            f"upload quota reached: max_files_per_user is {limit} and you have "
            f"{used_files} uploads; delete some to upload more",
            details={"maxFilesPerUser": limit, "usedFiles": used_files},
        )
    limit = settings.max_bytes_per_user
    return PayloadTooLargeError(
        f"upload quota reached: max_bytes_per_user is {limit} bytes, your uploads take "
        f"{used_bytes} and this would add {size}; delete some to upload more",
        details={"maxBytesPerUser": limit, "usedBytes": used_bytes},
    )


async def check_room(keel: Keel, owner_id: ObjectId) -> None:
    """Refuse early when the user cannot upload even one more byte.

    Raises:
        PayloadTooLargeError: a per-user limit is already reached (413, naming it).
    """
    settings = keel.settings.uploads
    used = await usage(keel, owner_id)
    if used[0] >= settings.max_files_per_user or used[1] >= settings.max_bytes_per_user:
        raise _refusal(settings, used, 1, 1)


async def reserve(keel: Keel, owner_id: ObjectId, files: int, size: int) -> None:
    """Take ``files`` uploads and ``size`` bytes of the user's quota, or none of it.

    Raises:
        PayloadTooLargeError: the batch does not fit (413, naming the limit).
    """
    settings = keel.settings.uploads
    await usage(keel, owner_id)  # the ledger exists from here on
    result = await _ledger(keel).update_one(
        {
            "_id": owner_id,
            "files": {"$lte": settings.max_files_per_user - files},
            "bytes": {"$lte": settings.max_bytes_per_user - size},
        },
        {"$inc": {"files": files, "bytes": size}},
    )
    if result.modified_count == 0:
        raise _refusal(settings, await usage(keel, owner_id), files, size)


async def release(keel: Keel, owner_id: ObjectId, files: int, size: int) -> None:
    """Give back ``files`` uploads and ``size`` bytes (a failed store, a deletion)."""
    await _ledger(keel).update_one({"_id": owner_id}, {"$inc": {"files": -files, "bytes": -size}})
