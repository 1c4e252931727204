"""The thumbnail job: ``uploads.make_thumbnail`` on the ``image`` queue.

Pillow runs in a thread. Images with more than ``[uploads] max_image_pixels`` pixels are
refused from their header alone, before any pixel is decoded (Pillow's own
``Image.MAX_IMAGE_PIXELS`` check, with its warning turned into an error, stays as a
second guard); only the JPEG, PNG, GIF and WebP decoders are tried, whatever the bytes
claim; any decoding error is recorded as ``thumbnail_error`` instead of retrying. The job
is aborted after ``[uploads] thumbnail_timeout_s``.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from typing import Any

import anyio
from bson import ObjectId
from PIL import Image, ImageOps

from core.context import Keel
from core.records import Job
from core.settings import UploadsSettings

from .documents import Upload
from .storage import staging_dir, storage_for

__all__ = ["ThumbnailError", "jobs", "make_thumbnail", "render_thumbnail"]

THUMBNAIL_TYPE = "image/webp"
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
"""The Pillow decoders a thumbnail may use: the image types uploads accept."""
log = logging.getLogger("plugins.uploads")


class ThumbnailError(Exception):
    """The image cannot be made into a thumbnail (too big, corrupt, unsupported)."""


def render_thumbnail(data: bytes, size: int, max_pixels: int) -> bytes:
    """A WebP thumbnail of the image in ``data``, at most ``size`` pixels on its longest side.

    Raises:
        ThumbnailError: over ``max_pixels`` pixels, or not a readable image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ThumbnailError(
                        f"image is {width}x{height} pixels, more than the {max_pixels} allowed"
                    )
                image.draft("RGB", (size, size))
                image.thumbnail((size, size))
                oriented = ImageOps.exif_transpose(image)
                alpha = "A" in oriented.getbands() or "transparency" in oriented.info
                out = io.BytesIO()
                oriented.convert("RGBA" if alpha else "RGB").save(out, "WEBP", quality=80)
                return out.getvalue()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ThumbnailError(f"image rejected as a decompression bomb: {exc}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ThumbnailError(f"cannot read the image: {exc}") from None


async def make_thumbnail(ctx: dict[str, Any], *, upload_id: str) -> str:
    """Make and store the thumbnail of an image upload; record it (or the error) on it.

    Returns:
        ``done``, ``failed`` or ``skipped`` (no such upload, not an image, already made).
    """
    keel: Keel = ctx["keel"]
    settings = keel.settings.uploads
    collection = keel.db.get_collection(Upload)
    upload = await keel.db.find_one(Upload, Upload.id == ObjectId(upload_id))
    if upload is None or not upload.image or upload.thumbnail:
        return "skipped"
    storage = storage_for(keel)
    data = b"".join([chunk async for chunk in storage.open(upload.storage_name)])
    try:
        # abandoned (not awaited) when the job times out: a thread cannot be stopped
        thumb = await anyio.to_thread.run_sync(
            render_thumbnail,
            data,
            settings.thumbnail_px,
            settings.max_image_pixels,
            abandon_on_cancel=True,
        )
    except ThumbnailError as exc:
        log.warning("no thumbnail for upload %s: %s", upload_id, exc)
        await collection.update_one({"_id": upload.id}, {"$set": {"thumbnail_error": str(exc)}})
        return "failed"
    name = f"{upload.id}.thumb.webp"
    staged = staging_dir(settings) / f"{os.urandom(12).hex()}.part"
    await anyio.Path(staged.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(staged).write_bytes(thumb)
    await storage.save(name, staged)
    result = await collection.update_one(
        {"_id": upload.id}, {"$set": {"thumbnail": name, "thumbnail_error": None}}
    )
    if result.matched_count == 0:  # deleted while we worked
        await storage.delete(name)
        return "skipped"
    return "done"


def jobs(settings: UploadsSettings) -> list[Job]:
    """The uploads jobs, registered by the core as ``uploads.<name>``."""
    return [
        Job(
            "make_thumbnail",
            make_thumbnail,
            queue="image",
            retries=2,
            timeout=settings.thumbnail_timeout_s,
        )
    ]
