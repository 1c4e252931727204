"""OpenAPI description of the multipart upload bodies.

The upload handlers read the raw request stream (no ``data`` parameter, so Litestar does
not buffer the form); an :class:`~litestar.openapi.spec.Operation` subclass puts the
``multipart/form-data`` body back into the document.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

__all__ = ["multipart_operation"]


def multipart_operation(field: str, *, multiple: bool) -> type[Operation]:
    """An ``Operation`` class whose request body is a form with file field ``field``."""
    binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
    schema = Schema(type=OpenAPIType.ARRAY, items=binary) if multiple else binary
    body = RequestBody(
        required=True,
        description="The file" + ("s, one part each," if multiple else "") + f" in form field "
        f"{field!r}; the content type is sniffed from the bytes and must match a declared one.",
        content={
            "multipart/form-data": OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.OBJECT, properties={field: schema}, required=[field])
            )
        },
    )

    @dataclass
    class MultipartOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return MultipartOperation
