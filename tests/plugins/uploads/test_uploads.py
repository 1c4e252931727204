"""Uploading, reading and deleting files through the API."""

from __future__ import annotations

from pathlib import Path

from bson import ObjectId

from core.testing import KeelTestApp
from plugins.uploads._rate import UPLOADS_PER_MINUTE
from plugins.uploads.documents import Upload

from .conftest import PDF, Build, error_of, image_bytes, stored_files, upload


async def test_upload_png_is_stored_under_a_generated_name(env: KeelTestApp) -> None:
    user, headers = await env.signed_in()
    png = image_bytes()
    response = await upload(env, headers, png, name="holiday photo.png")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ownerId"] == str(user.id)
    assert body["filename"] == "holiday photo.png"
    assert body["contentType"] == "image/png"
    assert body["size"] == len(png)
    assert body["url"] == f"/api/uploads/{body['id']}/content"
    assert body["thumbnail"] is None
    assert set(body) == {
        "id",
        "ownerId",
        "filename",
        "contentType",
        "size",
        "url",
        "thumbnail",
        "thumbnailError",
        "createdAt",
    }
    assert stored_files(env) == [f"{body['id']}.png"]
    record = await env.keel.db.find_one(Upload, Upload.id == ObjectId(body["id"]))
    assert record is not None
    assert record.storage_name == f"{body['id']}.png"
    again = await env.client.get(f"/api/uploads/{body['id']}", headers=headers)
    assert again.json() == body
    content = await env.client.get(body["url"])
    assert content.content == png


