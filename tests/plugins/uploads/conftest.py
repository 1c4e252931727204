"""Uploads tests: the real app (no plugins) on the session's embedded stack.

Each test's files go to its own directory (``uploads.dir`` under the stack's data dir,
set by the settings factory); images are made with Pillow.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from core.testing import KeelTestApp

Build = Callable[..., AbstractAsyncContextManager[KeelTestApp]]
GRACE = {"server__grace_period_s": 2}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    """A small solid image in ``fmt``."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(out, fmt)
    return out.getvalue()


def stored_files(env: KeelTestApp) -> list[str]:
    """Names of the files in this test's upload directory (staging included)."""
    root = Path(env.settings.uploads.dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body every 4xx carries."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    return error


async def upload(
    env: KeelTestApp,
    headers: dict[str, str],
    content: bytes,
    *,
    name: str = "picture.png",
    declared: str | None = "image/png",
) -> httpx.Response:
    """``POST /api/uploads`` with one file part (``declared=None``: octet-stream)."""
    part = (name, content, declared or "application/octet-stream")
    return await env.client.post("/api/uploads", files={"file": part}, headers=headers)


@pytest.fixture
async def env(keel_app_factory: Build) -> AsyncIterator[KeelTestApp]:
    """An app with no plugins enabled (uploads are core).

    A short grace period: stopping a burst worker (``env.drain()``) once took the whole
    default 30 s on a loaded machine; it caps such a stall without changing what is tested.
    """
    async with keel_app_factory(plugins=[], **GRACE) as built:
        yield built
