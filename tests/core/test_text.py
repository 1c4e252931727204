"""``core.text``: single-line and multi-line text types, and the request fields that use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
import pytest

from core.testing import KeelTestApp
from core.text import MultiLine, NonBlankMultiLine, SingleLine
from plugins.bookings.schemas import BookingCancel, BookingCreate, ReviewCreate, ServiceCreate
from plugins.realtime.protocol import MessageIn

AppFactory = Callable[..., AbstractAsyncContextManager[KeelTestApp]]

REFUSED_EVERYWHERE = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x9b", "a\rb", "end\r"]
SINGLE_LINE_ONLY = ["a\nb", "name\n", "a\r\nb", "a\tb", "\u2028", "\u2029", "\u202e", "\u2066"]
MULTI_LINE_OK = ["", "one line", "a\nb", "a\r\nb\r\n", "col\tcol", "x\n\n\ny\n", "\u202eok"]


class _Texts(msgspec.Struct):
    single: SingleLine = "x"
    multi: MultiLine = ""
    reason: NonBlankMultiLine = "x"


def _ok(**fields: str) -> bool:
    try:
        msgspec.convert(fields, _Texts)
    except msgspec.ValidationError:
        return False
    return True


@pytest.mark.parametrize("bad", REFUSED_EVERYWHERE + SINGLE_LINE_ONLY)
def test_single_line_refuses_control_characters_and_line_breaks(bad: str) -> None:
    assert not _ok(single=f"Ann{bad}e")


@pytest.mark.parametrize("value", ["Anne", "Zoë Ñandú", "  padded  ", "مرحبا", "A & B / C"])
def test_single_line_accepts_visible_text(value: str) -> None:
    assert _ok(single=value)


@pytest.mark.parametrize("value", ["", " ", "\u00a0 "])
def test_single_line_is_not_blank(value: str) -> None:
    assert not _ok(single=value)


@pytest.mark.parametrize("bad", REFUSED_EVERYWHERE)
def test_multi_line_refuses_other_control_characters(bad: str) -> None:
    assert not _ok(multi=f"text{bad}text")
    assert not _ok(reason=f"text{bad}text")


@pytest.mark.parametrize("value", MULTI_LINE_OK)
def test_multi_line_accepts_line_breaks_and_tabs(value: str) -> None:
    assert _ok(multi=value)


def test_non_blank_multi_line_needs_a_visible_character() -> None:
    assert not _ok(reason=" \n\t ")
    assert _ok(reason=" \nwhy\n")


@pytest.mark.parametrize(
    ("schema", "body", "field"),
    [
        (BookingCreate, {"serviceId": "a" * 24, "start": "2030-01-01T10:00:00Z"}, "notes"),
        (BookingCancel, {}, "reason"),
        (ReviewCreate, {"rating": 5}, "comment"),
        (MessageIn, {}, "text"),
    ],
)
def test_multi_line_request_fields(schema: type[Any], body: dict[str, Any], field: str) -> None:
    assert msgspec.convert({**body, field: "line 1\r\nline 2\n\tend"}, schema)
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        msgspec.convert({**body, field: "line 1\x1b[2Jline 2"}, schema)


def test_service_fields_keep_their_lengths() -> None:
    base = {"category": "plumbing", "price": 1, "currency": "EUR", "durationMinutes": 30}
    with pytest.raises(msgspec.ValidationError, match="length <= 120"):
        msgspec.convert({**base, "name": "n" * 121}, ServiceCreate)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.category"):
        msgspec.convert({**base, "name": "n", "category": "plumbing\n"}, ServiceCreate)


@pytest.fixture
async def env(keel_app_factory: AppFactory) -> AsyncIterator[KeelTestApp]:
    async with keel_app_factory(
        plugins=["bookings"], overrides={"server.rate_limit.enabled": False}
    ) as app:
        yield app


def _bad_field(response: Any) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    [detail] = error["details"]
    assert detail["field"] in error["message"]
    field: str = detail["field"]
    return field


async def test_register_name_with_a_control_character_is_a_400_naming_it(
    env: KeelTestApp,
) -> None:
    body = {"name": "Eve\u202egnp.exe", "email": "eve@example.com", "password": "s3cret-pass"}
    response = await env.client.post("/api/auth/register", json=body)
    assert _bad_field(response) == "name"
    patched = await env.client.patch(
        "/api/users/me", json={"name": "Eve\nAdmin"}, headers=(await env.signed_in())[1]
    )
    assert _bad_field(patched) == "name"


async def test_service_description_takes_line_breaks_but_no_other_control(
    env: KeelTestApp,
) -> None:
    _, headers = await env.signed_in("provider")
    body = {"name": "Tiles", "category": "home", "price": 100, "currency": "EUR"}
    body["durationMinutes"] = 30
    bad = {**body, "description": "Clean\x00work"}
    response = await env.client.post("/api/services", json=bad, headers=headers)
    assert _bad_field(response) == "description"
    bad_name = {**body, "name": "Tiles\r\nand more"}
    assert _bad_field(await env.client.post("/api/services", json=bad_name, headers=headers)) == (
        "name"
    )
    good = {**body, "description": "Clean work.\r\nFast:\n\t- floors\n\t- walls"}
    created = await env.client.post("/api/services", json=good, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == good["description"]


async def test_openapi_shows_the_text_constraints(env: KeelTestApp) -> None:
    schema = (await env.client.get("/schema/openapi.json")).json()
    dumped = msgspec.json.encode(schema["components"]["schemas"]).decode()
    register = next(v for k, v in schema["components"]["schemas"].items() if "Register" in k)
    name = register["properties"]["name"]
    assert name["maxLength"] == 100
    assert "\\\\x00-\\\\x1f" in msgspec.json.encode(name).decode()
    assert "\\\\r\\\\n" in dumped  # a multi-line field's pattern
