"""Uploads stream to disk: a big file never sits in the server's memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator

from .conftest import Build, error_of, stored_files

BOUNDARY = "keel-test-boundary"
CHUNK = b"a" * 65_536


async def multipart(chunks: int) -> AsyncIterator[bytes]:
    """A one-file form streamed in 64 KiB chunks (sent without a Content-Length)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"'
        "\r\nContent-Type: text/plain\r\n\r\n"
    ).encode()
    for _ in range(chunks):
        yield CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def test_big_upload_streams_in_chunks(keel_app_factory: Build) -> None:
    mib = 1_048_576
    async with keel_app_factory(plugins=[], uploads__max_file_bytes=9 * mib) as env:
        _, headers = await env.signed_in()
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"
        tracemalloc.start()
        try:
            response = await env.client.post(
                "/api/uploads", content=multipart(8 * mib // len(CHUNK)), headers=headers
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.status_code == 201, response.text
        assert response.json()["size"] == 8 * mib
        assert peak < 2 * mib, f"peak traced memory {peak} bytes for an 8 MiB upload"
        # past the limit without a Content-Length: refused while streaming
        too_big = await env.client.post(
            "/api/uploads", content=multipart(10 * mib // len(CHUNK)), headers=headers
        )
        assert too_big.status_code == 413
        assert error_of(too_big)["code"] == "payload_too_large"
        assert len(stored_files(env)) == 1


async def test_truncated_form_is_400_and_nothing_kept(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[]) as env:
        _, headers = await env.signed_in()
        headers["Content-Type"] = f"multipart/form-data; boundary={BOUNDARY}"

        async def truncated() -> AsyncIterator[bytes]:
            async for chunk in multipart(3):
                if chunk.startswith(b"\r\n--"):
                    return  # the client went away before the closing boundary
                yield chunk

        response = await env.client.post("/api/uploads", content=truncated(), headers=headers)
        assert response.status_code == 400
        assert "invalid multipart/form-data" in error_of(response)["message"]
        assert stored_files(env) == []
