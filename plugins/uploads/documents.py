"""The upload record (odmantic model) in the ``uploads`` collection."""

from __future__ import annotations

from datetime import datetime

import pymongo
from bson import ObjectId
from odmantic import Field, Model

from core.clock import utcnow


class Upload(Model):
    """One stored file: who uploaded it, what it is, where its bytes and thumbnail are.

    The id is 12 random bytes (not a time-ordered ObjectId), so that knowing one upload's
    id says nothing about another's.
    """

    model_config = {  # noqa: RUF012 - odmantic reads a plain dict
        "collection": "uploads",
        "indexes": lambda: [
            pymongo.IndexModel(
                [("owner_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)]
            ),
        ],
    }

    owner_id: ObjectId
    filename: str = Field(description="The client's file name, sanitized; metadata only.")
    content_type: str = Field(description="Sniffed from the bytes.")
    size: int
    storage_name: str = Field(description="Server-generated: '<id>.<ext>'.")
    image: bool
    thumbnail: str | None = Field(default=None, description="Storage name of the thumbnail.")
    thumbnail_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class UploadUsage(Model):
    """What one user's uploads take: the quota ledger, one document per user.

    Uploads reserve their count and bytes here with one conditional update before they
    are stored, and give them back when they fail or are deleted; so parallel uploads
    never take a user past ``[uploads] max_files_per_user`` / ``max_bytes_per_user``.
    The id is the user's id.
    """

    model_config = {"collection": "uploads_usage"}  # noqa: RUF012 - odmantic reads a dict

    id: ObjectId = Field(primary_field=True)
    files: int = 0
    bytes: int = 0


MODELS: tuple[type[Model], ...] = (Upload, UploadUsage)
