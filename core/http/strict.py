"""JSON request bodies are decoded strictly, as the OpenAPI document describes them.

Litestar converts a handler's ``data`` with ``msgspec.convert(..., strict=False)`` (it must,
for query and path strings), which also lets ``"4500"`` pass for an integer and ``0`` for a
boolean in a JSON body. The document says ``integer`` and ``boolean``, so a client (and
schemathesis' negative checks) rightly calls that a lie. Before a handler with a JSON body
runs, :func:`check_json_body` decodes the raw body once more and converts it to the same
type strictly (JSON types must match; an integral number such as ``3.0`` counts as an
integer, as in JSON Schema) and answers a mismatch with
the usual 400 ``validation_error`` naming the field. It costs one more decode of a body
Litestar has already read and cached: microseconds for keel's bodies of at most a few KB.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import BodyKwarg

__all__ = ["check_json_body"]

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NO_BODY = object()


def _number(text: str) -> float | int:
    """JSON Schema calls ``132.0`` an integer, so it is one here too (``"132"`` is not)."""
    value = float(text)
    return int(value) if value.is_integer() else value


_DECODER = msgspec.json.Decoder(float_hook=_number)
_types: dict[int, Any] = {}
"""``id(handler)`` -> the type of its JSON ``data``, or ``_NO_BODY`` (handlers live as long
as the app, so their ids stay valid)."""


def _json_body_type(handler: Any) -> Any:
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return _NO_BODY
    kwarg = field.kwarg_definition
    if isinstance(kwarg, BodyKwarg) and kwarg.media_type != RequestEncodingType.JSON:
        return _NO_BODY  # multipart and form bodies are Litestar's to parse
    return field.annotation


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """``before_request`` of every route: refuse a JSON body whose types are not exact.

    Raises:
        ValidationException: a value's JSON type differs from the documented one (e.g.
            ``"1"`` or ``1`` for a boolean); Litestar's own parsing reports the rest.
    """
    handler = request.route_handler
    body_type = _types.get(id(handler))
    if body_type is None:
        body_type = _types[id(handler)] = _json_body_type(handler)
    if body_type is _NO_BODY:
        return
    body = await request.body()
    if not body:
        return  # missing body: Litestar's parsing says so
    try:
        loaded = _DECODER.decode(body)
    except msgspec.DecodeError:
        return  # not JSON at all: Litestar's parsing answers it
    try:
        msgspec.convert(loaded, body_type, strict=True)
    except msgspec.ValidationError as exc:
        if not _lenient_ok(loaded, body_type):
            return  # Litestar reports it, with every other bad field (query, path...)
        message = str(exc)
        found = _AT.search(message)
        key = (found.group("path") if found else "") or None
        reason = _AT.sub("", message)
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": reason, "key": key, "source": "body"}],
        ) from exc


def _lenient_ok(loaded: Any, body_type: Any) -> bool:
    try:
        msgspec.convert(loaded, body_type, strict=False)
    except msgspec.ValidationError:
        return False
    return True