async def test_ids_are_random_not_time_ordered(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    ids = [(await upload(env, headers, image_bytes())).json()["id"] for _ in range(2)]
    # ObjectIds made by pymongo share a 5-byte process prefix and a near counter
    assert ids[0][8:18] != ids[1][8:18]


async def test_declared_type_unlike_the_bytes_is_415(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    response = await upload(env, headers, b"just some text, no image here\n")
    assert response.status_code == 415
    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert "declared 'image/png'" in error["message"]
    assert error["details"] == {"declared": "image/png", "sniffed": "text/plain"}
    assert stored_files(env) == []
    assert await env.keel.db.count(Upload) == 0


async def test_html_declared_as_an_image_is_415(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    response = await upload(env, headers, b"<script>alert(1)</script>", declared="image/gif")
    assert response.status_code == 415


async def test_types_outside_the_allow_list_are_415(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__allowed_types=["image/png"]) as env:
        _, headers = await env.signed_in()
        pdf = await upload(env, headers, PDF, name="a.pdf", declared="application/pdf")
        assert pdf.status_code == 415
        assert error_of(pdf)["details"]["sniffed"] == "application/pdf"
        binary = await upload(env, headers, b"\x00\x01\x02" * 10, declared=None)
        assert binary.status_code == 415
        assert error_of(binary)["details"]["sniffed"] is None
        assert stored_files(env) == []


async def test_undeclared_type_takes_the_sniffed_one(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    response = await upload(env, headers, PDF, name="doc", declared="application/octet-stream")
    assert response.status_code == 201
    assert response.json()["contentType"] == "application/pdf"


async def test_file_over_the_limit_is_413_and_nothing_kept(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__max_file_bytes=1000) as env:
        _, headers = await env.signed_in()
        streamed = await upload(env, headers, b"a" * 5000, name="a.txt", declared="text/plain")
        assert streamed.status_code == 413
        assert error_of(streamed)["details"] == {"maxFileBytes": 1000}
        # past the route's body limit: refused from Content-Length before reading
        huge = await upload(env, headers, b"a" * 100_000, name="a.txt", declared="text/plain")
        assert huge.status_code == 413
        error_of(huge)
        assert stored_files(env) == []


async def test_upload_limit_replaces_the_global_body_limit(keel_app_factory: Build) -> None:
    async with keel_app_factory(
        plugins=[], server__max_body_bytes=1000, uploads__max_file_bytes=60_000
    ) as env:
        _, headers = await env.signed_in()
        response = await upload(env, headers, image_bytes("BMP", (100, 100)), declared=None)
        assert response.status_code == 415  # read in full (BMP is not allowed), not a 413
        text = b"x" * 50_000
        ok = await upload(env, headers, text, name="big.txt", declared="text/plain")
        assert ok.status_code == 201, ok.text


async def test_multiple_files(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    files = [
        ("files", ("a.png", image_bytes(), "image/png")),
        ("files", ("b.pdf", PDF, "application/pdf")),
        ("files", ("c.txt", "héllo wörld\n".encode(), "text/plain")),
    ]
    response = await env.client.post("/api/uploads/multiple", files=files, headers=headers)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [i["contentType"] for i in items] == ["image/png", "application/pdf", "text/plain"]
    assert len(stored_files(env)) == 3


async def test_too_many_files_is_400_and_nothing_kept(keel_app_factory: Build) -> None:
    async with keel_app_factory(plugins=[], uploads__max_files=2) as env:
        _, headers = await env.signed_in()
        files = [("files", (f"{n}.png", image_bytes(), "image/png")) for n in range(3)]
        response = await env.client.post("/api/uploads/multiple", files=files, headers=headers)
        assert response.status_code == 400  # the document's maxItems
        assert error_of(response)["details"] == {"maxFiles": 2}
        assert stored_files(env) == []
        assert await env.keel.db.count(Upload) == 0


async def test_one_bad_file_fails_the_whole_request(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    files = [
        ("files", ("a.png", image_bytes(), "image/png")),
        ("files", ("b.png", b"not a png", "image/png")),
    ]
    response = await env.client.post("/api/uploads/multiple", files=files, headers=headers)
    assert response.status_code == 415
    assert stored_files(env) == []


async def test_malformed_requests_are_refused(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    as_json = await env.client.post("/api/uploads", json={"file": "x"}, headers=headers)
    assert as_json.status_code == 415
    wrong_field = await env.client.post(
        "/api/uploads", files={"other": ("a.png", image_bytes(), "image/png")}, headers=headers
    )
    assert wrong_field.status_code == 400
    assert error_of(wrong_field)["details"] == {"field": "file"}
    two = await env.client.post(
        "/api/uploads",
        files=[("file", ("a.png", image_bytes(), "image/png"))] * 2,
        headers=headers,
    )
    assert two.status_code == 400  # the document: exactly one file
    empty = await upload(env, headers, b"", name="e.txt", declared=None)
    assert empty.status_code == 400
    assert stored_files(env) == []


async def test_unsigned_uploads_are_401_and_spend_no_upload_budget(env: KeelTestApp) -> None:
    for path in ("/api/uploads", "/api/uploads/multiple"):
        for _ in range(UPLOADS_PER_MINUTE + 1):
            assert (await env.client.post(path)).status_code == 401
    _, headers = await env.signed_in()
    assert (await upload(env, headers, image_bytes())).status_code == 201
    for _ in range(UPLOADS_PER_MINUTE - 1):  # the budget is the user's, and both routes'
        assert (await env.client.post("/api/uploads/multiple", headers=headers)).status_code == 415
    refused = await upload(env, headers, image_bytes())
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert error_of(refused)["details"]["limit"] == UPLOADS_PER_MINUTE
    _, other = await env.signed_in()  # per user
    assert (await upload(env, other, image_bytes())).status_code == 201


async def test_authentication_required(env: KeelTestApp) -> None:
    response = await upload(env, {}, image_bytes())
    assert response.status_code == 401
    assert (await env.client.get("/api/uploads")).status_code == 401
    assert stored_files(env) == []


async def test_other_users_get_404_admins_see_and_owners_delete(env: KeelTestApp) -> None:
    _, owner = await env.signed_in()
    _, other = await env.signed_in()
    _, admin = await env.signed_in("admin")
    body = (await upload(env, owner, image_bytes())).json()
    path = f"/api/uploads/{body['id']}"
    for method in ("GET", "DELETE"):
        response = await env.client.request(method, path, headers=other)
        assert response.status_code == 404, method
        assert error_of(response)["code"] == "not_found"
    assert (await env.client.get(path, headers=admin)).status_code == 200
    assert (await env.client.delete(path, headers=owner)).status_code == 204
    assert (await env.client.get(path, headers=owner)).status_code == 404
    assert (await env.client.get(f"{path}/content")).status_code == 404
    assert stored_files(env) == []


async def test_admin_may_delete(env: KeelTestApp) -> None:
    _, owner = await env.signed_in()
    _, admin = await env.signed_in("admin")
    body = (await upload(env, owner, image_bytes())).json()
    response = await env.client.delete(f"/api/uploads/{body['id']}", headers=admin)
    assert response.status_code == 204


async def test_bad_ids_are_404(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    for bad in ('{"$ne":null}', "not-an-id", "0" * 23, str(ObjectId())):
        for suffix in ("", "/content", "/thumbnail"):
            response = await env.client.get(f"/api/uploads/{bad}{suffix}", headers=headers)
            assert response.status_code == 404, (bad, suffix)


async def test_list_own_uploads_newest_first(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    _, other = await env.signed_in()
    ids = [(await upload(env, headers, image_bytes())).json()["id"] for _ in range(3)]
    await upload(env, other, image_bytes())
    page = (await env.client.get("/api/uploads?limit=2", headers=headers)).json()
    assert page["total"] == 3
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    assert (await env.client.get("/api/uploads?limit=1000", headers=headers)).status_code == 400


async def test_path_traversal_in_the_name_has_no_effect(env: KeelTestApp) -> None:
    _, headers = await env.signed_in()
    root = Path(env.settings.uploads.dir)
    names = ["../../escape.png", "..\\..\\escape.png", "/etc/passwd", "a/../../b.png", ".."]
    for name in names:
        response = await upload(env, headers, image_bytes(), name=name)
        assert response.status_code == 201, (name, response.text)
        body = response.json()
        assert "/" not in body["filename"]
        assert "\\" not in body["filename"]
        assert ".." not in body["filename"]
    assert len(stored_files(env)) == len(names)
    assert all(Path(n).parent == Path() and n.endswith(".png") for n in stored_files(env))
    assert not (root.parent / "escape.png").exists()
    assert not (root.parent.parent / "escape.png").exists()


async def test_owner_and_created_index_exists(env: KeelTestApp) -> None:
    info = await env.keel.db.get_collection(Upload).index_information()
    keys = [spec["key"] for spec in info.values()]
    assert [("owner_id", 1), ("created_at", -1)] in keys
