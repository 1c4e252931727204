"""HTTP routes of uploads, under ``/api/uploads``. Thin: authorize, stream, call the service.

Who may do what:

- upload (``POST /``, ``POST /multiple``), list one's own (``GET /``): any signed-in user;
- metadata (``GET /{id}``) and ``DELETE /{id}``: the owner or an admin (others: 404);
- bytes (``GET /{id}/content``, ``/thumbnail``): anyone who knows the id while
  ``[uploads] public_content`` is true (the default) -- services show their images to
  everyone and an ``<img>`` cannot send a token; ids are 96 random bits, so they cannot
  be guessed or enumerated. With ``public_content = false``: the owner or an admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Router, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from core.context import Keel
from core.errors import NotFoundError, UnsupportedMediaTypeError
from core.http import error_responses
from core.http.deps import KeelDep
from core.http.security import OPTIONAL_SECURITY
from core.pagination import Limit, Page
from core.settings import UploadsSettings
from plugins.accounts.api import (
    SECURITY,
    CurrentUser,
    UserDep,
    current_user,
    optional_user,
    owned_or_404,
    parse_object_id,
)

from . import quota, service
from ._openapi import binary_operation, multipart_operation
from ._rate import check_rate
from ._receive import parse_boundary, receive_files
from .documents import Upload
from .jobs import THUMBNAIL_TYPE
from .schemas import UploadInfo, UploadList, UploadPage
from .sniff import KINDS
from .storage import staging_dir, storage_for

__all__ = ["CONTENT_CSP", "route_handlers"]

CONTENT_CSP = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"
"""Policy of served bytes: nothing runs, nothing loads, nothing frames them."""
PART_OVERHEAD = 16 * 1024
"""Allowance per file part for its multipart headers and boundary."""
_AUTHED: dict[str, Any] = {"dependencies": {"user": Provide(current_user)}, "security": SECURITY}


async def _receive(
    request: Request[Any, Any, Any], keel: Keel, user: CurrentUser, *, many: bool
) -> list[Upload]:
    settings: UploadsSettings = keel.settings.uploads
    await check_rate(keel, user.object_id)
    await quota.check_room(keel, user.object_id)  # before streaming a body that can't fit
    received = await receive_files(
        request.stream(),
        parse_boundary(request.headers.get("content-type")),
        settings,
        staging_dir(settings),
        field="files" if many else "file",
        max_files=settings.max_files if many else 1,
    )
    return await service.store(keel, user.object_id, received)


async def upload_one(request: Request[Any, Any, Any], keel: KeelDep, user: UserDep) -> UploadInfo:
    """Upload one file (form field ``file``); its type is sniffed from its bytes."""
    uploads = await _receive(request, keel, user, many=False)
    return service.to_info(uploads[0])


async def upload_many(request: Request[Any, Any, Any], keel: KeelDep, user: UserDep) -> UploadList:
    """Upload up to ``[uploads] max_files`` files (form field ``files``, repeated)."""
    uploads = await _receive(request, keel, user, many=True)
    return UploadList(items=[service.to_info(u) for u in uploads])


async def list_mine(
    keel: KeelDep,
    user: UserDep,
    page: Page = 1,
    limit: Limit = 20,
) -> UploadPage:
    """The caller's own uploads, newest first."""
    items, total = await service.list_uploads(keel, user.object_id, page=page, limit=limit)
    return UploadPage(
        items=[service.to_info(u) for u in items], page=page, limit=limit, total=total
    )


async def _visible(keel: Keel, upload_id: str, user: CurrentUser) -> Upload:
    found = await service.find_upload(keel, parse_object_id(upload_id, what="upload"))
    return owned_or_404(found, found.owner_id if found else None, user, what="upload")


async def get_upload(keel: KeelDep, user: UserDep, upload_id: FromPath[str]) -> UploadInfo:
    """An upload's metadata (owner or admin; others get 404)."""
    return service.to_info(await _visible(keel, upload_id, user))


async def delete_upload(keel: KeelDep, user: UserDep, upload_id: FromPath[str]) -> None:
    """Delete an upload, its bytes and its thumbnail (owner or admin; others get 404)."""
    await service.delete_upload(keel, await _visible(keel, upload_id, user))


