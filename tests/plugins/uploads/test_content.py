"""Serving bytes and thumbnails: headers, who may read, the thumbnail job."""

from __future__ import annotations

import io

from PIL import Image

from core.testing import KeelTestApp
from plugins.uploads.routes import CONTENT_CSP

from .conftest import GRACE, PDF, Build, image_bytes, stored_files, upload


async def test_image_content_is_inline_with_safe_headers(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    png = image_bytes()
    body = (await upload(env, headers, png, name="réunion.png")).json()
    response = await env.client.get(body["url"])  # public: no token needed
    assert response.status_code == 200
    assert response.content == png
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == CONTENT_CSP
    assert response.headers["content-length"] == str(len(png))
    assert response.headers["content-disposition"] == (
        "inline; filename=\"r_union.png\"; filename*=UTF-8''r%C3%A9union.png"
    )


async def test_documents_are_attachments_under_their_real_type(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    html = b"<html><script>alert(document.cookie)</script></html>\n"
    as_html = await upload(env, headers, html, name="evil.html", declared="text/html")
    assert as_html.status_code == 415
    text = (await upload(env, headers, html, name="evil.html", declared=None)).json()
    assert text["contentType"] == "text/plain"
    response = await env.client.get(text["url"])
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="evil.html.txt"'
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    jpeg = (await upload(env, headers, b"plain text\n", name="x.jpeg", declared=None)).json()
    response = await env.client.get(jpeg["url"])
    assert response.headers["content-disposition"].startswith('attachment; filename="x.jpeg.txt"')
    pdf = (await upload(env, headers, PDF, name="cv.pdf", declared="application/pdf")).json()
    response = await env.client.get(pdf["url"])
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith('attachment; filename="cv.pdf"')
    assert response.content == PDF


async def test_private_content_only_for_owner_and_admin(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__public_content=False) as env:
        _, owner = await env.signed_in()
        _, other = await env.signed_in()
        _, admin = await env.signed_in("admin")
        url = (await upload(env, owner, image_bytes())).json()["url"]
        assert (await env.client.get(url)).status_code == 404
        assert (await env.client.get(url, headers=other)).status_code == 404
        assert (await env.client.get(url, headers=admin)).status_code == 200
        response = await env.client.get(url, headers=owner)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-cache"


async def test_thumbnail_appears_after_the_image_job(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    body = (
        await upload(
            env, headers, image_bytes("JPEG", (600, 400)), name="big.jpg", declared="image/jpeg"
        )
    ).json()
    assert body["thumbnail"] is None
    before = await env.client.get(f"/api/uploads/{body['id']}/thumbnail")
    assert before.status_code == 404
    await env.drain()
    after = (await env.client.get(f"/api/uploads/{body['id']}", headers=headers)).json()
    assert after["thumbnail"] == f"/api/uploads/{body['id']}/thumbnail"
    assert after["thumbnailError"] is None
    thumb = await env.client.get(after["thumbnail"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert thumb.headers["content-disposition"].startswith('inline; filename="big.thumb.webp"')
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "WEBP"
        assert image.size == (256, 171)
    assert sorted(stored_files(env)) == sorted([f"{body['id']}.jpg", f"{body['id']}.thumb.webp"])
    await env.client.delete(f"/api/uploads/{body['id']}", headers=headers)
    assert stored_files(env) == []


async def test_no_thumbnail_for_documents_broken_or_deleted_images(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    pdf = (await upload(env, headers, PDF, name="a.pdf", declared="application/pdf")).json()
    broken = (await upload(env, headers, image_bytes("PNG", (300, 300))[:60])).json()
    gone = (await upload(env, headers, image_bytes())).json()
    assert (
        await env.client.delete(f"/api/uploads/{gone['id']}", headers=headers)
    ).status_code == 204
    await env.drain()  # one drain for the three cases
    after = (await env.client.get(f"/api/uploads/{pdf['id']}", headers=headers)).json()
    assert (after["thumbnail"], after["thumbnailError"]) == (None, None)
    after = (await env.client.get(f"/api/uploads/{broken['id']}", headers=headers)).json()
    assert after["thumbnail"] is None
    assert after["thumbnailError"].startswith("cannot read the image")
    assert sorted(stored_files(env)) == sorted([f"{pdf['id']}.pdf", f"{broken['id']}.png"])


async def test_oversized_image_records_a_thumbnail_error(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__max_image_pixels=100, **GRACE) as env:
        _, headers = await env.signed_in()
        body = (
            await upload(
                env, headers, image_bytes("GIF", (20, 20)), name="bomb.gif", declared="image/gif"
            )
        ).json()
        await env.drain()
        after = (await env.client.get(f"/api/uploads/{body['id']}", headers=headers)).json()
        assert after["thumbnail"] is None
        assert "20x20 pixels" in after["thumbnailError"]
        assert (await env.client.get(body["url"])).status_code == 200  # the file stays


async def test_openapi_describes_the_upload_bodies(env: KeelTestApp) -> None:
    schema = (await env.client.get("/schema/openapi.json")).json()
    one = schema["paths"]["/api/uploads"]["post"]
    form = one["requestBody"]["content"]["multipart/form-data"]["schema"]
    binary = {"type": "string", "format": "binary", "minLength": 1}
    assert form["properties"]["file"] == binary
    assert form["additionalProperties"] is False
    many = schema["paths"]["/api/uploads/multiple"]["post"]
    form = many["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["files"] == {
        "type": "array",
        "items": binary,
        "minItems": 1,
        "maxItems": env.settings.uploads.max_files,
    }
    for operation in (one, many):
        assert {"201", "400", "401", "413", "415", "429"} <= set(operation["responses"])
    assert {"get", "delete"} <= set(schema["paths"]["/api/uploads/{upload_id}"])


async def test_openapi_documents_served_bytes_as_binary(env: KeelTestApp) -> None:
    paths = (await env.client.get("/schema/openapi.json")).json()["paths"]
    content = paths["/api/uploads/{upload_id}/content"]["get"]["responses"]["200"]["content"]
    assert sorted(content) == sorted(env.settings.uploads.allowed_types)
    assert all(c["schema"] == {"type": "string", "format": "binary"} for c in content.values())
    thumbnail = paths["/api/uploads/{upload_id}/thumbnail"]["get"]["responses"]["200"]
    assert list(thumbnail["content"]) == ["image/webp"]


async def test_thumbnail_job_is_a_core_job_on_the_image_queue(env: KeelTestApp) -> None:
    entry = env.keel.jobs.registry["uploads.make_thumbnail"]
    assert entry.job.queue == "image"
