"""Services: create, read, list, update and delete (the provider's catalogue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, ReturnDocument

from core.errors import ForbiddenError, NotFoundError
from plugins.bookings import schemas
from plugins.bookings._docs import ListQuery, object_id, parse_id, service_snapshot, service_view
from plugins.bookings._slots import check_availability, zone
from plugins.bookings.events import ServiceCreated, ServiceDeleted, ServiceUpdated
from plugins.bookings.models import Service, utcnow
from plugins.uploads.api import require_owned

if TYPE_CHECKING:
    from core.context import Keel
    from plugins.accounts.api import CurrentUser

ServiceSort = Literal["createdAt", "-createdAt", "price", "-price"]
"""Wire names of the sort keys; :data:`_SORT_FIELDS` maps them to stored fields."""
_SORT_FIELDS = {"createdAt": "created_at", "price": "price"}


def _not_found(service_id: object) -> NotFoundError:
    return NotFoundError("service not found", details={"id": str(service_id)})


def may_see(doc: dict[str, Any], caller: CurrentUser | None) -> bool:
    """Active services are public; inactive ones only their provider and admins see."""
    if doc["active"]:
        return True
    return caller is not None and (caller.is_admin or str(doc["provider_id"]) == caller.id)


async def load(keel: Keel, service_id: ObjectId, caller: CurrentUser | None) -> dict[str, Any]:
    """The service document, if ``caller`` may see it; else 404."""
    doc: dict[str, Any] | None = await keel.db.get_collection(Service).find_one({"_id": service_id})
    if doc is None or not may_see(doc, caller):
        raise _not_found(service_id)
    return doc


def _owned(doc: dict[str, Any], caller: CurrentUser) -> None:
    if not (caller.is_admin or str(doc["provider_id"]) == caller.id):
        raise ForbiddenError("only the service's provider or an admin may change it")


async def create_service(
    keel: Keel, caller: CurrentUser, data: schemas.ServiceCreate
) -> schemas.Service:
    """Create a service owned by ``caller`` (a provider); emits ``service.created``.

    Raises:
        ForbiddenError: the caller is not a provider.
        UnprocessableError: unknown time zone, an empty opening-hours range, or an
            image that is not one of the caller's uploads.
    """
    if caller.role != "provider":
        raise ForbiddenError("only providers can create services")
    await require_owned(keel, caller.object_id, data.images, field="images")
    zone(data.timezone)
    check_availability(data.availability)
    fields = msgspec.structs.asdict(data)
    fields["availability"] = msgspec.to_builtins(data.availability)
    doc = Service(provider_id=caller.object_id, **fields).model_dump_doc()
    await keel.db.get_collection(Service).insert_one(doc)
    await keel.events.emit(ServiceCreated(service=service_snapshot(doc)))
    return service_view(doc)


async def get_service(keel: Keel, caller: CurrentUser | None, service_id: str) -> schemas.Service:
    """One service (404 when missing, or inactive and not the caller's)."""
    return service_view(await load(keel, parse_id(service_id, "service"), caller))


def services_query(
    caller: CurrentUser | None,
    *,
    category: str | None = None,
    provider_id: str | None = None,
    active: bool | None = None,
    sort: ServiceSort = "-createdAt",
) -> ListQuery | None:
    """The filter and sort of a services listing (None: nothing the caller may see).

    Every shape it builds is served by one of :class:`~plugins.bookings.models.Service`'s
    indexes (a test checks with ``explain()``).
    """
    query: dict[str, Any] = {}
    provider = object_id(provider_id, field="providerId")
    if provider is not None:
        query["provider_id"] = provider
    if category is not None:
        query["category"] = category
    sees_inactive = caller is not None and (
        caller.is_admin or (provider is not None and str(provider) == caller.id)
    )
    if sees_inactive:  # $in keeps the (..., active, sort) indexes usable
        query["active"] = {"$in": [True, False]} if active is None else active
    elif active is False:
        return None
    else:
        query["active"] = True
    direction = DESCENDING if sort.startswith("-") else ASCENDING
    field = _SORT_FIELDS[sort.lstrip("-")]
    index_direction = DESCENDING if field == "created_at" else ASCENDING
    prefix = [k for k in ("provider_id", "category") if k in query][:1]
    index = [*((k, ASCENDING) for k in [*prefix, "active"])]
    index += [(field, index_direction), ("_id", index_direction)]
    return ListQuery(query, [(field, direction), ("_id", direction)], index)


async def list_services(
    keel: Keel,
    caller: CurrentUser | None,
    *,
    page: int,
    limit: int,
    category: str | None = None,
    provider_id: str | None = None,
    active: bool | None = None,
    sort: ServiceSort = "-createdAt",
) -> schemas.ServicePage:
    """A page of services; inactive ones only for their provider and admins."""
    built = services_query(
        caller, category=category, provider_id=provider_id, active=active, sort=sort
    )
    if built is None:
        return schemas.ServicePage(items=[], total=0, page=page, limit=limit)
    docs, total = await built.page(
        keel.db.get_collection(Service), page, limit, max_ms=keel.settings.database.timeout_ms
    )
    items = [service_view(d) for d in docs]
    return schemas.ServicePage(items=items, total=total, page=page, limit=limit)


def _changes(data: schemas.ServiceUpdate) -> dict[str, Any]:
    changes = {
        f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET
    }
    if "timezone" in changes:
        zone(changes["timezone"])
    if "availability" in changes:
        check_availability(changes["availability"])
        changes["availability"] = msgspec.to_builtins(changes["availability"])
    return changes


async def update_service(
    keel: Keel, caller: CurrentUser, service_id: str, data: schemas.ServiceUpdate
) -> schemas.Service:
    """Change the fields sent (owner or admin); emits ``service.updated``.

    New images must be uploads of the service's provider (images it has already keep).
    """
    doc = await load(keel, parse_id(service_id, "service"), caller)
    _owned(doc, caller)
    changes = _changes(data)
    if "images" in changes:
        added = [i for i in changes["images"] if i not in doc.get("images", [])]
        await require_owned(keel, doc["provider_id"], added, field="images")
    if not changes:
        return service_view(doc)
    updated = await keel.db.get_collection(Service).find_one_and_update(
        {"_id": doc["_id"]},
        {"$set": {**changes, "updated_at": utcnow()}, "$inc": {"revision": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        raise _not_found(service_id)
    event = ServiceUpdated(
        service=service_snapshot(updated), changed=sorted(changes), updated_by=caller.id
    )
    await keel.events.emit(event)
    return service_view(updated)


async def delete_service(keel: Keel, caller: CurrentUser, service_id: str) -> None:
    """Delete a service (owner or admin); emits ``service.deleted``.

    Its bookings keep their own copy of the name, price and provider.
    """
    doc = await load(keel, parse_id(service_id, "service"), caller)
    _owned(doc, caller)
    deleted = await keel.db.get_collection(Service).find_one_and_delete({"_id": doc["_id"]})
    if deleted is None:
        raise _not_found(service_id)
    await keel.events.emit(
        ServiceDeleted(
            service_id=str(doc["_id"]), provider_id=str(doc["provider_id"]), deleted_by=caller.id
        )
    )
