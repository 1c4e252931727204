"""OpenAPI description of the multipart upload bodies and of the served bytes.

The upload handlers read the raw request stream (no ``data`` parameter, so Litestar does
not buffer the form), and the content handlers stream a file (a ``Stream``, which
Litestar documents as JSON); :class:`~litestar.openapi.spec.Operation` subclasses put
the ``multipart/form-data`` body and the binary answers back into the document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

__all__ = ["binary_operation", "multipart_operation"]


def _binary() -> Schema:
    return Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]


def multipart_operation(field: str, *, max_files: int | None) -> type[Operation]:
    """An ``Operation`` class whose request body is a form with file field ``field``.

    Args:
        field: the form field of the file parts.
        max_files: how many parts the field takes (an array of 1 to ``max_files``), or
            None for exactly one (a single file).
    """
    one = _binary()
    one.min_length = 1  # an empty file is refused
    schema = (
        one
        if max_files is None
        else Schema(type=OpenAPIType.ARRAY, items=one, min_items=1, max_items=max_files)
    )
    body = RequestBody(
        required=True,
        description="The file"
        + ("s, one part each," if max_files is not None else "")
        + f" in form field {field!r}; the content type is sniffed from the bytes and "
        "must be an allowed one (else 415), and match the part's declared type if any.",
        content={
            "multipart/form-data": OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.OBJECT,
                    properties={field: schema},
                    required=[field],
                    additional_properties=False,  # another field is a 400
                )
            )
        },
    )

    @dataclass
    class MultipartOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    return MultipartOperation


def binary_operation(media_types: Iterable[str], description: str) -> type[Operation]:
    """An ``Operation`` class whose 200 answer is the bytes of a file of ``media_types``."""
    response = OpenAPIResponse(
        description=description,
        headers={
            "Content-Disposition": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.STRING),
                description="`inline` for images, `attachment` otherwise, with the file name.",
            )
        },
        content={media: OpenAPIMediaType(schema=_binary()) for media in media_types},
    )

    @dataclass
    class BinaryOperation(Operation):
        def __post_init__(self) -> None:
            self.responses = {**(self.responses or {}), "200": response}

    return BinaryOperation