async def _readable(request: Request[Any, Any, Any], keel: Keel, upload_id: str) -> Upload:
    if not keel.settings.uploads.public_content:
        user = await optional_user(request)
        if user is None:
            raise NotFoundError("upload not found")
        return await _visible(keel, upload_id, user)
    found = await service.find_upload(keel, parse_object_id(upload_id, what="upload"))
    if found is None:
        raise NotFoundError("upload not found")
    return found


def _disposition(upload: Upload, *, thumbnail: bool) -> str:
    kind = KINDS[upload.content_type]
    name = upload.filename
    if thumbnail:
        name = f"{name.rsplit('.', 1)[0]}.thumb.webp"
    elif not kind.names_type(name):
        name += kind.ext  # a download is never saved under another type's extension
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    mode = "inline" if kind.image else "attachment"
    return f"{mode}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _serve(keel: Keel, upload: Upload, *, thumbnail: bool) -> Stream:
    name = upload.thumbnail if thumbnail else upload.storage_name
    storage = storage_for(keel)
    if name is None or not await storage.exists(name):
        raise NotFoundError("thumbnail not available" if thumbnail else "upload not found")
    media = THUMBNAIL_TYPE if thumbnail else upload.content_type  # Litestar adds text charset
    public = keel.settings.uploads.public_content
    headers = {
        "Content-Disposition": _disposition(upload, thumbnail=thumbnail),
        "Content-Security-Policy": CONTENT_CSP,
        "Cache-Control": "public, max-age=86400" if public else "private, no-cache",
    }
    if not thumbnail:
        headers["Content-Length"] = str(upload.size)
    return Stream(storage.open(name), media_type=media, headers=headers)


async def get_content(
    request: Request[Any, Any, Any], keel: KeelDep, upload_id: FromPath[str]
) -> Stream:
    """The bytes, with their sniffed type; images inline, anything else as an attachment."""
    return await _serve(keel, await _readable(request, keel, upload_id), thumbnail=False)


async def get_thumbnail(
    request: Request[Any, Any, Any], keel: KeelDep, upload_id: FromPath[str]
) -> Stream:
    """The WebP thumbnail of an image, once made (404 before, and for non-images)."""
    return await _serve(keel, await _readable(request, keel, upload_id), thumbnail=True)


def route_handlers(settings: UploadsSettings) -> list[Router]:
    """The ``/uploads`` router; the body limit of upload routes follows ``settings``.

    The uploads routes replace the global ``[server] max_body_bytes`` with the upload
    limit (per file, times ``max_files`` for ``/multiple``).
    """
    one = settings.max_file_bytes + PART_OVERHEAD
    many = settings.max_files * one
    refused = error_responses(UnsupportedMediaTypeError)  # + 429 of check_rate: derived
    content = binary_operation(
        sorted(settings.allowed_types), "The file's bytes, of its sniffed type."
    )
    thumbnail = binary_operation([THUMBNAIL_TYPE], "The WebP thumbnail.")
    # public bytes never read a token; private ones take the owner's or an admin's
    reader: dict[str, Any] = {} if settings.public_content else {"security": OPTIONAL_SECURITY}
    handlers = [
        post(
            "/",
            status_code=HTTP_201_CREATED,
            request_max_body_size=one,
            responses=refused,
            operation_class=multipart_operation("file", max_files=None),
            **_AUTHED,
        )(upload_one),
        post(
            "/multiple",
            status_code=HTTP_201_CREATED,
            request_max_body_size=many,
            responses=refused,
            operation_class=multipart_operation("files", max_files=settings.max_files),
            **_AUTHED,
        )(upload_many),
        get("/", **_AUTHED)(list_mine),
        get("/{upload_id:str}", **_AUTHED)(get_upload),
        delete("/{upload_id:str}", status_code=HTTP_204_NO_CONTENT, **_AUTHED)(delete_upload),
        get("/{upload_id:str}/content", operation_class=content, **reader)(get_content),
        get("/{upload_id:str}/thumbnail", operation_class=thumbnail, **reader)(get_thumbnail),
    ]
    return [Router(path="/uploads", route_handlers=handlers, tags=["uploads"])]
